/**
 * EST (RFC 7030) for devices that enroll themselves: the CA certificates,
 * a first certificate authorised by an enrollment credential, and re-enrollment
 * authorised by the device's current, still valid certificate (presented in
 * the TLS handshake), which keeps the device identity.
 */
import { Injectable } from '@nestjs/common';
import type { ClientCertificate } from '../certificates/client-certificate.js';
import { IssueClientCertificate } from '../certificates/issue-client-certificate.js';
import { AuthenticateDevice } from '../device-authentication/authenticate-device.js';
import { RenewClientCertificate } from '../lifecycle/renew-client-certificate.js';
import { decodePem, encodePem } from '../codec/pem.js';
import { NotFound, Unauthorized } from '../shared/errors.js';
import { TenantQueries } from '../tenants/tenant-queries.js';
import { EnrollmentCredentials } from './enrollment-credentials.js';

export interface EstCertificates {
  /** DER certificates for a certs-only PKCS#7: the issued certificate, or the CA certificates. */
  readonly certificates: readonly Uint8Array[];
}

/** An enrollment's answer and, for the audit trail, the certificate it issued. */
export interface EstIssuance extends EstCertificates {
  readonly issued: ClientCertificate;
}

/** A re-enrollment's answer: also the certificate it renewed (the one presented). */
export interface EstReissuance extends EstIssuance {
  readonly renewed: ClientCertificate;
}

@Injectable()
export class EstEnrollment {
  constructor(
    private readonly tenants: TenantQueries,
    private readonly credentials: EnrollmentCredentials,
    private readonly issue: IssueClientCertificate,
    private readonly renew: RenewClientCertificate,
    private readonly authenticate: AuthenticateDevice,
  ) {}

  async caCertificates(tenantId: string): Promise<EstCertificates> {
    return { certificates: decodePem(await this.tenants.trustBundlePem(tenantId), ['CERTIFICATE']) };
  }

  async simpleEnroll(tenantId: string, credentialId: string, secret: string, csrDer: Uint8Array): Promise<EstIssuance> {
    await this.credentials.check(tenantId, credentialId, secret);
    const issued = await this.issue.execute({ tenantId, csr: encodePem(csrDer, 'CERTIFICATE REQUEST'), via: 'est' });
    return { certificates: decodePem(issued.certificatePem, ['CERTIFICATE']), issued: issued.certificate };
  }

  /** `clientCertificateDer`: what the device presented in the TLS handshake, null when it presented none. */
  async simpleReenroll(tenantId: string, clientCertificateDer: Uint8Array | null, csrDer: Uint8Array): Promise<EstReissuance> {
    if (!clientCertificateDer) throw new Unauthorized('re-enrollment needs the current certificate in the TLS handshake', 'Basic');
    // The same checks a broker's question gets (issued by ccm, valid, not suspended or revoked), but nothing recorded: a refused re-enrollment changes nothing.
    const current = await this.authenticate.identify({ certificatePem: encodePem(clientCertificateDer, 'CERTIFICATE') });
    if (current.tenantId !== tenantId) throw new NotFound('tenant');
    const renewed = await this.renew.execute({ tenantId, certificateId: current.id, csr: encodePem(csrDer, 'CERTIFICATE REQUEST'), via: 'est' });
    return { certificates: decodePem(renewed.issued.certificatePem, ['CERTIFICATE']), issued: renewed.issued.certificate, renewed: renewed.previous };
  }
}
