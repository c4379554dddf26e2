/**
 * The certificate encoder: the only place ccm builds X.509 certificates and
 * PKCS #10 requests. It turns a fully decided request (who, which key, which
 * profile, which validity) into DER and gets it signed; it decides no policy.
 * Everything that lays out certificate bytes stays behind `encodeCertificate`,
 * `encodeCertificationRequest` and `subjectKeyIdentifierOf`, so callers do not
 * know which of the two encodings below made a certificate.
 *
 * Device client certificates whose only subject alternative names are URIs
 * (ccm's own carry urn:uuid:<record id>), the hot path of issuance, come
 * from a per-issuer `ClientCertificateTemplate` (certificate-template.ts),
 * cached here. Everything else goes through the
 * generic encoder, `encodeCertificateGeneric`: the TBSCertificate is assembled
 * from pieces, fields ccm creates are built with the @peculiar/asn1-x509
 * structures, while the issuer Name and the SubjectPublicKeyInfo are copied in
 * byte for byte (see der.ts for why). The template writes exactly the bytes
 * the generic encoder writes for the same request; the generic encoder is
 * the reference the template is tested against.
 */
import { isIP } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AccessDescription,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  Time,
  Validity,
  id_ad_caIssuers,
  id_ad_ocsp,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_cRLDistributionPoints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_OCSPSigning,
  id_pe_authorityInfoAccess,
} from '@peculiar/asn1-x509';
import { DomainError } from '../shared/errors.js';
import {
  checkedUri,
  checkedUrl,
  encodeSignatureValue,
  readIssuerName,
  readSubjectPublicKeyInfo,
  signatureAlgorithmOf,
  subjectKeyIdentifierFrom,
  wholeSeconds,
} from './certificate-fields.js';
import { ClientCertificateTemplate, type ClientCertificateIssuer } from './certificate-template.js';
import { DerTag, contextTag, encodeElement, readSingleElement } from './der.js';
import { encodeDistinguishedName, type DistinguishedName } from './distinguished-name.js';
import { PublicKeyOid, type PublicKeyInfo } from './public-key.js';
import { assertSerialNumber } from './serial-number.js';
import { readSignatureAlgorithm, verifySignature } from './signature-verification.js';
import type { Signer } from './signer.js';

export type CertificateProfile =
  /** A CA certificate whose key ccm holds: platform CA, tenant root. `null` leaves the path length unconstrained. */
  | { readonly kind: 'ca'; readonly pathLenConstraint: number | null }
  /**
   * A tenant's delegated intermediate CA, whose key the tenant holds: it signs device certificates only
   * (pathLenConstraint 0), optionally within DNS name constraints.
   */
  | { readonly kind: 'delegated-ca'; readonly permittedDnsDomains: readonly string[]; readonly excludedDnsDomains: readonly string[] }
  /** A device's TLS client certificate. */
  | { readonly kind: 'client' }
  /** A delegated OCSP responder of its issuing CA (RFC 6960 §4.2.2.2). */
  | { readonly kind: 'ocsp-responder' };

export interface SubjectAltNames {
  readonly dns?: readonly string[];
  readonly uri?: readonly string[];
  readonly email?: readonly string[];
  /** IPv4 dotted or IPv6 text form. */
  readonly ip?: readonly string[];
}

export interface CertificateRequest {
  /** DER INTEGER content: positive, minimal, at most 20 octets (serial-number.ts makes these). */
  readonly serialNumber: Uint8Array;
  /** DER of the issuer certificate's subject Name, copied byte for byte; for a self-signed certificate, the subject encoded. */
  readonly issuerName: Uint8Array;
  /** The issuer's subject key identifier; `null` for a self-signed certificate, whose AKI is then its own SKI. */
  readonly issuerKeyIdentifier: Uint8Array | null;
  readonly subject: DistinguishedName;
  /** DER SubjectPublicKeyInfo of the subject's key. */
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly profile: CertificateProfile;
  readonly subjectAltNames?: SubjectAltNames;
  /** URLs of the issuer's CRL (RFC 5280 §4.2.1.13), all for the same CRL. */
  readonly crlDistributionPoints?: readonly string[];
  /** URLs of the issuer's OCSP responder (RFC 5280 §4.2.2.1). */
  readonly ocspUrls?: readonly string[];
  /** URLs where the issuer's certificate can be fetched (RFC 5280 §4.2.2.1). */
  readonly caIssuersUrls?: readonly string[];
}

// The CRL and OCSP encoders, and older imports, take the shared field rules from here.
export { checkedUrl, encodeSignatureValue, readIssuerName, signatureAlgorithmOf, wholeSeconds };

/** Builds, signs and returns the DER certificate. Throws `invalid-request` for a request that cannot be encoded as asked. */
export async function encodeCertificate(request: CertificateRequest, signer: Signer): Promise<Uint8Array> {
  if (usesClientCertificateTemplate(request)) {
    const template = clientCertificateTemplateFor({
      signatureAlgorithm: signer.algorithm,
      issuerName: request.issuerName,
      issuerKeyIdentifier: request.issuerKeyIdentifier,
      crlDistributionPoints: request.crlDistributionPoints,
      ocspUrls: request.ocspUrls,
      caIssuersUrls: request.caIssuersUrls,
    });
    return template.issue(
      {
        serialNumber: request.serialNumber,
        subject: request.subject,
        subjectPublicKeyInfo: request.subjectPublicKeyInfo,
        notBefore: request.notBefore,
        notAfter: request.notAfter,
        uniformResourceIdentifiers: request.subjectAltNames?.uri,
      },
      signer,
    );
  }
  return encodeCertificateGeneric(request, signer);
}

/**
 * `encodeCertificate` for every profile, without the client template: the
 * reference the template's output is tested against, and the way to issue
 * anything the template does not cover.
 */
export async function encodeCertificateGeneric(request: CertificateRequest, signer: Signer): Promise<Uint8Array> {
  assertSerialNumber(request.serialNumber);
  const subjectKey = readSubjectPublicKeyInfo(request.subjectPublicKeyInfo);
  const subjectName = encodeDistinguishedName(request.subject);
  const issuerName = readIssuerName(request.issuerName);
  const subjectKeyIdentifier = subjectKeyIdentifierFrom(subjectKey);
  let authorityKeyIdentifier: Uint8Array;
  if (request.issuerKeyIdentifier === null) {
    // Self-signed: RFC 5280 §4.1.2.4 self-issued means issuer = subject, and the AKI then names the certificate's own key.
    if (!Buffer.from(issuerName).equals(subjectName)) throw new DomainError('invalid-request', 'a self-signed certificate must have its subject as issuer name');
    authorityKeyIdentifier = subjectKeyIdentifier;
  } else {
    if (request.issuerKeyIdentifier.length === 0) throw new DomainError('invalid-request', 'issuer key identifier is empty');
    authorityKeyIdentifier = request.issuerKeyIdentifier;
  }
  const extensions = certificateExtensions(request, subjectKey, subjectKeyIdentifier, authorityKeyIdentifier);
  const signatureAlgorithm = signatureAlgorithmOf(signer.algorithm);

  const tbsCertificate = encodeElement(
    DerTag.sequence,
    VERSION_3,
    encodeElement(DerTag.integer, request.serialNumber),
    signatureAlgorithm,
    issuerName,
    encodeValidity(request.notBefore, request.notAfter),
    subjectName,
    subjectKey.der,
    encodeElement(contextTag(3, true), extensions),
  );
  const signature = await signer.sign(tbsCertificate);
  return encodeElement(DerTag.sequence, tbsCertificate, signatureAlgorithm, encodeSignatureValue(signature));
}

/**
 * A PKCS #10 request (RFC 2986) with no attributes, signed by `signer`: how an
 * operator's offline root is asked to certify the platform CA key. The
 * signature is checked against `subjectPublicKeyInfo` before returning, since
 * a request signed by another key would only be refused later, offline.
 */
export async function encodeCertificationRequest(subject: DistinguishedName, subjectPublicKeyInfo: Uint8Array, signer: Signer): Promise<Uint8Array> {
  if (subject.length === 0) throw new DomainError('invalid-request', 'a certification request for a CA key needs a subject (RFC 5280 §4.1.2.6)');
  const subjectKey = readSubjectPublicKeyInfo(subjectPublicKeyInfo);
  const signatureAlgorithm = signatureAlgorithmOf(signer.algorithm);
  const requestInfo = encodeElement(
    DerTag.sequence,
    VERSION_1_REQUEST,
    encodeDistinguishedName(subject),
    subjectKey.der,
    // RFC 2986 §4.1: attributes is not OPTIONAL; an empty set is how "none" is written.
    encodeElement(contextTag(0, true)),
  );
  const signature = await signer.sign(requestInfo);
  if (!verifySignature(readSignatureAlgorithm(readSingleElement(signatureAlgorithm)), subjectKey, requestInfo, signature)) {
    throw new DomainError('certificate-key-mismatch', 'the signing key does not match the public key of the certification request');
  }
  return encodeElement(DerTag.sequence, requestInfo, signatureAlgorithm, encodeSignatureValue(signature));
}

/**
 * RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value
 * (no tag, length or unused-bits octet). SHA-1 is only an identifier here, not
 * a security function; it is the method OpenSSL and most CAs use, so chains
 * built by other tools link up the same way.
 */
export function subjectKeyIdentifierOf(subjectPublicKeyInfo: Uint8Array): Uint8Array {
  return subjectKeyIdentifierFrom(readSubjectPublicKeyInfo(subjectPublicKeyInfo));
}

/**
 * Templates by issuer, so that every caller (issuance, renewal, EST) reuses
 * them without knowing they exist. Bounded, least recently used out first:
 * one template per issuing CA and signature algorithm is a few hundred bytes,
 * and a miss costs about one generic encoding.
 */
const CLIENT_CERTIFICATE_TEMPLATES = new Map<string, ClientCertificateTemplate>();
const MAXIMUM_CLIENT_CERTIFICATE_TEMPLATES = 256;

function clientCertificateTemplateFor(issuer: ClientCertificateIssuer): ClientCertificateTemplate {
  const key = ClientCertificateTemplate.keyOf(issuer);
  let template = CLIENT_CERTIFICATE_TEMPLATES.get(key);
  if (template !== undefined) {
    // Map iteration order is insertion order: re-inserting marks it recently used.
    CLIENT_CERTIFICATE_TEMPLATES.delete(key);
  } else {
    template = new ClientCertificateTemplate(issuer);
    if (CLIENT_CERTIFICATE_TEMPLATES.size >= MAXIMUM_CLIENT_CERTIFICATE_TEMPLATES) {
      CLIENT_CERTIFICATE_TEMPLATES.delete(CLIENT_CERTIFICATE_TEMPLATES.keys().next().value!);
    }
  }
  CLIENT_CERTIFICATE_TEMPLATES.set(key, template);
  return template;
}

/**
 * Whether `encodeCertificate` writes `request` from a client certificate
 * template: a device client certificate under another CA (a self-signed one's
 * AKI is its own SKI, which is not constant) whose alternative names, if
 * any, are URIs: the urn:uuid every certificate ccm issues carries. DNS
 * names, email addresses and IP addresses are rare in device certificates
 * and stay with the generic encoder.
 */
export function usesClientCertificateTemplate(request: CertificateRequest): request is CertificateRequest & { readonly issuerKeyIdentifier: Uint8Array } {
  return request.profile.kind === 'client' && request.issuerKeyIdentifier !== null && hasOnlyUriAlternativeNames(request.subjectAltNames);
}

function hasOnlyUriAlternativeNames(names: SubjectAltNames | undefined): boolean {
  return names === undefined || [names.dns, names.email, names.ip].every((list) => list === undefined || list.length === 0);
}

// [0] EXPLICIT Version ::= v3(2); RFC 5280 §4.1.2.1: extensions require v3.
const VERSION_3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);
// RFC 2986 §4.1: version is 0 (v1).
const VERSION_1_REQUEST = Uint8Array.of(0x02, 0x01, 0x00);

/**
 * RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (and
 * before 1950, which UTCTime cannot express); whole seconds, since fractions
 * MUST NOT be written (§4.1.2.5.1, §4.1.2.5.2).
 */
function encodeValidity(notBefore: Date, notAfter: Date): Uint8Array {
  const start = wholeSeconds(notBefore, 'notBefore');
  const end = wholeSeconds(notAfter, 'notAfter');
  if (end.getTime() < start.getTime()) throw new DomainError('invalid-request', 'notAfter is before notBefore');
  const validity = new Validity();
  validity.notBefore = timeOf(start);
  validity.notAfter = timeOf(end);
  return new Uint8Array(AsnConvert.serialize(validity));
}

function timeOf(date: Date): Time {
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? new Time({ utcTime: date }) : new Time({ generalTime: date });
}

function certificateExtensions(request: CertificateRequest, subjectKey: PublicKeyInfo, subjectKeyIdentifier: Uint8Array, authorityKeyIdentifier: Uint8Array): Uint8Array {
  const extensions: Extension[] = [];
  const { profile } = request;
  if (profile.kind === 'ca') {
    // RFC 5280 §4.1.2.6: a CA's subject MUST be non-empty, it is what its certificates name as issuer.
    if (request.subject.length === 0) throw new DomainError('invalid-request', 'a CA certificate needs a subject');
    const pathLenConstraint = profile.pathLenConstraint;
    if (pathLenConstraint !== null && (!Number.isSafeInteger(pathLenConstraint) || pathLenConstraint < 0)) {
      throw new DomainError('invalid-request', 'pathLenConstraint must be a non-negative integer');
    }
    // §4.2.1.9: MUST be critical in CA certificates; pathLen bounds the intermediates below (§6.1.4 (l)-(m)).
    extensions.push(extension(id_ce_basicConstraints, true, AsnConvert.serialize(new BasicConstraints(pathLenConstraint === null ? { cA: true } : { cA: true, pathLenConstraint }))));
    // §4.2.1.3: keyCertSign and cRLSign for a CA (it signs its CRLs itself); digitalSignature for OCSP responses it signs directly.
    extensions.push(extension(id_ce_keyUsage, true, CA_KEY_USAGE));
  } else if (profile.kind === 'delegated-ca') {
    if (request.subject.length === 0) throw new DomainError('invalid-request', 'a CA certificate needs a subject');
    // §4.2.1.9: critical; pathLen 0: it certifies end entities only, never a further CA (§6.1.4 (l)).
    extensions.push(extension(id_ce_basicConstraints, true, DELEGATED_CA_BASIC_CONSTRAINTS));
    // §4.2.1.3: it signs certificates and may sign its own CRLs; nothing else (its OCSP, if any, is its owner's business).
    extensions.push(extension(id_ce_keyUsage, true, DELEGATED_CA_KEY_USAGE));
    const constraints = nameConstraintsOf(profile.permittedDnsDomains, profile.excludedDnsDomains);
    // §4.2.1.10: conforming CAs MUST mark name constraints critical.
    if (constraints) extensions.push(extension(id_ce_nameConstraints, true, AsnConvert.serialize(constraints)));
  } else if (profile.kind === 'ocsp-responder') {
    extensions.push(extension(id_ce_basicConstraints, true, END_ENTITY_BASIC_CONSTRAINTS));
    // It signs OCSP responses and nothing else.
    extensions.push(extension(id_ce_keyUsage, true, CLIENT_KEY_USAGE));
    // RFC 6960 §4.2.2.2: the CA delegates by issuing a certificate with id-kp-OCSPSigning...
    extensions.push(extension(id_ce_extKeyUsage, false, OCSP_SIGNING_EXTENDED_KEY_USAGE));
    // ...and §4.2.2.2.1: id-pkix-ocsp-nocheck, so clients do not ask about the responder itself; short validity makes up for it.
    extensions.push(extension(ID_PKIX_OCSP_NOCHECK, false, DER_NULL));
  } else {
    // §4.2.1.9: MAY be critical in end-entity certificates; critical so no verifier mistakes a device for a CA.
    extensions.push(extension(id_ce_basicConstraints, true, END_ENTITY_BASIC_CONSTRAINTS));
    // §4.2.1.3: TLS client authentication signs the handshake; an RSA key may also be used for RSA key transport (TLS 1.2 static RSA).
    extensions.push(extension(id_ce_keyUsage, true, subjectKey.algorithmOid === PublicKeyOid.rsaEncryption ? CLIENT_KEY_USAGE_RSA : CLIENT_KEY_USAGE));
    // §4.2.1.12: restricts the key to TLS client authentication (id-kp-clientAuth); non-critical as is customary.
    extensions.push(extension(id_ce_extKeyUsage, false, CLIENT_EXTENDED_KEY_USAGE));
  }
  // §4.2.1.2: MUST appear in CA certificates, SHOULD in end-entity certificates.
  extensions.push(extension(id_ce_subjectKeyIdentifier, false, AsnConvert.serialize(new SubjectKeyIdentifier(subjectKeyIdentifier))));
  // §4.2.1.1: MUST appear (except in self-signed CA certificates, where it MAY); keyIdentifier only, so re-issuing the issuer keeps it valid.
  extensions.push(
    extension(id_ce_authorityKeyIdentifier, false, AsnConvert.serialize(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyIdentifier) }))),
  );

  const alternativeNames = generalNamesOf(request.subjectAltNames);
  if (request.subject.length === 0 && alternativeNames.length === 0) {
    throw new DomainError('invalid-request', 'a certificate needs a subject or at least one subject alternative name (RFC 5280 §4.1.2.6)');
  }
  if (alternativeNames.length > 0) {
    // §4.2.1.6: critical when the subject is empty, since the SAN is then the only identity.
    extensions.push(extension(id_ce_subjectAltName, request.subject.length === 0, AsnConvert.serialize(new SubjectAlternativeName(alternativeNames))));
  }

  const crlUrls = request.crlDistributionPoints ?? [];
  if (crlUrls.length > 0) {
    // §4.2.1.13: one DistributionPoint whose fullName lists alternative locations of the same CRL.
    const fullName = crlUrls.map((url) => new GeneralName({ uniformResourceIdentifier: checkedUrl(url, 'CRL distribution point') }));
    const points = new CRLDistributionPoints([new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName }) })]);
    extensions.push(extension(id_ce_cRLDistributionPoints, false, AsnConvert.serialize(points)));
  }

  const accessDescriptions = [
    ...(request.ocspUrls ?? []).map((url) => new AccessDescription({ accessMethod: id_ad_ocsp, accessLocation: new GeneralName({ uniformResourceIdentifier: checkedUrl(url, 'OCSP') }) })),
    ...(request.caIssuersUrls ?? []).map(
      (url) => new AccessDescription({ accessMethod: id_ad_caIssuers, accessLocation: new GeneralName({ uniformResourceIdentifier: checkedUrl(url, 'CA issuers') }) }),
    ),
  ];
  if (accessDescriptions.length > 0) {
    // §4.2.2.1: MUST be non-critical.
    extensions.push(extension(id_pe_authorityInfoAccess, false, AsnConvert.serialize(new AuthorityInfoAccessSyntax(accessDescriptions))));
  }
  return new Uint8Array(AsnConvert.serialize(new Extensions(extensions)));
}

const CA_KEY_USAGE = AsnConvert.serialize(new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature));
const DELEGATED_CA_KEY_USAGE = AsnConvert.serialize(new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign));
const DELEGATED_CA_BASIC_CONSTRAINTS = AsnConvert.serialize(new BasicConstraints({ cA: true, pathLenConstraint: 0 }));
const CLIENT_KEY_USAGE = AsnConvert.serialize(new KeyUsage(KeyUsageFlags.digitalSignature));
const CLIENT_KEY_USAGE_RSA = AsnConvert.serialize(new KeyUsage(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment));
const CLIENT_EXTENDED_KEY_USAGE = AsnConvert.serialize(new ExtendedKeyUsage([id_kp_clientAuth]));
const OCSP_SIGNING_EXTENDED_KEY_USAGE = AsnConvert.serialize(new ExtendedKeyUsage([id_kp_OCSPSigning]));
const ID_PKIX_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';
const DER_NULL = Uint8Array.of(0x05, 0x00).buffer;
// cA DEFAULT FALSE is omitted in DER (X.690 §11.5), leaving an empty SEQUENCE.
const END_ENTITY_BASIC_CONSTRAINTS = AsnConvert.serialize(new BasicConstraints({ cA: false }));

/**
 * RFC 5280 §4.2.1.10 dNSName subtrees: a name is within "example.com" when it
 * is that name or ends in ".example.com". Plain host names only (no wildcard,
 * no leading dot, which RFC 5280 gives no meaning for dNSName); null when both
 * lists are empty, since an empty NameConstraints is not allowed.
 */
function nameConstraintsOf(permitted: readonly string[], excluded: readonly string[]): NameConstraints | null {
  const subtrees = (names: readonly string[], what: string) =>
    names.length === 0
      ? undefined
      : new GeneralSubtrees(
          names.map((name) => {
            if (name.startsWith('*.')) throw new DomainError('invalid-request', `${what} "${name}" must be a DNS name without a wildcard`, { value: name });
            return new GeneralSubtree({ base: new GeneralName({ dNSName: checkedDnsName(name, what) }) });
          }),
        );
  const permittedSubtrees = subtrees(permitted, 'permitted DNS domain');
  const excludedSubtrees = subtrees(excluded, 'excluded DNS domain');
  if (!permittedSubtrees && !excludedSubtrees) return null;
  return new NameConstraints({ ...(permittedSubtrees ? { permittedSubtrees } : {}), ...(excludedSubtrees ? { excludedSubtrees } : {}) });
}

function extension(oid: string, critical: boolean, value: ArrayBuffer): Extension {
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(value) });
}

function generalNamesOf(names: SubjectAltNames | undefined): GeneralName[] {
  if (names === undefined) return [];
  return [
    ...(names.dns ?? []).map((name) => new GeneralName({ dNSName: checkedDnsName(name, 'DNS name') })),
    ...(names.uri ?? []).map((uri) => new GeneralName({ uniformResourceIdentifier: checkedUri(uri) })),
    ...(names.email ?? []).map((email) => new GeneralName({ rfc822Name: checkedEmail(email) })),
    ...(names.ip ?? []).map((ip) => new GeneralName({ iPAddress: checkedIp(ip) })),
  ];
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** RFC 5280 §4.2.1.6: preferred name syntax (RFC 1034 §3.5, LDH labels), ASCII only (IDNs as A-labels); a leading "*." wildcard is allowed. */
function checkedDnsName(name: string, what: string): string {
  const labels = name.startsWith('*.') ? name.slice(2).split('.') : name.split('.');
  if (name.length === 0 || name.length > 253 || !labels.every((label) => LABEL.test(label))) {
    throw new DomainError('invalid-request', `${what} "${name}" is not a valid host name`, { value: name });
  }
  return name;
}

/** RFC 5280 §4.2.1.6: an rfc822Name is an ASCII Mailbox (RFC 5321 §4.1.2) without the angle brackets. */
function checkedEmail(email: string): string {
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  if (at <= 0 || !/^[\x21-\x7e]+$/.test(local) || local.includes('@')) throw new DomainError('invalid-request', `"${email}" is not a valid email address`, { value: email });
  checkedDnsName(email.slice(at + 1), `email address domain in "${email}"`);
  return email;
}

function checkedIp(ip: string): string {
  if (isIP(ip) === 0) throw new DomainError('invalid-request', `"${ip}" is not an IPv4 or IPv6 address`, { value: ip });
  return ip;
}
