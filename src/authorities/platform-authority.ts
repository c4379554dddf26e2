/**
 * The platform CA: created on first start (key in custody, self-signed), or,
 * for operators with an offline root, a key whose CSR the operator gets signed
 * and imports. Replicas starting together create exactly one: the row is
 * claimed through a unique index before any key is made, and the certificate
 * is put in place by a conditional update that only one process can win.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { KeyCustody } from '../custody/key-custody.js';
import { encodeCertificate, encodeCertificationRequest } from '../codec/certificate-encoder.js';
import { inspectCertificate, verifyCertificateSignature } from '../codec/certificate-inspection.js';
import { encodeDistinguishedName, formatDistinguishedName, validateNameText, type DistinguishedName } from '../codec/distinguished-name.js';
import { decodePem, encodePem } from '../codec/pem.js';
import { newSerialNumber } from '../codec/serial-number.js';
import { Clock } from '../shared/clock.js';
import { DomainError } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { AuthorityRepository, type Authority, type AuthorityCertificate } from './authority.js';
import { AuthorityNames } from './authority-names.js';
import { custodySigner } from './custody-signer.js';
import { certificateRecordOf } from './authority-certificate.js';

export const PLATFORM_KEY_NAME = 'platform-ca';
/** platform CA → tenant root CA → delegated intermediate → device (RFC 5280 §4.2.1.9). */
const PLATFORM_PATH_LENGTH = 2;
/** Absorbs clock skew between ccm and verifiers for CA certificates. */
const CA_BACKDATE_MS = 5 * 60 * 1000;
const WAIT_FOR_PEER_MS = 60_000;

@Injectable()
export class PlatformAuthority {
  private readonly logger = new Logger('PlatformAuthority');

  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly authorities: AuthorityRepository,
    private readonly names: AuthorityNames,
    private readonly custody: KeyCustody,
    private readonly clock: Clock,
  ) {}

  /** Brings the platform CA into being, or waits for a peer replica that is doing so. Safe to run again after a crash. */
  async ensure(): Promise<Authority> {
    const deadline = Date.now() + WAIT_FOR_PEER_MS;
    for (;;) {
      const existing = await this.authorities.findPlatform();
      if (existing?.status === 'active') return existing;
      if (!existing) {
        await this.claim();
        continue;
      }
      const key = await this.custody.createKey(existing.custodyKeyName, existing.keyAlgorithm);
      if (this.config.platformCa.mode === 'external') {
        this.logger.warn('platform CA awaits its certificate: fetch GET /v1/platform-ca/csr, have your offline root sign it, then PUT /v1/platform-ca/certificate');
        return existing;
      }
      const certificate = await this.selfSign(existing, key.publicKeyDer);
      if (await this.authorities.activate(existing.id, certificate, this.clock.now())) {
        this.logger.log(`platform CA created: ${certificate.subject}, serial ${certificate.serialNumber}`);
      }
      if (Date.now() > deadline) throw new DomainError('platform-ca-not-ready', 'platform CA was not ready in time');
    }
  }

  /** The active platform CA; 503-class error while it awaits an operator's import. */
  async active(): Promise<Authority> {
    const platform = await this.authorities.findPlatform();
    if (platform?.status !== 'active') {
      throw new DomainError('platform-ca-not-ready', 'the platform CA has no certificate yet; import one through PUT /v1/platform-ca/certificate');
    }
    return platform;
  }

  async current(): Promise<Authority> {
    const platform = await this.authorities.findPlatform();
    if (!platform) throw new DomainError('platform-ca-not-ready', 'the platform CA has not been created yet');
    return platform;
  }

  /** PKCS#10 request for the platform key, for an offline root to sign. */
  async certificationRequestPem(): Promise<string> {
    const platform = await this.current();
    const key = await this.custody.getKey(platform.custodyKeyName);
    const subject: DistinguishedName = this.config.platformCa.subject;
    const der = await encodeCertificationRequest(subject, key.publicKeyDer, custodySigner(this.custody, platform.custodyKeyName, platform.keyAlgorithm));
    return encodePem(der, 'CERTIFICATE REQUEST');
  }

  /**
   * Installs a platform certificate signed elsewhere. It must certify the
   * platform key and be a CA. Once tenants exist, only a certificate with the
   * same subject is accepted, so the tenant CAs it issued keep chaining.
   */
  async importCertificate(certificatePem: string, issuerChainPem: string | null): Promise<Authority> {
    const platform = await this.current();
    const [der] = decodePem(certificatePem, ['CERTIFICATE']);
    if (!der || decodePem(certificatePem, ['CERTIFICATE']).length !== 1) {
      throw new DomainError('invalid-request', 'certificatePem must hold exactly one certificate');
    }
    const inspected = inspectCertificate(der);
    const key = await this.custody.getKey(platform.custodyKeyName);
    if (!Buffer.from(inspected.subjectPublicKeyInfo).equals(Buffer.from(key.publicKeyDer))) {
      throw new DomainError('certificate-key-mismatch', 'the certificate does not certify the platform CA key');
    }
    if (!inspected.isCa || !inspected.keyUsage.includes('keyCertSign')) {
      throw new DomainError('not-a-ca', 'the certificate is not a CA certificate with keyCertSign');
    }
    // The offline root may have signed another subject than the CSR's; it becomes every tenant root's issuer name, so it meets the text rule of names.
    validateNameText(inspected.subject, 'the platform certificate\'s', { field: 'certificatePem' });
    const now = this.clock.now();
    if (inspected.notBefore > now || inspected.notAfter <= now) {
      throw new DomainError('invalid-request', 'the certificate is not valid now');
    }
    const chain = issuerChainPem ? decodePem(issuerChainPem, ['CERTIFICATE']) : [];
    await this.names.assertAboveThePlatformAvailable(chain);
    if (chain.length > 0) {
      const issuer = inspectCertificate(chain[0]!);
      if (!verifyCertificateSignature(der, issuer.subjectPublicKeyInfo)) {
        throw new DomainError('invalid-request', 'the first certificate of issuerChainPem did not sign the platform certificate');
      }
    }
    const record = certificateRecordOf(der, chain.length > 0 ? chain.map((c: Uint8Array) => encodePem(c, 'CERTIFICATE')).join('') : null);
    if (platform.status === 'pending') {
      if (!(await this.authorities.activate(platform.id, record, now))) throw new DomainError('conflict', 'the platform CA was activated concurrently');
    } else {
      if (record.subject !== platform.subject) {
        throw new DomainError('conflict', `the platform CA is active as "${platform.subject}"; a replacement certificate must have the same subject`);
      }
      await this.authorities.replaceCertificate(platform.id, record, now);
    }
    return (await this.authorities.findPlatform())!;
  }

  private async claim(): Promise<void> {
    const now = this.clock.now();
    const subject: DistinguishedName = this.config.platformCa.subject;
    const claimed = await this.authorities.insertPlatformIfAbsent({
      id: newId(),
      tenantId: null,
      revokedAt: null,
      revocationReason: null,
      revocationVersion: 0,
      identityRules: null,
      registration: null,
      name: null,
      kind: 'platform',
      status: 'pending',
      custodyKeyName: PLATFORM_KEY_NAME,
      keyAlgorithm: this.config.platformCa.keyAlgorithm,
      subject: formatDistinguishedName(subject),
      serialNumber: null,
      certificatePem: null,
      issuerChainPem: null,
      fingerprintSha256: null,
      notBefore: null,
      notAfter: null,
      issuerAuthorityId: null,
      createdAt: now,
      updatedAt: now,
    });
    if (!claimed) this.logger.log('another replica is creating the platform CA; waiting for it');
  }

  private async selfSign(platform: Authority, publicKeyDer: Uint8Array): Promise<AuthorityCertificate> {
    const now = this.clock.now();
    const subject: DistinguishedName = this.config.platformCa.subject;
    const der = await encodeCertificate(
      {
        serialNumber: newSerialNumber(),
        issuerName: encodeDistinguishedName(subject),
        issuerKeyIdentifier: null,
        subject,
        subjectPublicKeyInfo: publicKeyDer,
        notBefore: new Date(now.getTime() - CA_BACKDATE_MS),
        notAfter: new Date(now.getTime() + this.config.platformCa.validityDays * 86_400_000),
        profile: { kind: 'ca', pathLenConstraint: PLATFORM_PATH_LENGTH },
      },
      custodySigner(this.custody, platform.custodyKeyName, platform.keyAlgorithm),
    );
    return certificateRecordOf(der, null);
  }
}
