/** Certificate life cycle use cases: state changes, renewal, CA revocation, device authentication. */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { CertificatesModule } from '../certificates/certificates.module.js';
import { RevocationModule } from '../revocation/revocation.module.js';
import { AuthenticateDevice } from './authenticate-device.js';
import { ChangeCertificateState } from './change-certificate-state.js';
import { RenewClientCertificate } from './renew-client-certificate.js';
import { RevokeTenantAuthority } from './revoke-tenant-authority.js';

@Module({
  imports: [AuthoritiesModule, CertificatesModule, RevocationModule],
  providers: [ChangeCertificateState, RevokeTenantAuthority, AuthenticateDevice, RenewClientCertificate],
  exports: [ChangeCertificateState, RevokeTenantAuthority, AuthenticateDevice, RenewClientCertificate],
})
export class LifeCycleModule {}
