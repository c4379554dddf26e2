/**
 * Certificate life cycle use cases: state changes, renewal, CA revocation,
 * tenant root rollover and the retirement of the roots it replaced.
 * CRL refreshes go through the RevocationListRefresher port, which the
 * revocation module implements and the composition root makes reachable
 * (app.module.ts), so that this module does not import revocation's.
 */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { CertificatesModule } from '../certificates/certificates.module.js';
import { ChangeCertificateState } from './change-certificate-state.js';
import { RenewClientCertificate } from './renew-client-certificate.js';
import { RetireTenantRoots } from './retire-tenant-roots.js';
import { RevokeAuthority } from './revoke-authority.js';
import { ActivateTenantRoot, RollOverTenantRoot } from './roll-over-tenant-root.js';

@Module({
  imports: [AuthoritiesModule, CertificatesModule],
  providers: [ChangeCertificateState, RevokeAuthority, RenewClientCertificate, RollOverTenantRoot, ActivateTenantRoot, RetireTenantRoots],
  exports: [ChangeCertificateState, RevokeAuthority, RenewClientCertificate, RollOverTenantRoot, ActivateTenantRoot, RetireTenantRoots],
})
export class LifeCycleModule {}
