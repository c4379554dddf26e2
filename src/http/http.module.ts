/** The HTTP edge: controllers only; they see use cases, never repositories or custody. */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { CertificatesModule } from '../certificates/certificates.module.js';
import { TenantsModule } from '../tenants/tenants.module.js';
import { CertificatesController } from './certificates.controller.js';
import { PlatformCaController } from './platform-ca.controller.js';
import { TenantsController } from './tenants.controller.js';

@Module({
  imports: [AuthoritiesModule, TenantsModule, CertificatesModule],
  controllers: [PlatformCaController, TenantsController, CertificatesController],
})
export class HttpModule {}
