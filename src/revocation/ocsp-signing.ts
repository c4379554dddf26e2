/**
 * Who signs a CA's OCSP responses. By default the CA itself (through the CA
 * role). With CCM_OCSP_RESPONDER=delegated, a responder certificate that
 * the CA issues (id-kp-OCSPSigning, id-pkix-ocsp-nocheck, 30 days) with its
 * own custody key, so the CA key signs once a month instead of on every
 * request; it is replaced when a third of its validity is left. The
 * responder is recorded (pending) before the CA role creates its key and
 * signs its certificate, as every certificate ccm signs is.
 */
import { Inject, Injectable } from '@nestjs/common';
import { IssuingCertificateCache, certificateRecordOf } from '../authorities/authority-certificate.js';
import { AuthorityRepository, pendingCaRecord, type Authority } from '../authorities/authority.js';
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { formatDistinguishedName, type DistinguishedName } from '../codec/distinguished-name.js';
import { decodePem } from '../codec/pem.js';
import type { Signer } from '../codec/signer.js';
import { Clock } from '../shared/clock.js';
import { newId } from '../shared/identifiers.js';

export interface OcspSigningIdentity {
  readonly signer: Signer;
  /** The key the responder ID names (RFC 6960 §4.2.2.3 byKey). */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** Certificates to send along: the delegated responder's, so clients can check the delegation. */
  readonly certificates: readonly Uint8Array[];
}

const RESPONDER_VALIDITY_MS = 30 * 86_400_000;

@Injectable()
export class OcspSigningIdentities {
  private readonly issuing = new Map<string, Promise<Authority>>();
  /** The responder in use per CA: read from the database once, not on every request. */
  private readonly current = new Map<string, Authority>();

  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly authorities: AuthorityRepository,
    private readonly issuers: IssuingCertificateCache,
    private readonly ca: CertificateAuthority,
    private readonly clock: Clock,
  ) {}

  async of(ca: Authority): Promise<OcspSigningIdentity> {
    // A revoked CA issues nothing new, responder certificates included; it answers with its own key.
    if (this.config.revocation.ocspResponder === 'ca' || ca.status !== 'active') {
      return { signer: this.ca.ocspResponseSigner(ca), subjectPublicKeyInfo: this.issuers.of(ca).subjectPublicKeyInfo, certificates: [] };
    }
    let responder = this.current.get(ca.id) ?? (await this.authorities.findLatestResponder(ca.id));
    if (!responder || this.dueForReplacement(responder)) responder = await this.issueOnce(ca);
    this.current.set(ca.id, responder);
    return {
      signer: this.ca.ocspResponseSigner(responder),
      subjectPublicKeyInfo: this.issuers.of(responder).subjectPublicKeyInfo,
      certificates: decodePem(responder.certificatePem!, ['CERTIFICATE']),
    };
  }

  private dueForReplacement(responder: Authority): boolean {
    return responder.notAfter === null || responder.notAfter.getTime() - this.clock.now().getTime() < RESPONDER_VALIDITY_MS / 3;
  }

  /** One issuance per CA at a time in this process; two replicas may each issue one, and either is valid. */
  private issueOnce(ca: Authority): Promise<Authority> {
    let pending = this.issuing.get(ca.id);
    if (!pending) {
      pending = this.issue(ca).finally(() => this.issuing.delete(ca.id));
      this.issuing.set(ca.id, pending);
    }
    return pending;
  }

  private async issue(ca: Authority): Promise<Authority> {
    const issuer = this.issuers.of(ca);
    const now = this.clock.now();
    const id = newId(now.getTime());
    const keyName = `ocsp-${id}`;
    // Each responder a name of its own (one CA has a new responder every few days): no two certificates ccm signs for a CA share a subject.
    const subject: DistinguishedName = [
      { attribute: 'OU', value: ca.id },
      { attribute: 'CN', value: `OCSP responder ${id}` },
    ];
    const notBefore = new Date(Math.max(now.getTime() - this.config.clientCertificates.backdateSeconds * 1000, issuer.notBefore.getTime()));
    const notAfter = new Date(Math.min(now.getTime() + RESPONDER_VALIDITY_MS, issuer.notAfter.getTime()));
    const pending = (serialNumber: string): Authority =>
      pendingCaRecord({
        id,
        tenantId: ca.tenantId,
        kind: 'ocsp-responder',
        custodyKeyName: keyName,
        keyAlgorithm: ca.keyAlgorithm,
        subject: formatDistinguishedName(subject),
        serialNumber,
        notBefore,
        notAfter,
        issuerAuthorityId: ca.id,
        createdAt: now,
      });
    const { recorded } = await this.ca.issue(
      {
        purpose: 'ocsp-responder',
        issuer,
        subject,
        subjectKey: { custodyKeyName: keyName, keyAlgorithm: ca.keyAlgorithm },
        notBefore,
        notAfter,
        profile: { kind: 'ocsp-responder' },
      },
      {
        pending: (serialNumber) => this.authorities.insertPending(pending(serialNumber)),
        issued: async (der) => {
          const certificate = certificateRecordOf(der, null);
          const activatedAt = this.clock.now();
          if (!(await this.authorities.activate(id, certificate, activatedAt))) throw new Error(`OCSP responder ${id} left pending before its certificate was recorded`);
          return { ...pending(certificate.serialNumber), ...certificate, status: 'active' as const, updatedAt: activatedAt };
        },
        failed: () => this.authorities.markFailed(id, this.clock.now()),
      },
    );
    return recorded;
  }
}
