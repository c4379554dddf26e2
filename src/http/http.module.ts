/** The HTTP edge: controllers only; they see use cases, never repositories or custody. */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { CertificatesModule } from '../certificates/certificates.module.js';
import { EnrollmentModule } from '../enrollment/enrollment.module.js';
import { LifeCycleModule } from '../lifecycle/life-cycle.module.js';
import { RevocationModule } from '../revocation/revocation.module.js';
import { TenantsModule } from '../tenants/tenants.module.js';
import { AuthenticationsController } from './authentications.controller.js';
import { CertificatesController } from './certificates.controller.js';
import { EnrollmentCredentialsController } from './enrollment-credentials.controller.js';
import { EstController } from './est.controller.js';
import { EventsController } from './events.controller.js';
import { PlatformCaController } from './platform-ca.controller.js';
import { RevocationController } from './revocation.controller.js';
import { TenantsController } from './tenants.controller.js';

@Module({
  imports: [AuthoritiesModule, TenantsModule, CertificatesModule, LifeCycleModule, RevocationModule, EnrollmentModule],
  controllers: [PlatformCaController, TenantsController, CertificatesController, AuthenticationsController, EventsController, RevocationController, EnrollmentCredentialsController, EstController],
})
export class HttpModule {}
