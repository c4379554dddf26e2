/**
 * Renewal: a new certificate (new serial) for the same device identity,
 * with the device's same key (a CSR of it) or a new one. The certificate it
 * renews stays valid until it expires, or is revoked as superseded when the
 * caller asks, after the new one exists.
 */
import { Injectable } from '@nestjs/common';
import { CertificateRepository, type ClientCertificate } from '../certificates/client-certificate.js';
import { IssueClientCertificate, type IssuedClientCertificate } from '../certificates/issue-client-certificate.js';
import { DomainError, NotFound } from '../shared/errors.js';
import { IllegalTransition } from './certificate-transition.js';
import { ChangeCertificateState } from './change-certificate-state.js';

export interface RenewClientCertificateCommand {
  readonly tenantId: string;
  readonly certificateId: string;
  readonly csr?: string;
  readonly keyAlgorithm?: string;
  readonly ttlSeconds?: number;
  readonly revokePrevious?: boolean;
  /** EST re-enrollment renews too; the metrics count it as EST. */
  readonly via?: 'est';
}

export interface RenewedClientCertificate {
  readonly issued: IssuedClientCertificate;
  /** The renewed certificate as it is now: revoked (superseded) when asked, else untouched. */
  readonly previous: ClientCertificate;
  /** The CSR carried the previous certificate's key. */
  readonly sameKey: boolean;
}

@Injectable()
export class RenewClientCertificate {
  constructor(
    private readonly certificates: CertificateRepository,
    private readonly issue: IssueClientCertificate,
    private readonly lifeCycle: ChangeCertificateState,
  ) {}

  async execute(command: RenewClientCertificateCommand): Promise<RenewedClientCertificate> {
    const previous = await this.certificates.findById(command.tenantId, command.certificateId);
    if (!previous) throw new NotFound('certificate');
    // Its CA is the tenant's: ccm re-issuing the identity under the tenant root would route around that CA's device binding.
    if (previous.keySource === 'external') throw new DomainError('conflict', 'the certificate was issued by an external or delegated CA; that CA renews it', { keySource: previous.keySource });
    // A suspension or revocation must not be sidestepped by asking for a fresh certificate.
    if (previous.state !== 'inactive' && previous.state !== 'active') {
      throw new DomainError('illegal-transition', `cannot renew a certificate that is ${previous.state}`, { state: previous.state, action: 'renew' });
    }
    const issued = await this.issue.execute({
      tenantId: command.tenantId,
      ...(command.csr !== undefined ? { csr: command.csr } : { commonName: previous.commonName }),
      ...(command.keyAlgorithm !== undefined ? { keyAlgorithm: command.keyAlgorithm } : {}),
      ...(command.ttlSeconds !== undefined ? { ttlSeconds: command.ttlSeconds } : {}),
      expectedSubject: previous.subject,
      via: command.via ?? 'renew',
    });
    return { issued, previous: command.revokePrevious ? await this.supersede(previous) : previous, sameKey: issued.certificate.publicKeySha256 === previous.publicKeySha256 };
  }

  /** After issuance nothing may fail the request (the new key would be lost): a concurrent revocation already did the job. */
  private async supersede(previous: ClientCertificate): Promise<ClientCertificate> {
    try {
      return await this.lifeCycle.revoke(previous.tenantId, previous.id, 'superseded');
    } catch (error) {
      if (!(error instanceof IllegalTransition)) throw error;
      return (await this.certificates.findById(previous.tenantId, previous.id)) ?? previous;
    }
  }
}
