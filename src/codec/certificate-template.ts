/**
 * Per-issuer templates for device TLS client certificates, the hot path of
 * issuance. A `ClientCertificateTemplate` owns the encoding of a client
 * certificate (profile 'client', no subject alternative names but URIs)
 * under one issuer: everything that depends only on the issuer and the
 * signature algorithm (version, AlgorithmIdentifier, issuer Name, the profile
 * extensions, AKI, CRL distribution points, AIA) is encoded once when the
 * template is built, and each certificate then costs a few copies: serial,
 * validity, subject, SubjectPublicKeyInfo, SKI and the URI subject
 * alternative names (ccm's own certificates carry urn:uuid:<record id>, so
 * this part differs for every certificate) are spliced in.
 *
 * The output is byte for byte what the generic encoder
 * (`encodeCertificateGeneric` in certificate-encoder.ts) writes for the same
 * request, and every check it makes is made here too (per template for the
 * issuer's parts, per certificate for the rest); the property tests in
 * codec-certificate-template.test.ts hold the two together. The generic
 * encoder builds its fields with @peculiar/asn1-x509 objects, which costs
 * hundreds of microseconds per certificate; this module writes DER directly.
 */
import { createHash } from 'node:crypto';
import type { KeyAlgorithm } from './key-algorithm.js';
import { DomainError } from '../shared/errors.js';
import { checkedUri, checkedUrl, encodeSignatureValue, readIssuerName, readSubjectPublicKeyInfo, signatureAlgorithmOf, wholeSeconds } from './certificate-fields.js';
import { DerTag, contextTag, encodeElement, encodeLength, encodeObjectIdentifier, encodedLengthLength, encodedTimeLength, writeLength, writeTime } from './der.js';
import { encodeDistinguishedName, type DistinguishedName } from './distinguished-name.js';
import { PublicKeyOid } from './public-key.js';
import { assertSerialNumber } from './serial-number.js';
import type { Signer } from './signer.js';

/** What a template is built from: everything in a client certificate that is the same for all devices of one issuer. */
export interface ClientCertificateIssuer {
  /** The issuer key's algorithm; fixes the signature AlgorithmIdentifier. */
  readonly signatureAlgorithm: KeyAlgorithm;
  /** DER of the issuer certificate's subject Name, copied byte for byte. */
  readonly issuerName: Uint8Array;
  /** The issuer's subject key identifier, written as the AKI keyIdentifier. */
  readonly issuerKeyIdentifier: Uint8Array;
  readonly crlDistributionPoints?: readonly string[];
  readonly ocspUrls?: readonly string[];
  readonly caIssuersUrls?: readonly string[];
}

/** What differs from one device certificate to the next. */
export interface ClientCertificateFields {
  /** DER INTEGER content: positive, minimal, at most 20 octets. */
  readonly serialNumber: Uint8Array;
  readonly subject: DistinguishedName;
  /** DER SubjectPublicKeyInfo of the device key, copied byte for byte. */
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** uniformResourceIdentifier subject alternative names, the one kind a template writes; none: no SAN extension. */
  readonly uniformResourceIdentifiers?: readonly string[];
}

// [0] EXPLICIT Version ::= v3(2); RFC 5280 §4.1.2.1: extensions require v3.
const VERSION_3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);
const BOOLEAN_TRUE = Uint8Array.of(0x01, 0x01, 0xff);
// §4.2.1.9: cA DEFAULT FALSE is omitted in DER (X.690 §11.5), leaving an empty SEQUENCE.
const END_ENTITY_BASIC_CONSTRAINTS = Uint8Array.of(0x30, 0x00);
// §4.2.1.3 KeyUsage named bits, trailing zero bits dropped (X.690 §11.2.2): digitalSignature(0) alone, 7 unused bits...
const KEY_USAGE = Uint8Array.of(0x03, 0x02, 0x07, 0x80);
// ...and digitalSignature(0) + keyEncipherment(2) for RSA keys, which TLS 1.2 static RSA may use for key transport: 5 unused bits.
const KEY_USAGE_RSA = Uint8Array.of(0x03, 0x02, 0x05, 0xa0);
// §4.2.1.12: ExtKeyUsageSyntax with id-kp-clientAuth alone.
const CLIENT_EXTENDED_KEY_USAGE = encodeElement(DerTag.sequence, encodeObjectIdentifier('1.3.6.1.5.5.7.3.2'));
const SHA1_LENGTH = 20;
const EXTENSIONS_TAG = contextTag(3, true);
const URI_NAME_TAG = contextTag(6, false);
const NO_URIS: readonly string[] = [];

const OID = {
  basicConstraints: encodeObjectIdentifier('2.5.29.19'),
  keyUsage: encodeObjectIdentifier('2.5.29.15'),
  extKeyUsage: encodeObjectIdentifier('2.5.29.37'),
  subjectKeyIdentifier: encodeObjectIdentifier('2.5.29.14'),
  authorityKeyIdentifier: encodeObjectIdentifier('2.5.29.35'),
  subjectAltName: encodeObjectIdentifier('2.5.29.17'),
  cRLDistributionPoints: encodeObjectIdentifier('2.5.29.31'),
  authorityInfoAccess: encodeObjectIdentifier('1.3.6.1.5.5.7.1.1'),
  ocsp: encodeObjectIdentifier('1.3.6.1.5.5.7.48.1'),
  caIssuers: encodeObjectIdentifier('1.3.6.1.5.5.7.48.2'),
};

/** GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String; checkedUrl has made sure the text is ASCII. */
function uriName(url: string): Uint8Array {
  return encodeElement(URI_NAME_TAG, Buffer.from(url, 'latin1'));
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE (left out when false, X.690 §11.5), extnValue OCTET STRING }. */
function extension(oid: Uint8Array, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? encodeElement(DerTag.sequence, oid, BOOLEAN_TRUE, encodeElement(DerTag.octetString, value))
    : encodeElement(DerTag.sequence, oid, encodeElement(DerTag.octetString, value));
}

/**
 * The extensions of one key kind from basicConstraints through the AKI, the
 * SKI still to be written at `subjectKeyIdentifierOffset`: what comes before
 * the one extension that varies per certificate, the SAN.
 */
interface LeadingExtensions {
  readonly der: Uint8Array;
  readonly subjectKeyIdentifierOffset: number;
}

export class ClientCertificateTemplate {
  readonly signatureAlgorithm: KeyAlgorithm;
  private readonly signatureAlgorithmDer: Uint8Array;
  /** The AlgorithmIdentifier, then the issuer Name: the two constant fields between serial and validity. */
  private readonly algorithmAndIssuer: Uint8Array;
  private readonly leadingExtensions: LeadingExtensions;
  private readonly leadingExtensionsForRsa: LeadingExtensions;
  /** CRL distribution points and AIA, the extensions after the SAN. */
  private readonly trailingExtensions: Uint8Array;

  /** The cache key under which a template for `issuer` can be reused: equal keys, equal templates. */
  static keyOf(issuer: ClientCertificateIssuer): string {
    // JSON keeps the URL lists apart however their text looks, so an invalid list can never share a valid list's (checked) template.
    return [
      issuer.signatureAlgorithm,
      Buffer.from(issuer.issuerName.buffer, issuer.issuerName.byteOffset, issuer.issuerName.length).toString('hex'),
      Buffer.from(issuer.issuerKeyIdentifier.buffer, issuer.issuerKeyIdentifier.byteOffset, issuer.issuerKeyIdentifier.length).toString('hex'),
      JSON.stringify([issuer.crlDistributionPoints ?? [], issuer.ocspUrls ?? [], issuer.caIssuersUrls ?? []]),
    ].join(' ');
  }

  /** Checks the issuer's parts as the generic encoder does and encodes them; throws `invalid-request`. */
  constructor(issuer: ClientCertificateIssuer) {
    // Copies: the caller's buffers may change after the template is cached.
    const issuerName = Uint8Array.from(readIssuerName(issuer.issuerName));
    if (issuer.issuerKeyIdentifier.length === 0) throw new DomainError('invalid-request', 'issuer key identifier is empty');
    const crlUrls = (issuer.crlDistributionPoints ?? []).map((url) => checkedUrl(url, 'CRL distribution point'));
    const ocspUrls = (issuer.ocspUrls ?? []).map((url) => checkedUrl(url, 'OCSP'));
    const caIssuersUrls = (issuer.caIssuersUrls ?? []).map((url) => checkedUrl(url, 'CA issuers'));
    this.signatureAlgorithm = issuer.signatureAlgorithm;
    this.signatureAlgorithmDer = signatureAlgorithmOf(issuer.signatureAlgorithm);
    this.algorithmAndIssuer = concat([this.signatureAlgorithmDer, issuerName]);

    // After the SKI, in the generic encoder's order: AKI, (SAN, per certificate), CRL DP, AIA.
    // §4.2.1.1: keyIdentifier only, so re-issuing the issuer keeps it valid.
    const authorityKeyIdentifier = extension(OID.authorityKeyIdentifier, false, encodeElement(DerTag.sequence, encodeElement(contextTag(0, false), issuer.issuerKeyIdentifier)));
    const trailing: Uint8Array[] = [];
    if (crlUrls.length > 0) {
      // §4.2.1.13: one DistributionPoint whose fullName [0] lists alternative locations of the same CRL.
      const fullName = encodeElement(contextTag(0, true), ...crlUrls.map(uriName));
      const points = encodeElement(DerTag.sequence, encodeElement(DerTag.sequence, encodeElement(contextTag(0, true), fullName)));
      trailing.push(extension(OID.cRLDistributionPoints, false, points));
    }
    const accessDescriptions = [
      ...ocspUrls.map((url) => encodeElement(DerTag.sequence, OID.ocsp, uriName(url))),
      ...caIssuersUrls.map((url) => encodeElement(DerTag.sequence, OID.caIssuers, uriName(url))),
    ];
    // §4.2.2.1: MUST be non-critical.
    if (accessDescriptions.length > 0) trailing.push(extension(OID.authorityInfoAccess, false, encodeElement(DerTag.sequence, ...accessDescriptions)));
    this.leadingExtensions = leadingExtensions(KEY_USAGE, authorityKeyIdentifier);
    this.leadingExtensionsForRsa = leadingExtensions(KEY_USAGE_RSA, authorityKeyIdentifier);
    this.trailingExtensions = concat(trailing);
  }

  /**
   * The DER TBSCertificate for one device. Throws `invalid-request` for what
   * the generic encoder refuses: a bad serial, a SubjectPublicKeyInfo that is
   * not DER, a subject outside the name rules, a URI that is not an absolute
   * ASCII URI, no subject and no URI, times that are not dates, outside
   * 1..9999, or in the wrong order.
   */
  encodeTbsCertificate(fields: ClientCertificateFields): Uint8Array {
    assertSerialNumber(fields.serialNumber);
    const subjectKey = readSubjectPublicKeyInfo(fields.subjectPublicKeyInfo);
    const subjectName = encodeDistinguishedName(fields.subject);
    const uris = fields.uniformResourceIdentifiers ?? NO_URIS;
    for (const uri of uris) checkedUri(uri);
    if (fields.subject.length === 0 && uris.length === 0) {
      throw new DomainError('invalid-request', 'a certificate needs a subject or at least one subject alternative name (RFC 5280 §4.1.2.6)');
    }
    const notBefore = wholeSeconds(fields.notBefore, 'notBefore');
    const notAfter = wholeSeconds(fields.notAfter, 'notAfter');
    if (notAfter.getTime() < notBefore.getTime()) throw new DomainError('invalid-request', 'notAfter is before notBefore');
    const leading = subjectKey.algorithmOid === PublicKeyOid.rsaEncryption ? this.leadingExtensionsForRsa : this.leadingExtensions;
    // §4.2.1.6: critical when the subject is empty, since the SAN is then the only identity.
    const subjectAltNameCritical = fields.subject.length === 0;
    const uriNamesLength = uris.length === 0 ? 0 : uriGeneralNamesLength(uris);
    const subjectAltNameLength = uris.length === 0 ? 0 : uriSubjectAltNameLength(uriNamesLength, subjectAltNameCritical);
    const extensionListLength = leading.der.length + subjectAltNameLength + this.trailingExtensions.length;
    const extensionsLength = elementLength(elementLength(extensionListLength));

    const serial = fields.serialNumber;
    const notBeforeLength = encodedTimeLength(notBefore);
    const validityContentLength = notBeforeLength + encodedTimeLength(notAfter);
    const contentLength =
      VERSION_3.length +
      2 +
      serial.length +
      this.algorithmAndIssuer.length +
      2 +
      validityContentLength +
      subjectName.length +
      subjectKey.der.length +
      extensionsLength;
    const header = encodeLength(contentLength);
    const out = new Uint8Array(1 + header.length + contentLength);
    out[0] = DerTag.sequence;
    out.set(header, 1);
    let offset = 1 + header.length;
    out.set(VERSION_3, offset);
    offset += VERSION_3.length;
    out[offset++] = DerTag.integer;
    out[offset++] = serial.length; // at most 20 octets: the short length form
    out.set(serial, offset);
    offset += serial.length;
    out.set(this.algorithmAndIssuer, offset);
    offset += this.algorithmAndIssuer.length;
    out[offset++] = DerTag.sequence;
    out[offset++] = validityContentLength; // at most 34 octets: the short length form
    writeTime(out, offset, notBefore);
    offset += notBeforeLength;
    writeTime(out, offset, notAfter);
    offset += validityContentLength - notBeforeLength;
    out.set(subjectName, offset);
    offset += subjectName.length;
    out.set(subjectKey.der, offset);
    offset += subjectKey.der.length;
    out[offset++] = EXTENSIONS_TAG;
    offset = writeLength(out, offset, elementLength(extensionListLength));
    out[offset++] = DerTag.sequence;
    offset = writeLength(out, offset, extensionListLength);
    out.set(leading.der, offset);
    // §4.2.1.2: the SKI is SHA-1 of the subjectPublicKey bits, as subjectKeyIdentifierFrom computes it.
    out.set(createHash('sha1').update(subjectKey.publicKey).digest(), offset + leading.subjectKeyIdentifierOffset);
    offset += leading.der.length;
    if (uris.length > 0) offset = writeUriSubjectAltName(out, offset, uris, uriNamesLength, subjectAltNameCritical);
    out.set(this.trailingExtensions, offset);
    return out;
  }

  /** The signed certificate: the TBSCertificate, the AlgorithmIdentifier again (RFC 5280 §4.1.1.2) and the signature. */
  encodeCertificate(tbsCertificate: Uint8Array, signature: Uint8Array): Uint8Array {
    return encodeElement(DerTag.sequence, tbsCertificate, this.signatureAlgorithmDer, encodeSignatureValue(signature));
  }

  /** Encodes, has `signer` sign and returns the DER certificate; `signer` must hold the issuer key of the template's algorithm. */
  async issue(fields: ClientCertificateFields, signer: Signer): Promise<Uint8Array> {
    if (signer.algorithm !== this.signatureAlgorithm) {
      throw new Error(`a ${this.signatureAlgorithm} client certificate template cannot be signed by a ${signer.algorithm} key`);
    }
    const tbsCertificate = this.encodeTbsCertificate(fields);
    return this.encodeCertificate(tbsCertificate, await signer.sign(tbsCertificate));
  }
}

function leadingExtensions(keyUsage: Uint8Array, authorityKeyIdentifier: Uint8Array): LeadingExtensions {
  const throughSubjectKeyIdentifier = [
    // §4.2.1.9: MAY be critical in end-entity certificates; critical so no verifier mistakes a device for a CA.
    extension(OID.basicConstraints, true, END_ENTITY_BASIC_CONSTRAINTS),
    // §4.2.1.3: TLS client authentication signs the handshake.
    extension(OID.keyUsage, true, keyUsage),
    // §4.2.1.12: restricts the key to TLS client authentication; non-critical as is customary.
    extension(OID.extKeyUsage, false, CLIENT_EXTENDED_KEY_USAGE),
    // §4.2.1.2: SHOULD appear in end-entity certificates. A SHA-1 is always 20 octets, so the value's place in the block is fixed.
    extension(OID.subjectKeyIdentifier, false, encodeElement(DerTag.octetString, new Uint8Array(SHA1_LENGTH))),
  ];
  return { der: concat([...throughSubjectKeyIdentifier, authorityKeyIdentifier]), subjectKeyIdentifierOffset: totalLength(throughSubjectKeyIdentifier) - SHA1_LENGTH };
}

/** Tag, length and `contentLength` octets of content. */
function elementLength(contentLength: number): number {
  return 1 + encodedLengthLength(contentLength) + contentLength;
}

/** The content of GeneralNames holding `uris` as uniformResourceIdentifier [6] IA5String, one octet per character (checkedUri: ASCII). */
function uriGeneralNamesLength(uris: readonly string[]): number {
  let length = 0;
  for (const uri of uris) length += elementLength(uri.length);
  return length;
}

/** The whole subjectAltName Extension around GeneralNames content of `namesLength` octets. */
function uriSubjectAltNameLength(namesLength: number, critical: boolean): number {
  return elementLength(OID.subjectAltName.length + (critical ? BOOLEAN_TRUE.length : 0) + elementLength(elementLength(namesLength)));
}

/**
 * Writes what `extension(OID.subjectAltName, critical, GeneralNames of uris)`
 * would return, straight into `out`: this part differs for every certificate,
 * so it is not worth an allocation per layer. Returns the offset after it.
 */
function writeUriSubjectAltName(out: Uint8Array, offset: number, uris: readonly string[], namesLength: number, critical: boolean): number {
  const generalNamesLength = elementLength(namesLength);
  out[offset++] = DerTag.sequence;
  offset = writeLength(out, offset, OID.subjectAltName.length + (critical ? BOOLEAN_TRUE.length : 0) + elementLength(generalNamesLength));
  out.set(OID.subjectAltName, offset);
  offset += OID.subjectAltName.length;
  if (critical) {
    out.set(BOOLEAN_TRUE, offset);
    offset += BOOLEAN_TRUE.length;
  }
  out[offset++] = DerTag.octetString;
  offset = writeLength(out, offset, generalNamesLength);
  out[offset++] = DerTag.sequence;
  offset = writeLength(out, offset, namesLength);
  for (const uri of uris) {
    out[offset++] = URI_NAME_TAG;
    offset = writeLength(out, offset, uri.length);
    for (let index = 0; index < uri.length; index++) out[offset++] = uri.charCodeAt(index);
  }
  return offset;
}

function totalLength(parts: readonly Uint8Array[]): number {
  return parts.reduce((sum, part) => sum + part.length, 0);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(totalLength(parts));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
