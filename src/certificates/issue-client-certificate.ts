/**
 * Issues a device's client certificate, from a CSR (the key never leaves the
 * device) or with a key ccm generates and hands back once. This is policy:
 * subject, TTL, algorithm, validity, extensions. The CA role records, lints
 * and signs the order (src/ca/certificate-authority.ts), so no certificate
 * ever exists that ccm does not know about and cannot revoke.
 *
 * Every certificate names its record in its one subject alternative name,
 * urn:uuid:<record id> (unless CCM_CLIENT_CERTIFICATE_ID_URI=off): brokers
 * such as nats-server map a certificate to a user by URI SAN with one exact
 * lookup, where matching a subject DN means comparing it with every user; and
 * two certificates of one subject (a renewal, a second key) stay apart.
 * Nothing a CSR asks for in its extension requests is copied.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { certificateUrn } from '@ccm/event-consumer/contract';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { IssuingCertificateCache } from '../authorities/authority-certificate.js';
import { AuthorityRepository, type Authority } from '../authorities/authority.js';
import { CSR_SUBJECT_ATTRIBUTES, attributesNamedBy, checkSubjectEncoding, checkSubjectPolicy } from '../authorities/identity-rules.js';
import { DEVICE_KEY_ALGORITHMS, type DeviceKeyAlgorithm, type KeyAlgorithm } from '../codec/key-algorithm.js';
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { parseCertificationRequest } from '../codec/certification-request.js';
import { generateDeviceKey } from '../codec/device-key.js';
import { commonNameOf, formatDistinguishedName, validateDistinguishedName, type DistinguishedName } from '../codec/distinguished-name.js';
import { encodePem } from '../codec/pem.js';
import { subjectTextProblem } from '../codec/subject-text.js';
import { IssuanceMetrics, secondsSince, type IssuanceMethod } from '../metrics/metrics.js';
import { crlShardOf, crlUrlOf, ocspUrlOf } from '../shared/revocation-urls.js';
import { Clock } from '../shared/clock.js';
import { DomainError, InvalidRequest, NotFound } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { TenantRepository, type Tenant } from '../tenants/tenant.js';
import { CertificateRepository, type ClientCertificate } from './client-certificate.js';
import { chainPemOf } from '../authorities/certificate-chain.js';

export interface IssueClientCertificateCommand {
  readonly tenantId: string;
  readonly commonName?: string;
  readonly ttlSeconds?: number;
  /** Server-side key generation with this algorithm (ecdsa-p256 when neither this nor `csr` is given). */
  readonly keyAlgorithm?: string;
  /** PKCS#10 request in PEM; the subject comes from it. */
  readonly csr?: string;
  /** Renewal: the subject (RFC 4514, as ccm prints it) the new certificate must carry, that of the certificate it renews. */
  readonly expectedSubject?: string;
  /** How the request came, when not as a plain issuance (by CSR or with a generated key): for the metrics. */
  readonly via?: 'renew' | 'est';
}

export interface IssuedClientCertificate {
  readonly certificate: ClientCertificate;
  readonly certificatePem: string;
  /** Issuer chain up to the platform CA (and an operator's offline root when there is one). */
  readonly chainPem: string;
  /** Only when ccm generated the key: shown in this one response, recorded nowhere. */
  readonly privateKeyPem: string | null;
}

/** RFC 5280 ub-common-name, in characters. */
const MAXIMUM_COMMON_NAME_LENGTH = 64;

/** Chains kept in memory: one per tenant root, a few KiB each. */
const CACHED_CHAINS = 1024;

@Injectable()
export class IssueClientCertificate {
  private readonly chains = new Map<string, string>();

  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly tenants: TenantRepository,
    private readonly authorities: AuthorityRepository,
    private readonly issuers: IssuingCertificateCache,
    private readonly certificates: CertificateRepository,
    private readonly ca: CertificateAuthority,
    private readonly clock: Clock,
    private readonly metrics: IssuanceMetrics,
  ) {}

  async execute(command: IssueClientCertificateCommand): Promise<IssuedClientCertificate> {
    const startedAt = performance.now();
    let issued: IssuedClientCertificate;
    try {
      issued = await this.issue(command);
    } catch (error) {
      // Kinds are a closed set, so the label stays small; anything else is one value.
      this.metrics.failed(error instanceof DomainError ? error.kind : 'error');
      throw error;
    }
    const method: IssuanceMethod = command.via ?? (command.csr !== undefined ? 'csr' : 'keygen');
    this.metrics.issued(issued.certificate.tenantId, issued.certificate.keyAlgorithm, method, secondsSince(startedAt));
    return issued;
  }

  private async issue(command: IssueClientCertificateCommand): Promise<IssuedClientCertificate> {
    // Both lookups at once: each is a database round trip, and neither depends on the other.
    const rootLookup = this.authorities.findActiveTenantRoot(command.tenantId);
    rootLookup.catch(() => undefined); // awaited below, unless the request is refused first
    const tenant = await this.tenants.findById(command.tenantId);
    if (!tenant) throw new NotFound('tenant');
    if (command.csr !== undefined && command.keyAlgorithm !== undefined) {
      throw new InvalidRequest('give either csr or keyAlgorithm, not both: with a CSR the key is the device\'s own', { field: 'keyAlgorithm' });
    }
    const ttlSeconds = this.ttlWithinPolicy(tenant, command.ttlSeconds);

    let subject: DistinguishedName;
    let subjectPublicKeyInfo: Uint8Array;
    let keyAlgorithm: KeyAlgorithm;
    let privateKeyPem: string | null = null;
    if (command.csr !== undefined) {
      const request = parseCertificationRequest(command.csr);
      checkSubjectEncoding(request.decodedSubject);
      subject = this.subjectFromRequest(request.subject, command.commonName);
      subjectPublicKeyInfo = request.subjectPublicKeyInfo;
      keyAlgorithm = request.keyAlgorithm;
    } else {
      const algorithm = command.keyAlgorithm ?? 'ecdsa-p256';
      if (!(DEVICE_KEY_ALGORITHMS as readonly string[]).includes(algorithm)) {
        throw new DomainError('unsupported-algorithm', `keyAlgorithm must be one of ${DEVICE_KEY_ALGORITHMS.join(', ')}`, { field: 'keyAlgorithm' });
      }
      subject = [{ attribute: 'CN', value: this.commonName(command.commonName) }];
      const key = await generateDeviceKey(algorithm as DeviceKeyAlgorithm);
      subjectPublicKeyInfo = key.subjectPublicKeyInfo;
      keyAlgorithm = algorithm as DeviceKeyAlgorithm;
      privateKeyPem = key.privateKeyPem;
    }
    if (command.expectedSubject !== undefined && formatDistinguishedName(subject) !== command.expectedSubject) {
      throw new DomainError('policy-violation', `a renewal keeps the device identity: the subject must be ${command.expectedSubject}`, { field: command.csr !== undefined ? 'csr' : 'commonName', expected: command.expectedSubject });
    }

    const authority = await rootLookup;
    if (!authority) throw new DomainError('conflict', 'the tenant has no active root CA (it was revoked)');
    // Policy before the record: a refused subject leaves no row behind.
    if (command.csr === undefined) {
      // A server-generated key gets a subject of CN alone; other attributes the CA's rules name can only come in a CSR.
      const beyondCommonName = attributesNamedBy(authority.identityRules).find((attribute) => attribute !== 'CN');
      if (beyondCommonName !== undefined) {
        throw new DomainError('policy-violation', `the tenant's identity rules require a subject ${beyondCommonName}, which only a CSR can carry: send a CSR`, { attribute: beyondCommonName });
      }
    }
    validateDistinguishedName(subject);
    checkSubjectPolicy(subject, authority.identityRules, tenant.id);
    const issuer = this.issuers.of(authority);
    const now = this.clock.now();
    // Backdated for verifiers with a slow clock, but never before the issuer's own validity (the lint holds a certificate inside it).
    const notBefore = new Date(Math.max(now.getTime() - this.config.clientCertificates.backdateSeconds * 1000, issuer.notBefore.getTime()));
    // Never outlive the issuer: a chain is only as valid as its shortest link.
    const notAfter = new Date(Math.min(now.getTime() + ttlSeconds * 1000, issuer.notAfter.getTime()));
    const crlShard = crlShardOf(notAfter, this.config.revocation.crlShardDays);
    const id = newId();
    const subjectAltNames = this.config.clientCertificates.idUri ? { uri: [certificateUrn(id)] } : {};
    const pending = (serialNumber: string): ClientCertificate => ({
      id,
      tenantId: tenant.id,
      authorityId: authority.id,
      serialNumber,
      state: 'pending',
      suspendedAt: null,
      crlShard,
      fingerprintSha256: null,
      fingerprintSha1: null,
      subject: formatDistinguishedName(subject),
      commonName: commonNameOf(subject) ?? '',
      subjectAltNames,
      notBefore,
      notAfter,
      keyAlgorithm,
      publicKeySha256: createHash('sha256').update(subjectPublicKeyInfo).digest('hex'),
      keySource: command.csr !== undefined ? 'csr' : 'server',
      issuedAt: null,
      firstUsedAt: null,
      lastUsedAt: null,
      revokedAt: null,
      revocationReason: null,
      createdAt: now,
      updatedAt: now,
    });

    let record: ClientCertificate | undefined;
    const { der, recorded: certificate } = await this.ca.issue(
      {
        purpose: 'client',
        issuer,
        subject,
        subjectKey: { publicKeyInfo: subjectPublicKeyInfo },
        notBefore,
        notAfter,
        profile: { kind: 'client' },
        subjectAltNames,
        crlDistributionPoints: [crlUrlOf(this.config.http.publicUrl, authority.id, crlShard)],
        ocspUrls: [ocspUrlOf(this.config.http.publicUrl, authority.id)],
      },
      {
        pending: (serialNumber) => this.certificates.insertPending((record = pending(serialNumber))),
        issued: async (issuedDer) => {
          const fingerprints = { sha256: createHash('sha256').update(issuedDer).digest('hex'), sha1: createHash('sha1').update(issuedDer).digest('hex') };
          const issuedAt = this.clock.now();
          await this.certificates.markIssued(id, fingerprints, issuedAt);
          return { ...record!, state: 'inactive' as const, fingerprintSha256: fingerprints.sha256, fingerprintSha1: fingerprints.sha1, issuedAt, updatedAt: issuedAt };
        },
        failed: () => this.certificates.markFailed(id, this.clock.now()),
      },
    );

    return {
      certificate,
      certificatePem: encodePem(der, 'CERTIFICATE'),
      chainPem: await this.chainOf(authority),
      privateKeyPem,
    };
  }

  /** CA certificates never change once issued, so each chain is read once per authority (a bounded number of them). */
  private async chainOf(authority: Authority): Promise<string> {
    const cached = this.chains.get(authority.id);
    if (cached !== undefined) return cached;
    const chain = await chainPemOf(authority, (id) => this.authorities.findById(id));
    if (this.chains.size >= CACHED_CHAINS) this.chains.delete(this.chains.keys().next().value!);
    this.chains.set(authority.id, chain);
    return chain;
  }

  private ttlWithinPolicy(tenant: Tenant, requested: number | undefined): number {
    const cap = Math.min(tenant.maxTtlSeconds ?? Infinity, this.config.clientCertificates.maxTtlSeconds);
    const ttl = requested ?? Math.min(this.config.clientCertificates.defaultTtlSeconds, cap);
    if (!Number.isInteger(ttl) || ttl < 60 || ttl > cap) {
      throw new DomainError('ttl-out-of-range', `ttlSeconds must be an integer from 60 to ${cap}`, { field: 'ttlSeconds', maximum: cap });
    }
    return ttl;
  }

  private commonName(requested: string | undefined): string {
    if (requested === undefined) return randomUUID();
    const characters = [...requested].length;
    if (characters === 0 || characters > MAXIMUM_COMMON_NAME_LENGTH) {
      throw new InvalidRequest(`commonName must be 1 to ${MAXIMUM_COMMON_NAME_LENGTH} characters`, { field: 'commonName' });
    }
    const problem = subjectTextProblem(requested);
    if (problem !== null) throw new InvalidRequest(`commonName ${problem}`, { field: 'commonName' });
    return requested;
  }

  /** The CSR's subject, within policy; a commonName in the request body must agree with the CSR's CN. */
  private subjectFromRequest(requested: DistinguishedName, commonName: string | undefined): DistinguishedName {
    for (const { attribute } of requested) {
      if (!(CSR_SUBJECT_ATTRIBUTES as readonly string[]).includes(attribute)) {
        throw new DomainError('policy-violation', `the CSR subject attribute ${attribute} is not allowed`, { attribute });
      }
    }
    const csrCommonName = commonNameOf(requested);
    if (csrCommonName !== undefined && csrCommonName !== null) {
      if (commonName !== undefined && commonName !== csrCommonName) {
        throw new DomainError('policy-violation', 'commonName differs from the CN of the CSR', { attribute: 'CN' });
      }
      this.commonName(csrCommonName);
      return requested;
    }
    return [...requested, { attribute: 'CN', value: this.commonName(commonName) }];
  }
}
