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
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { inspectCertificate, verifyCertificateSignature } from '../codec/certificate-inspection.js';
import { formatDistinguishedName, validateNameText, type DistinguishedName } from '../codec/distinguished-name.js';
import { decodePem, encodePem } from '../codec/pem.js';
import { Clock } from '../shared/clock.js';
import { DomainError } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { AuthorityRepository, pendingCaRecord, type Authority, type AuthorityCertificate } from './authority.js';
import { AuthorityNames } from './authority-names.js';
import { certificateRecordOf } from './authority-certificate.js';

export const PLATFORM_KEY_NAME = 'platform-ca';
/** platform CA → tenant root CA → delegated intermediate → device (RFC 5280 §4.2.1.9). */
const PLATFORM_PATH_LENGTH = 2;
/** Absorbs clock skew between ccm and verifiers for CA certificates. */
const CA_BACKDATE_MS = 5 * 60 * 1000;
const WAIT_FOR_PEER_MS = 60_000;
const PEER_POLL_MS = 250;
/** How long a replica's recorded serial keeps the others from signing: far longer than a custody call takes. */
const SIGNING_LEASE_MS = 20_000;

/** Another replica holds the platform CA's signing lease, or activated it first. */
class SignedByPeer extends Error {}

@Injectable()
export class PlatformAuthority {
  private readonly logger = new Logger('PlatformAuthority');

  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly authorities: AuthorityRepository,
    private readonly names: AuthorityNames,
    private readonly ca: CertificateAuthority,
    private readonly clock: Clock,
  ) {}

  /** Brings the platform CA into being, or waits for a peer replica that is doing so. Safe to run again after a crash. */
  async ensure(): Promise<Authority> {
    // How long start-up waits is wall time, not the injected clock: a clock that tests hold still must not make start-up wait forever.
    const deadline = Date.now() + WAIT_FOR_PEER_MS;
    for (;;) {
      const existing = await this.authorities.findPlatform();
      if (existing?.status === 'active') return existing;
      if (!existing) {
        await this.claim();
        continue;
      }
      if (this.config.platformCa.mode === 'external') {
        await this.ca.createKey(existing);
        this.logger.warn('platform CA awaits its certificate: fetch GET /v1/platform-ca/csr, have your offline root sign it, then PUT /v1/platform-ca/certificate');
        return existing;
      }
      const certificate = await this.selfCertify(existing);
      if (certificate) this.logger.log(`platform CA created: ${certificate.subject}, serial ${certificate.serialNumber}`);
      if (Date.now() > deadline) throw new DomainError('platform-ca-not-ready', 'platform CA was not ready in time');
      // A peer replica holds the claim to sign: look again shortly.
      if (!certificate) await new Promise((resolve) => setTimeout(resolve, PEER_POLL_MS));
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
    return encodePem(await this.ca.signCertificationRequest(platform, this.config.platformCa.subject), 'CERTIFICATE REQUEST');
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
    if (!Buffer.from(inspected.subjectPublicKeyInfo).equals(Buffer.from(await this.ca.publicKeyOf(platform)))) {
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
    const claimed = await this.authorities.insertPlatformIfAbsent(
      pendingCaRecord({
        id: newId(),
        tenantId: null,
        kind: 'platform',
        custodyKeyName: PLATFORM_KEY_NAME,
        keyAlgorithm: this.config.platformCa.keyAlgorithm,
        subject: formatDistinguishedName(subject),
        serialNumber: null,
        notBefore: null,
        notAfter: null,
        issuerAuthorityId: null,
        createdAt: now,
      }),
    );
    if (!claimed) this.logger.log('another replica is creating the platform CA; waiting for it');
  }

  /**
   * Self-signs the platform CA through the CA role, recording the serial on
   * the pending row first. The serial doubles as a lease: while one replica's
   * is fresh, the others leave the signing to it; one that died holding it
   * loses it after SIGNING_LEASE_MS, its signature never having left it.
   * Null when a peer holds the lease or finished first.
   */
  private async selfCertify(platform: Authority): Promise<AuthorityCertificate | null> {
    const now = this.clock.now();
    try {
      const { recorded } = await this.ca.issue(
        {
          purpose: 'ca',
          issuer: 'self',
          subject: this.config.platformCa.subject,
          subjectKey: platform,
          notBefore: new Date(now.getTime() - CA_BACKDATE_MS),
          notAfter: new Date(now.getTime() + this.config.platformCa.validityDays * 86_400_000),
          profile: { kind: 'ca', pathLenConstraint: PLATFORM_PATH_LENGTH },
        },
        {
          pending: async (serialNumber) => {
            if (!(await this.authorities.leasePlatformSerial(platform.id, serialNumber, now, new Date(now.getTime() - SIGNING_LEASE_MS)))) throw new SignedByPeer();
          },
          issued: async (der) => {
            const certificate = certificateRecordOf(der, null);
            if (!(await this.authorities.activate(platform.id, certificate, this.clock.now()))) throw new SignedByPeer();
            return certificate;
          },
          // The row stays pending for the next attempt, which records a serial of its own once this one's lease lapses.
          failed: async () => undefined,
        },
      );
      return recorded;
    } catch (error) {
      if (error instanceof SignedByPeer) return null;
      throw error;
    }
  }
}
