/** Device self-enrollment: enrollment credentials and EST. */
import { Module } from '@nestjs/common';
import { CertificatesModule } from '../certificates/certificates.module.js';
import { DeviceAuthenticationModule } from '../device-authentication/device-authentication.module.js';
import { LifeCycleModule } from '../lifecycle/life-cycle.module.js';
import { TenantsModule } from '../tenants/tenants.module.js';
import { EnrollmentCredentials } from './enrollment-credentials.js';
import { EstEnrollment } from './est-enrollment.js';

@Module({ imports: [CertificatesModule, LifeCycleModule, DeviceAuthenticationModule, TenantsModule], providers: [EnrollmentCredentials, EstEnrollment], exports: [EnrollmentCredentials, EstEnrollment] })
export class EnrollmentModule {}
