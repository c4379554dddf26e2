/**
 * Reading certificates: what ccm needs to know about one it issued, one a
 * tenant uploads as its own CA, or one a broker presents for a device
 * (names, validity, CA-ness, key identifiers, fingerprints), and checking a
 * certificate's signature against its issuer's key. Off the issuing hot path.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, SubjectAlternativeName } from '@peculiar/asn1-x509';
import { DomainError } from '../shared/errors.js';
import { DerFramingError, DerTag, assertDerFraming, bitStringOctets, contextTag, decodeObjectIdentifier, expectTag, readChildren, readSingleElement, type DerElement } from './der.js';
import { decodeName, type DistinguishedName } from './distinguished-name.js';
import { publicKeyHashOf, sha1FingerprintOf, sha256FingerprintOf } from './fingerprint.js';
import { readPublicKeyInfo, readPublicKeyInfoElement } from './public-key.js';
import { serialNumberToHex } from './serial-number.js';
import { readSignatureAlgorithm, verifySignature, type SignatureAlgorithm, type VerificationKey } from './signature-verification.js';

/** RFC 5280 §4.2.1.3 bit names, in bit order. */
export const KEY_USAGE_NAMES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsageName = (typeof KEY_USAGE_NAMES)[number];

export interface InspectedSubjectAltNames {
  readonly dns: string[];
  readonly uri: string[];
  readonly email: string[];
  readonly ip: string[];
}

export interface InspectedCertificate {
  /** Lowercase hex, the canonical form of serial-number.ts. */
  readonly serialNumberHex: string;
  /** The serialNumber INTEGER's content octets as the certificate has them: the hex form cannot tell a negative serial (0xff) from a positive one (0x00ff). */
  readonly serialNumberContent: Uint8Array;
  /** DER of the subject Name, byte for byte: what certificates issued by this one must carry as issuer. */
  readonly subjectName: Uint8Array;
  /** DER of the issuer Name, byte for byte. */
  readonly issuerName: Uint8Array;
  readonly subject: DistinguishedName;
  readonly issuer: DistinguishedName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** BasicConstraints cA (RFC 5280 §4.2.1.9); `false` when the extension is absent. */
  readonly isCa: boolean;
  readonly pathLenConstraint: number | null;
  /** Asserted key usage bits; empty when the extension is absent. */
  readonly keyUsage: KeyUsageName[];
  /** Extended key usage OIDs; `null` when the extension is absent (any purpose). */
  readonly extendedKeyUsage: string[] | null;
  readonly subjectKeyIdentifier: Uint8Array | null;
  readonly authorityKeyIdentifier: Uint8Array | null;
  readonly subjectAltNames: InspectedSubjectAltNames;
  /** Critical extensions present, so a caller can refuse ones it does not process (RFC 5280 §4.2). */
  readonly criticalExtensionOids: string[];
  readonly signatureAlgorithmOid: string;
  /** SHA-256 of the DER certificate, lowercase hex. */
  readonly sha256Fingerprint: string;
  /** SHA-1 of the DER certificate, lowercase hex. */
  readonly sha1Fingerprint: string;
  /** SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex. */
  readonly publicKeyHash: string;
}

const EXTENSION = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
} as const;

/** Reads a DER certificate. Throws `invalid-request` when it is not a well-formed X.509 certificate. */
export function inspectCertificate(der: Uint8Array): InspectedCertificate {
  try {
    return inspect(der);
  } catch (error) {
    if (error instanceof DerFramingError) throw notACertificate(error.message);
    throw error;
  }
}

/** What finds ccm's record of a presented certificate: its names, serial number and fingerprint. */
export interface CertificateIdentity {
  readonly serialNumberHex: string;
  readonly subject: DistinguishedName;
  readonly issuer: DistinguishedName;
  /** SHA-256 of the DER certificate, lowercase hex. */
  readonly sha256Fingerprint: string;
}

/**
 * inspectCertificate without the extensions: for device authentication,
 * where a certificate that matches ccm's record byte for byte (fingerprint)
 * had its extensions read when it was recorded, and reading them again on
 * every connection cost more than the rest of the parse. Throws
 * `invalid-request` when the parts it reads are malformed.
 */
export function readCertificateIdentity(der: Uint8Array): CertificateIdentity {
  try {
    const { serialContent, issuerName, subjectName } = readTbsFields(der);
    return { serialNumberHex: serialNumberToHex(serialContent), subject: decodeName(subjectName), issuer: decodeName(issuerName), sha256Fingerprint: sha256FingerprintOf(der) };
  } catch (error) {
    if (error instanceof DerFramingError) throw notACertificate(error.message);
    throw error;
  }
}

/**
 * Whether `certificateDer` is signed by the key in `issuerSubjectPublicKeyInfo`
 * (RFC 5280 §6.1.3 (a)(1)), given as DER or read once (verificationKeyOf) by
 * a caller that verifies many certificates of one CA. Also `false` when the
 * two signature AlgorithmIdentifiers differ (§4.1.1.2). Throws `invalid-request` for
 * malformed input, `unsupported-algorithm` for a signature algorithm ccm does
 * not verify (e.g. SHA-1 based).
 */
export function verifyCertificateSignature(certificateDer: Uint8Array, issuerSubjectPublicKeyInfo: Uint8Array | VerificationKey): boolean {
  let parts: SignedParts;
  let issuerKey;
  try {
    parts = readSignedParts(certificateDer);
    issuerKey = issuerSubjectPublicKeyInfo instanceof Uint8Array ? readPublicKeyInfo(issuerSubjectPublicKeyInfo) : issuerSubjectPublicKeyInfo;
  } catch (error) {
    if (error instanceof DerFramingError) throw notACertificate(error.message);
    throw error;
  }
  if (!Buffer.from(parts.innerSignatureAlgorithm).equals(parts.signatureAlgorithm.der)) return false;
  return verifySignature(parts.signatureAlgorithm, issuerKey, parts.tbsCertificate.bytes, parts.signature);
}

interface SignedParts {
  readonly tbsCertificate: DerElement;
  readonly tbsFields: DerElement[];
  readonly innerSignatureAlgorithm: Uint8Array;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING } (RFC 5280 §4.1). */
function readSignedParts(der: Uint8Array): SignedParts {
  const outer = expectTag(readSingleElement(der), DerTag.sequence, 'Certificate');
  assertDerFraming(outer);
  const [tbsCertificate, signatureAlgorithm, signature, ...rest] = readChildren(outer);
  if (rest.length > 0) throw new DerFramingError('Certificate has extra fields');
  const tbsFields = readChildren(expectTag(tbsCertificate, DerTag.sequence, 'TBSCertificate'));
  // version [0] EXPLICIT DEFAULT v1: absent in v1 certificates, so the inner signature field is the second or the first.
  const signatureIndex = tbsFields[0]?.tag === contextTag(0, true) ? 2 : 1;
  return {
    tbsCertificate: tbsCertificate!,
    tbsFields,
    innerSignatureAlgorithm: expectTag(tbsFields[signatureIndex], DerTag.sequence, 'TBSCertificate.signature').bytes,
    signatureAlgorithm: readSignatureAlgorithm(signatureAlgorithm),
    signature: bitStringOctets(expectTag(signature, DerTag.bitString, 'signatureValue'), 'signatureValue'),
  };
}

/** The TBSCertificate's fields up to the key, checked for framing; the optional ones (unique ids, extensions) as they are. */
function readTbsFields(der: Uint8Array) {
  const { tbsFields, signatureAlgorithm } = readSignedParts(der);
  const fields = [...tbsFields];
  if (fields[0]?.tag === contextTag(0, true)) {
    const [version, ...rest] = readChildren(fields.shift()!);
    const content = expectTag(version, DerTag.integer, 'version').content;
    if (rest.length > 0 || content.length !== 1 || content[0]! > 2) throw new DerFramingError('unknown certificate version');
  }
  const [serialNumber, , issuer, validity, subject, subjectPublicKeyInfo, ...optional] = fields;
  const serialContent = expectTag(serialNumber, DerTag.integer, 'serialNumber').content;
  if (serialContent.length === 0) throw new DerFramingError('empty serialNumber');
  const issuerName = expectTag(issuer, DerTag.sequence, 'issuer').bytes;
  const subjectName = expectTag(subject, DerTag.sequence, 'subject').bytes;
  const [notBefore, notAfter, ...extraTimes] = readChildren(expectTag(validity, DerTag.sequence, 'validity'));
  if (extraTimes.length > 0) throw new DerFramingError('validity has extra fields');
  return { signatureAlgorithm, serialContent, issuerName, subjectName, notBefore, notAfter, subjectPublicKeyInfo, optional };
}

function inspect(der: Uint8Array): InspectedCertificate {
  const { signatureAlgorithm, serialContent, issuerName, subjectName, notBefore, notAfter, subjectPublicKeyInfo, optional } = readTbsFields(der);
  const publicKey = readPublicKeyInfoElement(expectTag(subjectPublicKeyInfo, DerTag.sequence, 'subjectPublicKeyInfo'));

  // issuerUniqueID [1] and subjectUniqueID [2] (implicit, primitive or constructed) may precede extensions [3].
  const extensionsField = optional.find((element) => element.tag === contextTag(3, true));
  const extensions = extensionsField === undefined ? new Map<string, ReadExtension>() : readExtensions(extensionsField);

  const basicConstraints = decodeExtension(extensions, EXTENSION.basicConstraints, (value) => AsnConvert.parse(value, BasicConstraints));
  const authorityKeyIdentifier = decodeExtension(extensions, EXTENSION.authorityKeyIdentifier, (value) => AsnConvert.parse(value, AuthorityKeyIdentifier));
  const extendedKeyUsage = decodeExtension(extensions, EXTENSION.extKeyUsage, (value) => AsnConvert.parse(value, ExtendedKeyUsage));
  const subjectAltName = decodeExtension(extensions, EXTENSION.subjectAltName, (value) => AsnConvert.parse(value, SubjectAlternativeName));
  const subjectKeyIdentifier = decodeExtension(extensions, EXTENSION.subjectKeyIdentifier, (value) => expectTag(readSingleElement(value), DerTag.octetString, 'subjectKeyIdentifier').content);
  const keyUsage = decodeExtension(extensions, EXTENSION.keyUsage, decodeKeyUsage);

  const isCa = basicConstraints?.cA ?? false;
  const pathLenConstraint = isCa && basicConstraints?.pathLenConstraint !== undefined ? Number(basicConstraints.pathLenConstraint) : null;

  return {
    serialNumberHex: serialNumberToHex(serialContent),
    serialNumberContent: Uint8Array.from(serialContent),
    subjectName: Uint8Array.from(subjectName),
    issuerName: Uint8Array.from(issuerName),
    subject: decodeName(subjectName),
    issuer: decodeName(issuerName),
    notBefore: decodeTime(notBefore),
    notAfter: decodeTime(notAfter),
    subjectPublicKeyInfo: Uint8Array.from(publicKey.der),
    isCa,
    pathLenConstraint,
    keyUsage: keyUsage ?? [],
    extendedKeyUsage: extendedKeyUsage === null ? null : [...extendedKeyUsage],
    subjectKeyIdentifier: subjectKeyIdentifier === null ? null : Uint8Array.from(subjectKeyIdentifier),
    authorityKeyIdentifier: authorityKeyIdentifier?.keyIdentifier ? new Uint8Array(authorityKeyIdentifier.keyIdentifier.buffer.slice(0)) : null,
    subjectAltNames: alternativeNamesOf(subjectAltName),
    criticalExtensionOids: [...extensions.values()].filter((extension) => extension.critical).map((extension) => extension.oid),
    signatureAlgorithmOid: signatureAlgorithm.oid,
    sha256Fingerprint: sha256FingerprintOf(der),
    sha1Fingerprint: sha1FingerprintOf(der),
    publicKeyHash: publicKeyHashOf(publicKey.der),
  };
}

interface ReadExtension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } (RFC 5280 §4.1). */
function readExtensions(field: DerElement): Map<string, ReadExtension> {
  const [sequence, ...rest] = readChildren(field);
  if (rest.length > 0) throw new DerFramingError('extensions field has extra content');
  const extensions = new Map<string, ReadExtension>();
  for (const element of readChildren(expectTag(sequence, DerTag.sequence, 'Extensions'))) {
    const parts = readChildren(expectTag(element, DerTag.sequence, 'Extension'));
    const oid = decodeObjectIdentifier(expectTag(parts[0], DerTag.objectIdentifier, 'extnID'));
    let critical = false;
    let index = 1;
    if (parts[1]?.tag === DerTag.boolean) {
      critical = parts[1].content.length === 1 && parts[1].content[0] !== 0;
      index = 2;
    }
    const value = expectTag(parts[index], DerTag.octetString, 'extnValue').content;
    if (parts.length > index + 1) throw new DerFramingError('Extension has extra fields');
    // §4.2: a certificate MUST NOT include more than one instance of a particular extension.
    if (extensions.has(oid)) throw new DerFramingError(`extension ${oid} appears twice`);
    extensions.set(oid, { oid, critical, value });
  }
  return extensions;
}

function decodeExtension<T>(extensions: Map<string, ReadExtension>, oid: string, decode: (value: Uint8Array) => T): T | null {
  const extension = extensions.get(oid);
  if (extension === undefined) return null;
  try {
    return decode(extension.value);
  } catch (error) {
    throw new DerFramingError(`extension ${oid} is malformed${error instanceof Error ? `: ${error.message}` : ''}`);
  }
}

/** KeyUsage ::= BIT STRING; bit 0 is the most significant bit of the first octet. */
function decodeKeyUsage(value: Uint8Array): KeyUsageName[] {
  const content = expectTag(readSingleElement(value), DerTag.bitString, 'keyUsage').content;
  if (content.length === 0 || content[0]! > 7) throw new DerFramingError('malformed keyUsage');
  const bits = content.subarray(1);
  return KEY_USAGE_NAMES.filter((_, bit) => bit < bits.length * 8 && (bits[bit >> 3]! & (0x80 >> (bit & 7))) !== 0);
}

function alternativeNamesOf(names: SubjectAlternativeName | null): InspectedSubjectAltNames {
  const result: InspectedSubjectAltNames = { dns: [], uri: [], email: [], ip: [] };
  // Other GeneralName forms (directoryName, otherName, ...) are not used by ccm and are not reported.
  for (const name of names ?? []) {
    if (name.dNSName !== undefined) result.dns.push(name.dNSName);
    else if (name.uniformResourceIdentifier !== undefined) result.uri.push(name.uniformResourceIdentifier);
    else if (name.rfc822Name !== undefined) result.email.push(name.rfc822Name);
    else if (name.iPAddress !== undefined) result.ip.push(name.iPAddress);
  }
  return result;
}

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** RFC 5280 §4.1.2.5.1/§4.1.2.5.2: Zulu time with seconds, no fractions; a two-digit year below 50 is 20YY. */
export function decodeTime(element: DerElement | undefined): Date {
  if (element === undefined) throw new DerFramingError('validity time is missing');
  const text = Buffer.from(element.content).toString('latin1');
  let parts: RegExpExecArray | null;
  let year: number;
  if (element.tag === DerTag.utcTime && (parts = UTC_TIME.exec(text)) !== null) {
    const yy = Number(parts[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (element.tag === DerTag.generalizedTime && (parts = GENERALIZED_TIME.exec(text)) !== null) {
    year = Number(parts[1]);
  } else {
    throw new DerFramingError(`malformed validity time "${text}"`);
  }
  const [month, day, hour, minute, second] = parts.slice(2).map(Number) as [number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year); // Date.UTC maps years 0-99 to 1900-1999
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || date.getUTCHours() !== hour || date.getUTCMinutes() !== minute || date.getUTCSeconds() !== second) {
    throw new DerFramingError(`invalid validity time "${text}"`);
  }
  return date;
}

function notACertificate(reason: string): DomainError {
  return new DomainError('invalid-request', `not a DER X.509 certificate: ${reason}`);
}
