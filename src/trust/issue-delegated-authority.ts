/**
 * Delegated intermediate CAs (as withthegrid's developer intermediates): the
 * tenant sends a CSR, its root CA certifies the key as a CA that may sign
 * device certificates only (pathLenConstraint 0), within the root's validity
 * and optional DNS name constraints. The key stays with the tenant; the CA
 * role records the certificate before signing it, as it does client
 * certificates (a failure leaves a record marked failed).
 */
import { Inject, Injectable } from '@nestjs/common';
import { IssuingCertificateCache, certificateRecordOf } from '../authorities/authority-certificate.js';
import { AuthorityNames } from '../authorities/authority-names.js';
import { AuthorityRepository, type Authority, type DeviceRegistration } from '../authorities/authority.js';
import { checkSubjectEncoding } from '../authorities/identity-rules.js';
import { chainPemOf } from '../authorities/certificate-chain.js';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { parseCertificationRequest } from '../codec/certification-request.js';
import { formatDistinguishedName, validateDistinguishedName } from '../codec/distinguished-name.js';
import { encodePem } from '../codec/pem.js';
import { ocspUrlOf } from '../shared/revocation-urls.js';
import { Clock } from '../shared/clock.js';
import { DomainError, InvalidRequest, NotFound } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { TenantRepository } from '../tenants/tenant.js';
import { checkedDnsDomains } from './dns-name-constraints.js';
import { checkedAuthorityName } from './tenant-authority-queries.js';
import { TrustedAuthorityRepository } from './trusted-authority.js';
import { checkedRegistration } from './upload-external-authority.js';

export interface IssueDelegatedAuthorityCommand {
  readonly tenantId: string;
  readonly name: string;
  /** PKCS#10 in PEM, signed by the key the tenant keeps. */
  readonly csrPem: string;
  readonly ttlSeconds?: number;
  readonly permittedDnsDomains?: readonly string[];
  readonly excludedDnsDomains?: readonly string[];
  readonly registration?: DeviceRegistration;
}

export interface IssuedDelegatedAuthority {
  readonly authority: Authority;
  readonly certificatePem: string;
  /** The issuers above it: the tenant root CA, the platform CA, and any offline root above that. */
  readonly chainPem: string;
}

/** A year unless asked otherwise, and never past the tenant root (a chain is only as valid as its shortest link). */
const DEFAULT_TTL_SECONDS = 365 * 86_400;
const MINIMUM_TTL_SECONDS = 3600;
const MAXIMUM_TTL_SECONDS = 20 * 365 * 86_400;

@Injectable()
export class IssueDelegatedAuthority {
  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly tenants: TenantRepository,
    private readonly authorities: AuthorityRepository,
    private readonly trusted: TrustedAuthorityRepository,
    private readonly names: AuthorityNames,
    private readonly issuers: IssuingCertificateCache,
    private readonly ca: CertificateAuthority,
    private readonly clock: Clock,
  ) {}

  async execute(command: IssueDelegatedAuthorityCommand): Promise<IssuedDelegatedAuthority> {
    if (!(await this.tenants.findById(command.tenantId))) throw new NotFound('tenant');
    const name = checkedAuthorityName(command.name);
    const registration = checkedRegistration(command.registration ?? 'self');
    const permittedDnsDomains = checkedDnsDomains(command.permittedDnsDomains, 'permittedDnsDomains');
    const excludedDnsDomains = checkedDnsDomains(command.excludedDnsDomains, 'excludedDnsDomains');
    const ttlSeconds = command.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < MINIMUM_TTL_SECONDS || ttlSeconds > MAXIMUM_TTL_SECONDS) {
      throw new DomainError('ttl-out-of-range', `ttlSeconds must be an integer from ${MINIMUM_TTL_SECONDS} to ${MAXIMUM_TTL_SECONDS}`, { field: 'ttlSeconds', minimum: MINIMUM_TTL_SECONDS, maximum: MAXIMUM_TTL_SECONDS });
    }
    const request = parseCertificationRequest(command.csrPem);
    // RFC 5280 §4.1.2.6: a CA's subject is what its certificates name as issuer, so it must be there and encodable.
    if (request.subject.length === 0) throw new InvalidRequest('the CSR of a CA needs a subject', { field: 'csrPem' });
    validateDistinguishedName(request.subject);
    // As for a device CSR: a BMPString or T61String subject re-encoded as UTF8String would be another name than the tenant's CA software knows itself by.
    checkSubjectEncoding(request.decodedSubject);
    const subject = formatDistinguishedName(request.subject);

    const root = await this.authorities.findActiveTenantRoot(command.tenantId);
    if (!root) throw new DomainError('conflict', 'the tenant has no active root CA (it was revoked)');
    const issuer = this.issuers.of(root);
    if (Buffer.from(issuer.subjectPublicKeyInfo).equals(request.subjectPublicKeyInfo)) throw new InvalidRequest('the CSR carries the tenant root CA\'s own key', { field: 'csrPem' });
    await this.names.assertAvailable({ subject: request.subject, kind: 'intermediate', tenantId: command.tenantId, subjectPublicKeyInfo: request.subjectPublicKeyInfo, chosenByTenant: true });

    const now = this.clock.now();
    const notBefore = new Date(Math.max(now.getTime() - this.config.clientCertificates.backdateSeconds * 1000, issuer.notBefore.getTime()));
    const notAfter = new Date(Math.min(now.getTime() + ttlSeconds * 1000, issuer.notAfter.getTime()));
    if (notAfter.getTime() - now.getTime() < MINIMUM_TTL_SECONDS * 1000) throw new DomainError('conflict', 'the tenant root CA expires too soon to certify an intermediate');
    const authorityId = newId();
    const pending = (serialNumber: string): Authority => ({
      id: authorityId,
      tenantId: command.tenantId,
      kind: 'intermediate',
      status: 'pending',
      // The key is the tenant's: nothing is in custody, and nothing may ever ask custody to sign for this CA.
      custodyKeyName: '',
      keyAlgorithm: request.keyAlgorithm,
      subject,
      serialNumber,
      certificatePem: null,
      issuerChainPem: null,
      fingerprintSha256: null,
      notBefore,
      notAfter,
      issuerAuthorityId: root.id,
      revokedAt: null,
      revocationReason: null,
      revocationVersion: 0,
      identityRules: null,
      registration,
      name,
      createdAt: now,
      updatedAt: now,
    });

    const { der, recorded: authority } = await this.ca.issue(
      {
        purpose: 'ca',
        issuer,
        subject: request.subject,
        subjectKey: { publicKeyInfo: request.subjectPublicKeyInfo },
        notBefore,
        notAfter,
        profile: { kind: 'delegated-ca', permittedDnsDomains, excludedDnsDomains },
        // Its status is the root's to tell: the root's responder answers for the intermediates it certified.
        ocspUrls: [ocspUrlOf(this.config.http.publicUrl, root.id)],
      },
      {
        pending: (serialNumber) => this.trusted.insert(pending(serialNumber)),
        issued: async (issuedDer) => {
          const record = certificateRecordOf(issuedDer, null);
          const activatedAt = this.clock.now();
          if (!(await this.authorities.activate(authorityId, record, activatedAt))) throw new Error(`delegated CA ${authorityId} left pending before its certificate was recorded`);
          return { ...pending(record.serialNumber), ...record, status: 'active' as const, updatedAt: activatedAt };
        },
        failed: () => this.authorities.markFailed(authorityId, this.clock.now()),
      },
    );
    return {
      authority,
      certificatePem: encodePem(der, 'CERTIFICATE'),
      chainPem: await chainPemOf(root, (id) => this.authorities.findById(id)),
    };
  }
}
