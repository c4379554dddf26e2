/**
 * The broker's hot path: "who is this device, and may it in?" A broker sends
 * the client certificate it saw (with or without its chain), or only issuer
 * and serial number when it verified the chain during the TLS handshake.
 * ccm trusts its own record of the CA, never a chain the caller supplies:
 * the leaf's signature is checked against the stored CA certificate.
 * First use moves inactive to active (one certificate.activated event).
 */
import { Injectable } from '@nestjs/common';
import { IssuingCertificateCache } from '../authorities/authority-certificate.js';
import { AuthorityRepository, type Authority } from '../authorities/authority.js';
import { canonicalSerialNumber } from '../certificates/certificate-queries.js';
import { CertificateRepository, type ClientCertificate } from '../certificates/client-certificate.js';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { inspectCertificate, verifyCertificateSignature } from '../issuance/certificate-inspection.js';
import { formatDistinguishedName } from '../issuance/distinguished-name.js';
import { decodePem } from '../issuance/pem.js';
import { Clock } from '../shared/clock.js';
import { AuthenticationRefused, InvalidRequest } from '../shared/errors.js';
import { applyTransition } from './change-certificate-state.js';
import { LifeCycleStore } from './life-cycle-store.js';

export type AuthenticationCommand = { readonly certificatePem: string } | { readonly issuer: string; readonly serialNumber: string };

export interface AuthenticatedDevice {
  readonly certificate: ClientCertificate;
  /** The device identity: the subject CN. */
  readonly deviceId: string;
}

/** last_used_at is a hint for operators, not an audit trail: write it at most this often per certificate. */
const LAST_USE_RESOLUTION_MS = 60_000;

@Injectable()
export class AuthenticateDevice {
  constructor(
    private readonly authorities: AuthorityRepository,
    private readonly issuers: IssuingCertificateCache,
    private readonly certificates: CertificateRepository,
    private readonly store: LifeCycleStore,
    private readonly wakeup: OutboxWakeup,
    private readonly clock: Clock,
  ) {}

  async execute(command: AuthenticationCommand): Promise<AuthenticatedDevice> {
    const certificate = await this.identify(command);
    const now = this.clock.now();
    let current = certificate;
    if (certificate.state === 'inactive') {
      const activated = await applyTransition(this.store, this.authorities, certificate, { kind: 'activate' }, now);
      if (activated) this.wakeup.notify();
      // Losing the race means a concurrent first use won; re-read what it left (it may also have been suspended since).
      current = activated ?? (await this.recheck(certificate));
    }
    if (current.lastUsedAt === null || now.getTime() - current.lastUsedAt.getTime() >= LAST_USE_RESOLUTION_MS) {
      await this.store.recordUse(current.id, now, new Date(now.getTime() - LAST_USE_RESOLUTION_MS));
    }
    return { certificate: current, deviceId: current.commonName };
  }

  /**
   * The same checks without recording a use or activating: for callers that
   * only need to know the certificate is ccm's and in good standing (EST
   * re-enrollment), and must change nothing when they then refuse.
   */
  async identify(command: AuthenticationCommand): Promise<ClientCertificate> {
    const { authority, serialNumber, fingerprintSha256 } = 'certificatePem' in command ? await this.fromCertificate(command.certificatePem) : await this.fromIssuerAndSerial(command.issuer, command.serialNumber);
    const certificate = await this.certificates.findBySerialNumber(serialNumber);
    if (!certificate || certificate.authorityId !== authority.id || (fingerprintSha256 !== null && certificate.fingerprintSha256 !== fingerprintSha256)) {
      throw new AuthenticationRefused('certificate-unknown', 'ccm has no record of this certificate');
    }
    const now = this.clock.now();
    if (certificate.state === 'revoked') throw new AuthenticationRefused('certificate-revoked', 'the certificate is revoked', { reason: certificate.revocationReason });
    if (certificate.state === 'suspended') throw new AuthenticationRefused('certificate-suspended', 'the certificate is suspended');
    if (now < certificate.notBefore) throw new AuthenticationRefused('certificate-not-yet-valid', 'the certificate is not valid yet', { notBefore: certificate.notBefore.toISOString() });
    if (now > certificate.notAfter) throw new AuthenticationRefused('certificate-expired', 'the certificate has expired', { notAfter: certificate.notAfter.toISOString() });
    return certificate;
  }

  private async recheck(certificate: ClientCertificate): Promise<ClientCertificate> {
    const now = await this.certificates.findById(certificate.tenantId, certificate.id);
    if (!now || now.state === 'revoked') throw new AuthenticationRefused('certificate-revoked', 'the certificate is revoked');
    if (now.state === 'suspended') throw new AuthenticationRefused('certificate-suspended', 'the certificate is suspended');
    return now;
  }

  private async fromCertificate(pem: string): Promise<{ authority: Authority; serialNumber: string; fingerprintSha256: string }> {
    // The first block is the device's; any chain after it is ignored, since ccm holds the CA certificates itself.
    const [leafDer] = decodePem(pem, ['CERTIFICATE']);
    const leaf = inspectCertificate(leafDer!);
    const authority = await this.issuerNamed(formatDistinguishedName(leaf.issuer), (candidate) => verifyCertificateSignature(leafDer!, this.issuers.of(candidate).subjectPublicKeyInfo));
    return { authority, serialNumber: leaf.serialNumberHex, fingerprintSha256: leaf.sha256Fingerprint };
  }

  private async fromIssuerAndSerial(issuer: string, serialNumber: string): Promise<{ authority: Authority; serialNumber: string; fingerprintSha256: null }> {
    if (!/^(0x)?[0-9a-fA-F:]{1,64}$/.test(serialNumber)) throw new InvalidRequest('serialNumber must be hexadecimal', { field: 'serialNumber' });
    const authority = await this.issuerNamed(issuer, () => true);
    return { authority, serialNumber: canonicalSerialNumber(serialNumber.replace(/:/g, '')), fingerprintSha256: null };
  }

  /** The tenant CA with this subject whose key `signed` confirms; refused when none is ccm's. */
  private async issuerNamed(subject: string, signed: (candidate: Authority) => boolean): Promise<Authority> {
    const candidates = (await this.authorities.findTenantRootsBySubject(subject)).filter((a) => a.certificatePem !== null);
    if (candidates.length === 0) throw new AuthenticationRefused('untrusted-issuer', `no CA of ccm is named "${subject}"`);
    const authority = candidates.find(signed);
    if (!authority) throw new AuthenticationRefused('certificate-signature-invalid', 'the certificate was not signed by the CA it names');
    return authority;
  }
}
