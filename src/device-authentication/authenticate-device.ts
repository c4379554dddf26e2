/**
 * The broker's hot path: "who is this device, and may it in?" A broker sends
 * the client certificate it saw (with or without its chain), or only issuer
 * and serial number when it verified the chain during the TLS handshake.
 * ccm trusts its own record of the CA, never a chain the caller supplies:
 * the leaf's signature is checked against the stored CA certificate, which
 * is a tenant root CA, a delegated intermediate (ccm's own record, certified
 * by the tenant root) or an external CA the tenant uploaded. The device
 * identity and type come from the CA's identity rules (the CN by default).
 *
 * ccm's own certificates: first use moves inactive to active (one
 * certificate.activated event). Certificates of external and delegated CAs:
 * the first sight registers the device (self-registration) or finds it
 * (pre-registration), records the certificate as active and binds it to the
 * device, with one certificate.activated event; the identity then accepts
 * that certificate only. With issuer and serial alone, such a certificate is
 * accepted only once bound: ccm cannot check a signature it has not seen.
 * A CA removed (revoked) authenticates nothing: its certificates are refused
 * as certificate-revoked, bound or not.
 *
 * A first sight also holds the certificate to what a tenant's CA may vouch
 * for (device-certificate-policy.ts: key strength, RFC 5280 serial): ccm's
 * own certificates were issued under that policy, and a certificate bound
 * once is judged no more, so the bar is met once, before anything is
 * recorded.
 *
 * Per call: one lookup reads the CAs of the issuer name together with what
 * each recorded under the serial (TrustedAuthorityRepository), so the state
 * that decides is the database's at that moment, never a cached copy: a
 * suspension counts at the next authentication, on every replica. What is
 * kept between calls never changes for a given CA certificate: its parsed
 * key (IssuingCertificateCache, per certificate fingerprint). A presented
 * certificate ccm has a record of byte for byte is read only as far as
 * finding that record needs; its signature is checked every time.
 */
import { Inject, Injectable } from '@nestjs/common';
import { IssuingCertificateCache } from '../authorities/authority-certificate.js';
import { AuthorityRepository, type Authority } from '../authorities/authority.js';
import { mapDeviceIdentity, type DeviceIdentity } from '../authorities/identity-rules.js';
import { canonicalSerialNumber } from '../certificates/certificate-queries.js';
import { CertificateRepository, type ClientCertificate } from '../certificates/client-certificate.js';
import type { Configuration, ExternalDeviceKeyPolicy } from '../config/configuration.js';
import { CONFIGURATION } from '../config/configuration.module.js';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { inspectCertificate, readCertificateIdentity, verifyCertificateSignature, type CertificateIdentity, type InspectedCertificate } from '../codec/certificate-inspection.js';
import { DerFramingError } from '../codec/der.js';
import { commonNameOf, formatDistinguishedName, nameTextProblem, parseFormattedDistinguishedName, type DistinguishedName } from '../codec/distinguished-name.js';
import { comparableName, parseRfc4514Name } from '../codec/name-comparison.js';
import { decodePem } from '../codec/pem.js';
import { keyAlgorithmOf, readPublicKeyInfo } from '../codec/public-key.js';
import { AuthenticationMetrics, secondsSince, type AuthenticationDecision } from '../metrics/metrics.js';
import { Clock } from '../shared/clock.js';
import { AuthenticationRefused, DomainError, InvalidRequest, type AuthenticationRefusal, type RefusedCertificate } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { DeviceRepository } from '../trust/device.js';
import { dnsNameConstraintsOf, dnsNameOutsideConstraints, type DnsNameConstraints } from '../trust/dns-name-constraints.js';
import { isTenantHeldAuthority, TrustedAuthorityRepository, type IssuerCandidate } from '../trust/trusted-authority.js';
import { transitionOf } from '../lifecycle/certificate-transition.js';
import { applyTransition } from '../lifecycle/change-certificate-state.js';
import { certificateEvent } from '../lifecycle/life-cycle-events.js';
import { LifeCycleStore } from '../lifecycle/life-cycle-store.js';
import { deviceKeyViolation, deviceSerialViolation } from './device-certificate-policy.js';

export type AuthenticationCommand =
  | { readonly certificatePem: string }
  | {
      readonly issuer: string;
      readonly serialNumber: string;
      /** The leaf's authorityKeyIdentifier (the CA's subjectKeyIdentifier) in hex: narrows the issuer to the CA of that key. */
      readonly authorityKeyIdentifier?: string;
    };

export interface AuthenticatedDevice {
  readonly certificate: ClientCertificate;
  /** The CA that issued the certificate. */
  readonly authority: Authority;
  /** The device identity under the CA's identity rules (the subject CN by default). */
  readonly deviceId: string;
  /** The device type under the CA's identity rules; null when the rules name none. */
  readonly deviceType: string | null;
}

interface PresentedLeaf {
  readonly der: Uint8Array;
  readonly identity: CertificateIdentity;
  /** The whole reading; null when ccm has a record of this very certificate (same fingerprint), read in full when recorded. */
  readonly inspected: InspectedCertificate | null;
}

/** What the caller presented, resolved to the CA of ccm's that issued it. */
interface Presented {
  readonly authority: Authority;
  readonly serialNumber: string;
  /** The certificate itself; null on the cheap path (issuer and serial only). */
  readonly leaf: PresentedLeaf | null;
  /** ccm's record of that serial number under that CA, read with it; null when there is none. */
  readonly record: ClientCertificate | null;
}

/** last_used_at is a hint for operators, not an audit trail: write it at most this often per certificate. */
const LAST_USE_RESOLUTION_MS = 60_000;
const ID_KP_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
/** The certificates table's bounds on what a foreign certificate puts in them. */
const MAXIMUM_IDENTITY_LENGTH = 255;
const MAXIMUM_DEVICE_TYPE_LENGTH = 128;
const MAXIMUM_COMMON_NAME_LENGTH = 255;
const MAXIMUM_SERIAL_HEX_LENGTH = 40;

@Injectable()
export class AuthenticateDevice {
  /** Name constraints of delegated intermediates, read from their certificates once per certificate. */
  private readonly constraints = new Map<string, DnsNameConstraints | null>();
  private readonly keyPolicy: ExternalDeviceKeyPolicy;

  constructor(
    private readonly authorities: AuthorityRepository,
    private readonly trusted: TrustedAuthorityRepository,
    private readonly issuers: IssuingCertificateCache,
    private readonly certificates: CertificateRepository,
    private readonly devices: DeviceRepository,
    private readonly store: LifeCycleStore,
    private readonly wakeup: OutboxWakeup,
    private readonly clock: Clock,
    private readonly metrics: AuthenticationMetrics,
    @Inject(CONFIGURATION) config: Configuration,
  ) {
    this.keyPolicy = config.externalDeviceKeys;
  }

  async execute(command: AuthenticationCommand): Promise<AuthenticatedDevice> {
    const startedAt = performance.now();
    let decision: AuthenticationDecision = 'error';
    try {
      const authenticated = await this.decide(command);
      decision = 'accepted';
      return authenticated;
    } catch (error) {
      decision = decisionOf(error);
      throw error;
    } finally {
      this.metrics.decided(decision, secondsSince(startedAt));
    }
  }

  private async decide(command: AuthenticationCommand): Promise<AuthenticatedDevice> {
    const presented = await this.resolve(command);
    const now = this.clock.now();
    const recorded = this.recorded(presented);
    if (!recorded) {
      // Only a certificate of a tenant-held CA, seen whole, can be new to ccm and still be good.
      if (!isTenantHeldAuthority(presented.authority) || presented.leaf === null) throw this.unknown(presented);
      return this.firstSight(presented.authority, presented.leaf, now);
    }
    this.checkStanding(recorded, presented.authority, now);
    // Before any change: a certificate whose subject names no device under the rules is refused with nothing recorded.
    const identity = await this.identityOf(recorded, presented);
    let current = recorded;
    if (recorded.state === 'inactive') {
      const activated = await applyTransition(this.store, this.authorities, recorded, { kind: 'activate' }, now);
      if (activated) this.wakeup.notify();
      // Losing the race means a concurrent first use won; re-read what it left (it may also have been suspended since).
      current = activated ?? (await this.recheck(recorded));
    }
    await this.recordUse(current, now);
    return { certificate: current, authority: presented.authority, deviceId: identity.identity, deviceType: identity.deviceType };
  }

  /**
   * The same checks without recording a use, activating or binding: for
   * callers that only need to know the certificate is one ccm has a record
   * of and in good standing (EST re-enrollment), and must change nothing
   * when they then refuse. A certificate of an external or delegated CA not
   * bound yet is unknown here.
   */
  async identify(command: AuthenticationCommand): Promise<ClientCertificate> {
    const presented = await this.resolve(command);
    const recorded = this.recorded(presented);
    if (!recorded) throw this.unknown(presented);
    this.checkStanding(recorded, presented.authority, this.clock.now());
    return recorded;
  }

  private resolve(command: AuthenticationCommand): Promise<Presented> {
    return 'certificatePem' in command ? this.fromCertificate(command.certificatePem) : this.fromIssuerAndSerial(command.issuer, command.serialNumber, command.authorityKeyIdentifier);
  }

  private async fromCertificate(pem: string): Promise<Presented> {
    // The first block is the device's; any chain after it is ignored, since ccm holds the CA certificates itself.
    const [leafDer] = decodePem(pem, ['CERTIFICATE']);
    const identity = readCertificateIdentity(leafDer!);
    // The CAs of that name (as RFC 5280 §7.1 compares names, as verifiers do) and what each recorded under the serial, in
    // one round trip: the record is only read, never cached. The signature then decides among them.
    const candidates = await this.trusted.findByNameWithRecord(comparableName(identity.issuer), identity.serialNumberHex);
    // A device reconnecting presents a certificate ccm has a record of byte for byte: its extensions were read when it was
    // recorded. Anything else is read in full first, so a malformed certificate is a 400 before any refusal, as always.
    const known = (candidate: IssuerCandidate) => candidate.certificate?.fingerprintSha256 === identity.sha256Fingerprint;
    let inspected = candidates.some(known) ? null : inspectCertificate(leafDer!);
    if (candidates.length === 0) throw new AuthenticationRefused('untrusted-issuer', `no CA of ccm is named "${formatDistinguishedName(identity.issuer)}"`);
    // Active CAs come first: a CA removed and uploaded again is found as the one in force.
    const signer = this.signerOf(candidates, leafDer!);
    if (!signer) throw new AuthenticationRefused('certificate-signature-invalid', 'the certificate was not signed by the CA it names');
    // The record may be under another CA of that name and key (one removed, then uploaded again): then this one sees it first.
    if (inspected === null && !known(signer)) inspected = inspectCertificate(leafDer!);
    return { authority: signer.authority, serialNumber: identity.serialNumberHex, leaf: { der: leafDer!, identity, inspected }, record: signer.certificate };
  }

  /**
   * The candidate whose key verifies the certificate. A signature algorithm
   * ccm does not verify (SHA-1 or MD5 based, among others) is the device's
   * refusal, not a bad request to ccm: nothing says any CA signed it.
   */
  private signerOf(candidates: readonly IssuerCandidate[], leafDer: Uint8Array): IssuerCandidate | undefined {
    try {
      return candidates.find((candidate) => verifyCertificateSignature(leafDer, this.issuers.of(candidate.authority).verificationKey));
    } catch (error) {
      if (error instanceof DomainError && error.kind === 'unsupported-algorithm') {
        throw new AuthenticationRefused('certificate-signature-unsupported', `the certificate's signature cannot be accepted: ${error.message}`, error.details);
      }
      throw error;
    }
  }

  /**
   * No signature to decide by: the name (and the key identifier, when
   * given) must point at one CA. Names are unique (AuthorityNames), but CAs
   * recorded before that rule may share one; then the answer is a refusal,
   * never a guess, however the records fall.
   */
  private async fromIssuerAndSerial(issuer: string, serialNumber: string, authorityKeyIdentifier: string | undefined): Promise<Presented> {
    if (!/^(0x)?[0-9a-fA-F:]{1,64}$/.test(serialNumber)) throw new InvalidRequest('serialNumber must be hexadecimal', { field: 'serialNumber' });
    const serial = canonicalSerialNumber(serialNumber.replace(/:/g, ''));
    const keyIdentifier = authorityKeyIdentifier === undefined ? null : keyIdentifierOf(authorityKeyIdentifier);
    let name: DistinguishedName;
    try {
      name = parseRfc4514Name(issuer);
    } catch (error) {
      if (error instanceof DomainError) throw new AuthenticationRefused('untrusted-issuer', `no CA of ccm is named "${issuer}"`);
      throw error;
    }
    let candidates = await this.trusted.findByNameWithRecord(comparableName(name), serial);
    if (keyIdentifier !== null) candidates = candidates.filter((candidate) => Buffer.from(this.issuers.of(candidate.authority).subjectKeyIdentifier).equals(keyIdentifier));
    if (candidates.length === 0) throw new AuthenticationRefused('untrusted-issuer', keyIdentifier === null ? `no CA of ccm is named "${issuer}"` : `no CA of ccm is named "${issuer}" with this key identifier`);
    // One security domain is one tenant's one key: a CA removed and recorded again by its tenant is still one.
    const domains = new Set(candidates.map(({ authority }) => `${authority.tenantId}:${Buffer.from(this.issuers.of(authority).subjectPublicKeyInfo).toString('hex')}`));
    if (domains.size > 1) {
      throw new AuthenticationRefused('issuer-ambiguous', 'more than one CA of ccm has this name; send the certificate (certificatePem), or the authorityKeyIdentifier of the CA that issued it', { candidates: domains.size });
    }
    // Without the certificate, only the record tells which CA of that name issued it. External CAs choose their own
    // serials, so two of them with one name may both have it: then the certificate itself is needed.
    const holders = candidates.filter((candidate) => candidate.certificate !== null);
    if (holders.length > 1) {
      throw new AuthenticationRefused('certificate-unknown', 'several CAs of this name have a certificate with this serial number; send the certificate (certificatePem) instead');
    }
    const { authority, certificate } = holders[0] ?? candidates[0]!;
    return { authority, serialNumber: serial, leaf: null, record: certificate };
  }

  /** ccm's record of the presented certificate under its CA, or null; a record of another certificate with the same serial is refused. */
  private recorded(presented: Presented): ClientCertificate | null {
    const certificate = presented.record;
    if (certificate && presented.leaf !== null && certificate.fingerprintSha256 !== presented.leaf.identity.sha256Fingerprint) {
      throw new AuthenticationRefused('certificate-unknown', 'ccm has a record of another certificate with this issuer and serial number', {}, refusedUnder(presented.authority, presented.serialNumber));
    }
    return certificate;
  }

  private unknown(presented: Presented): AuthenticationRefused {
    // A removed external or delegated CA refuses whatever it signed as revoked, bound or not (a tenant root's unknown serials stay unknown).
    if (isTenantHeldAuthority(presented.authority) && presented.authority.status === 'revoked') return this.authorityRevoked(presented.authority, presented.serialNumber);
    // The issuer is ccm's, so the refusal belongs to its tenant's audit trail even though the certificate is unknown.
    return new AuthenticationRefused('certificate-unknown', 'ccm has no record of this certificate', {}, refusedUnder(presented.authority, presented.serialNumber));
  }

  private authorityRevoked(authority: Authority, serialNumber: string): AuthenticationRefused {
    return new AuthenticationRefused('certificate-revoked', 'the CA that issued the certificate was revoked (or removed)', { reason: authority.revocationReason, authorityId: authority.id }, refusedUnder(authority, serialNumber));
  }

  private checkStanding(certificate: ClientCertificate, authority: Authority, now: Date): void {
    const refused = (refusal: AuthenticationRefusal, message: string, details: Record<string, unknown> = {}) => new AuthenticationRefused(refusal, message, details, refusedCertificate(certificate));
    if (certificate.state === 'revoked') throw refused('certificate-revoked', 'the certificate is revoked', { reason: certificate.revocationReason });
    if (certificate.state === 'suspended') throw refused('certificate-suspended', 'the certificate is suspended');
    if (now < certificate.notBefore) throw refused('certificate-not-yet-valid', 'the certificate is not valid yet', { notBefore: certificate.notBefore.toISOString() });
    if (now > certificate.notAfter) throw refused('certificate-expired', 'the certificate has expired', { notAfter: certificate.notAfter.toISOString() });
    // A removal revokes what was bound in the same transaction; this catches a record that raced with it.
    if (authority.status === 'revoked') throw this.authorityRevoked(authority, certificate.serialNumber);
    if (isTenantHeldAuthority(authority)) this.checkIssuerValidity(authority, certificate.serialNumber, now);
  }

  /** ccm's own CAs never issue past their notAfter; a tenant's CA may have, and a chain is only as valid as its shortest link. */
  private checkIssuerValidity(authority: Authority, serialNumber: string, now: Date): void {
    if ((authority.notBefore !== null && now < authority.notBefore) || (authority.notAfter !== null && now > authority.notAfter)) {
      throw new AuthenticationRefused('untrusted-issuer', 'the CA certificate that issued this certificate is not valid now', { notBefore: authority.notBefore?.toISOString() ?? null, notAfter: authority.notAfter?.toISOString() ?? null }, refusedUnder(authority, serialNumber));
    }
  }

  private async recheck(certificate: ClientCertificate): Promise<ClientCertificate> {
    const now = await this.certificates.findById(certificate.tenantId, certificate.id);
    if (!now || now.state === 'revoked') throw new AuthenticationRefused('certificate-revoked', 'the certificate is revoked', {}, refusedCertificate(certificate));
    if (now.state === 'suspended') throw new AuthenticationRefused('certificate-suspended', 'the certificate is suspended', {}, refusedCertificate(certificate));
    return now;
  }

  private async recordUse(certificate: ClientCertificate, now: Date): Promise<void> {
    if (certificate.lastUsedAt === null || now.getTime() - certificate.lastUsedAt.getTime() >= LAST_USE_RESOLUTION_MS) {
      await this.store.recordUse(certificate.id, now, new Date(now.getTime() - LAST_USE_RESOLUTION_MS));
    }
  }

  /**
   * ccm's own certificates: the CA's identity rules read the subject (the
   * certificate's, or the recorded one on the cheap path). Bound ones: the
   * device they are bound to, as it was registered.
   */
  private async identityOf(certificate: ClientCertificate, presented: Presented): Promise<DeviceIdentity> {
    if (isTenantHeldAuthority(presented.authority)) {
      const device = await this.devices.findByCertificate(certificate.id);
      if (!device) throw new AuthenticationRefused('device-not-registered', 'the device this certificate was bound to is no longer registered', {}, refusedCertificate(certificate));
      return { identity: device.identity, deviceType: device.deviceType };
    }
    const subject = presented.leaf?.identity.subject ?? parseFormattedDistinguishedName(certificate.subject);
    return withRefusedCertificate(() => mapDeviceIdentity(subject, presented.authority.identityRules), refusedCertificate(certificate));
  }

  private async firstSight(authority: Authority, leaf: PresentedLeaf, now: Date): Promise<AuthenticatedDevice> {
    // Never null here (a certificate new to ccm was read in full), but reading it again costs nothing on this path.
    const inspected = leaf.inspected ?? inspectCertificate(leaf.der);
    const refusal = refusedUnder(authority, inspected.serialNumberHex);
    if (authority.status !== 'active') throw this.authorityRevoked(authority, inspected.serialNumberHex);
    this.checkIssuerValidity(authority, inspected.serialNumberHex, now);
    if (now < inspected.notBefore) throw new AuthenticationRefused('certificate-not-yet-valid', 'the certificate is not valid yet', { notBefore: inspected.notBefore.toISOString() }, refusal);
    if (now > inspected.notAfter) throw new AuthenticationRefused('certificate-expired', 'the certificate has expired', { notAfter: inspected.notAfter.toISOString() }, refusal);
    // What a TLS broker checks of the leaf, checked here too, so that ccm records no certificate a broker would refuse.
    if (inspected.isCa) throw new AuthenticationRefused('certificate-unknown', 'a CA certificate does not name a device', {}, refusal);
    if (inspected.serialNumberHex.length > MAXIMUM_SERIAL_HEX_LENGTH) throw new AuthenticationRefused('certificate-serial-invalid', 'the serial number is longer than 20 octets (RFC 5280 §4.1.2.2)', {}, refusal);
    const serialViolation = deviceSerialViolation(inspected.serialNumberContent);
    if (serialViolation !== null) throw new AuthenticationRefused('certificate-serial-invalid', serialViolation, {}, refusal);
    const keyViolation = deviceKeyViolation(inspected.subjectPublicKeyInfo, this.keyPolicy);
    if (keyViolation !== null) throw new AuthenticationRefused('certificate-weak-key', keyViolation.message, { algorithm: keyViolation.algorithm }, refusal);
    if (inspected.extendedKeyUsage !== null && !inspected.extendedKeyUsage.includes(ID_KP_CLIENT_AUTH) && !inspected.extendedKeyUsage.includes(ANY_EXTENDED_KEY_USAGE)) {
      throw new AuthenticationRefused('certificate-unknown', 'the certificate is not for TLS client authentication (extendedKeyUsage lacks clientAuth)', {}, refusal);
    }
    if (authority.kind === 'intermediate') {
      const constraints = this.nameConstraintsOf(authority);
      const outside = constraints === null ? null : dnsNameOutsideConstraints(inspected.subject, inspected.subjectAltNames.dns, constraints);
      // RFC 5280 §4.2.1.10: a name outside the delegated CA's constraints makes the chain invalid.
      if (outside !== null) throw new AuthenticationRefused('untrusted-issuer', `the delegated CA may not certify the name "${outside}" (name constraints)`, { dnsName: outside }, refusal);
    }
    const identity = withRefusedCertificate(() => mapDeviceIdentity(inspected.subject, authority.identityRules), refusal);
    // The whole subject is recorded as it came (and its CN listed and searched), not only the attribute that names the
    // device: every value is held to the rule for recorded names (subject-text.ts).
    const badText = nameTextProblem(inspected.subject);
    if (badText !== null) throw new AuthenticationRefused('identity-unmapped', `the certificate subject ${badText.attribute} ${badText.problem}`, { attribute: badText.attribute }, refusal);
    if (identity.identity.length > MAXIMUM_IDENTITY_LENGTH) throw new AuthenticationRefused('identity-unmapped', `the device identity is longer than ${MAXIMUM_IDENTITY_LENGTH} characters`, {}, refusal);
    if (identity.deviceType !== null && identity.deviceType.length > MAXIMUM_DEVICE_TYPE_LENGTH) {
      throw new AuthenticationRefused('identity-unmapped', `the device type is longer than ${MAXIMUM_DEVICE_TYPE_LENGTH} characters`, {}, refusal);
    }

    const certificate = externalCertificateRecord(authority, inspected, now);
    const event = certificateEvent(certificate, authority, transitionOf({ ...certificate, state: 'inactive' }, { kind: 'activate' }, now));
    const sight = await this.devices.bindOnFirstSight({ authority, identity, certificate, event, newDeviceId: newId(), at: now }, authority.registration !== 'preregistered');
    switch (sight.outcome) {
      case 'bound':
        this.wakeup.notify();
        return { certificate: sight.certificate, authority, deviceId: sight.device.identity, deviceType: sight.device.deviceType };
      case 'already-bound':
        // A concurrent first connection bound it; what it left is what counts (it may have been suspended since).
        this.checkStanding(sight.certificate, authority, now);
        await this.recordUse(sight.certificate, now);
        return { certificate: sight.certificate, authority, deviceId: sight.device.identity, deviceType: sight.device.deviceType };
      case 'not-registered':
        throw new AuthenticationRefused('device-not-registered', `no device "${identity.identity}" is registered under this CA, which accepts pre-registered devices only`, { identity: identity.identity }, refusal);
      case 'bound-elsewhere':
        throw new AuthenticationRefused('device-bound-elsewhere', `the device "${identity.identity}" is bound to another certificate`, { identity: identity.identity, deviceId: sight.device.id }, refusal);
      case 'type-mismatch':
        throw new AuthenticationRefused('identity-unmapped', `the certificate names device type "${identity.deviceType}", the device is registered as "${sight.device.deviceType}"`, { identity: identity.identity }, refusal);
      case 'already-recorded':
        if (sight.certificate.state === 'revoked') throw new AuthenticationRefused('certificate-revoked', 'the certificate is revoked', { reason: sight.certificate.revocationReason }, refusedCertificate(sight.certificate));
        throw new AuthenticationRefused('certificate-unknown', 'the certificate is recorded under another CA of ccm', {}, refusal);
      case 'serial-taken':
        throw new AuthenticationRefused('certificate-unknown', 'the CA gave this serial number to another certificate ccm has a record of; serial numbers must be unique per CA (RFC 5280 §4.1.2.2)', {}, refusal);
    }
  }

  private nameConstraintsOf(authority: Authority): DnsNameConstraints | null {
    const key = `${authority.id}:${authority.fingerprintSha256}`;
    if (!this.constraints.has(key)) this.constraints.set(key, dnsNameConstraintsOf(decodePem(authority.certificatePem!, 'CERTIFICATE')[0]!));
    return this.constraints.get(key)!;
  }
}

/** A key identifier in hex, colons allowed (as `openssl x509 -ext authorityKeyIdentifier` prints it). */
function keyIdentifierOf(text: string): Buffer {
  const hex = text.replace(/:/g, '');
  if (!/^(?:[0-9a-fA-F]{2}){1,64}$/.test(hex)) throw new InvalidRequest('authorityKeyIdentifier must be hexadecimal octets', { field: 'authorityKeyIdentifier' });
  return Buffer.from(hex, 'hex');
}

/** A refusal by its kind; a request ccm could not read (malformed PEM, a bad serial number) apart; anything else is a failure of ccm's. */
function decisionOf(error: unknown): AuthenticationDecision {
  if (error instanceof AuthenticationRefused) return error.refusal;
  if (error instanceof DomainError && (error.kind === 'invalid-request' || error.kind === 'malformed-pem')) return 'invalid-request';
  return 'error';
}

/** The record of a certificate an external or delegated CA issued, as its first sight binds it: active, used now. */
function externalCertificateRecord(authority: Authority, inspected: InspectedCertificate, now: Date): ClientCertificate {
  const { dns, uri, email, ip } = inspected.subjectAltNames;
  return {
    id: newId(),
    tenantId: authority.tenantId!,
    authorityId: authority.id,
    serialNumber: inspected.serialNumberHex,
    state: 'active',
    fingerprintSha256: inspected.sha256Fingerprint,
    fingerprintSha1: inspected.sha1Fingerprint,
    subject: formatDistinguishedName(inspected.subject),
    // By code points, as the column counts them: a cut through a surrogate pair would record a lone surrogate.
    commonName: [...(commonNameOf(inspected.subject) ?? '')].slice(0, MAXIMUM_COMMON_NAME_LENGTH).join(''),
    subjectAltNames: { ...(dns.length ? { dns } : {}), ...(uri.length ? { uri } : {}), ...(email.length ? { email } : {}), ...(ip.length ? { ip } : {}) },
    notBefore: inspected.notBefore,
    notAfter: inspected.notAfter,
    keyAlgorithm: deviceKeyAlgorithmOf(inspected.subjectPublicKeyInfo),
    publicKeySha256: inspected.publicKeyHash,
    keySource: 'external',
    // ccm did not issue it and does not know when it was signed; its validity start is the CA's own statement of that.
    issuedAt: inspected.notBefore,
    firstUsedAt: now,
    lastUsedAt: now,
    revokedAt: null,
    revocationReason: null,
    suspendedAt: null,
    crlShard: 0,
    createdAt: now,
    updatedAt: now,
  };
}

/** A device key ccm would not issue for (P-521, RSA-8192…) but the key policy lets through is recorded as "other": ccm never uses it. */
function deviceKeyAlgorithmOf(subjectPublicKeyInfo: Uint8Array): string {
  try {
    return keyAlgorithmOf(readPublicKeyInfo(subjectPublicKeyInfo));
  } catch (error) {
    if (error instanceof DomainError || error instanceof DerFramingError) return 'other';
    throw error;
  }
}

/** Runs a mapping whose refusals need the certificate they are about, for the audit trail. */
function withRefusedCertificate<T>(map: () => T, about: RefusedCertificate | null): T {
  try {
    return map();
  } catch (error) {
    if (error instanceof AuthenticationRefused && error.refusedCertificate === null) throw new AuthenticationRefused(error.refusal, error.message, error.details, about);
    throw error;
  }
}

/** Who a refusal is about, for the audit trail (never sent to the caller). */
function refusedCertificate(certificate: ClientCertificate): RefusedCertificate {
  return { tenantId: certificate.tenantId, certificateId: certificate.id, serialNumber: certificate.serialNumber };
}

/** A refusal under one of ccm's CAs where no certificate record is involved (yet). */
function refusedUnder(authority: Authority, serialNumber: string): RefusedCertificate | null {
  return authority.tenantId === null ? null : { tenantId: authority.tenantId, certificateId: null, serialNumber };
}
