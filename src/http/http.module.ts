/** The HTTP edge: controllers only; they see use cases, never repositories or custody. */
import { Module } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { AccessModule } from '../access/access.module.js';
import { AuditModule } from '../audit/audit.module.js';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { CertificatesModule } from '../certificates/certificates.module.js';
import { DeviceAuthenticationModule } from '../device-authentication/device-authentication.module.js';
import { EnrollmentModule } from '../enrollment/enrollment.module.js';
import { HealthModule } from '../health/health.module.js';
import { LifeCycleModule } from '../lifecycle/life-cycle.module.js';
import { RevocationModule } from '../revocation/revocation.module.js';
import { TenantsModule } from '../tenants/tenants.module.js';
import { TrustModule } from '../trust/trust.module.js';
import { AccessGuard } from './access.guard.js';
import { ApiCredentialsController } from './api-credentials.controller.js';
import { AuditLogController } from './audit-log.controller.js';
import { AuditInterceptor, HttpAuditRecorder } from './audit.interceptor.js';
import { AuthenticationsController } from './authentications.controller.js';
import { AuthoritiesController } from './authorities.controller.js';
import { CertificatesController } from './certificates.controller.js';
import { EnrollmentCredentialsController } from './enrollment-credentials.controller.js';
import { EstController } from './est.controller.js';
import { EventsController } from './events.controller.js';
import { HealthController } from './health.controller.js';
import { IdentityRulesController } from './identity-rules.controller.js';
import { PlatformCaController } from './platform-ca.controller.js';
import { RevocationController } from './revocation.controller.js';
import { TenantsController } from './tenants.controller.js';

@Module({
  imports: [AccessModule, AuditModule, AuthoritiesModule, TenantsModule, CertificatesModule, LifeCycleModule, DeviceAuthenticationModule, RevocationModule, EnrollmentModule, TrustModule, HealthModule],
  providers: [HttpAuditRecorder, { provide: APP_GUARD, useClass: AccessGuard }, { provide: APP_INTERCEPTOR, useClass: AuditInterceptor }],
  controllers: [ApiCredentialsController, PlatformCaController, TenantsController, CertificatesController, AuthenticationsController, EventsController, RevocationController, EnrollmentCredentialsController, EstController, IdentityRulesController, AuditLogController, AuthoritiesController, HealthController],
})
export class HttpModule {}
