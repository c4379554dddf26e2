/**
 * The pre-signing lint: the last look at what the CA role is about to have
 * custody sign, a TBSCertificate or a TBSCertList, read back from the very
 * bytes that will be signed. The codec builds those bytes from a decided
 * order and checks its inputs; the lint checks its output against RFC 5280
 * and against what the order was for, the way Boulder lints every
 * certificate before its HSM signs it. It keeps its own tables (name bounds,
 * extension rules) rather than the encoder's, so a mistake in one is caught
 * by the other. A finding is a fault of ccm's: nothing is signed, and every
 * finding is reported at once (`CertificateLintFailed`).
 *
 * Certificates and CRLs share one file because they share most of the
 * reading (times, extensions, key identifiers) and one error.
 *
 * It runs for every device certificate issued (a client certificate costs
 * about 7-10 µs on one core), and over CRLs of hundreds of thousands of
 * entries, so it reads with the strict DER reader (codec/der.ts), walks
 * names, extensions and CRL entries in place (ElementFrame), and compares
 * bytes: no asn1-schema object model, no Name decoding beyond lengths and
 * character sets, OIDs matched as encoded rather than turned into text.
 */
import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';
import type { KeyAlgorithm } from '../codec/key-algorithm.js';
import { signatureAlgorithmOf } from '../codec/certificate-fields.js';
import { DerFramingError, DerTag, decodeObjectIdentifier, encodeObjectIdentifier, expectTag, readChildren, readSingleElement, type DerElement } from '../codec/der.js';
import { MAXIMUM_SERIAL_NUMBER_OCTETS, serialNumberDefect } from '../codec/serial-number.js';
import { DomainError } from '../shared/errors.js';

/** What the lint checks a certificate or CRL against: the issuing CA's certificate. */
export interface LintIssuer {
  /** DER of the issuer certificate's subject Name, byte for byte. */
  readonly subjectName: Uint8Array;
  readonly subjectKeyIdentifier: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CertificateLintPolicy {
  /** What ccm means to sign: a device client certificate, a delegated OCSP responder, or a CA certificate (platform CA, tenant root, delegated intermediate). */
  readonly purpose: 'client' | 'ocsp-responder' | 'ca';
  /** The issuing CA; null when the certificate is self-signed (the platform CA): then issuer = subject and AKI = own SKI. */
  readonly issuer: LintIssuer | null;
  /** Algorithm of the custody key that will sign it. */
  readonly signingAlgorithm: KeyAlgorithm;
}

export interface RevocationListLintPolicy {
  /** The CA whose CRL it is (it signs it itself). */
  readonly issuer: LintIssuer;
  readonly signingAlgorithm: KeyAlgorithm;
}

/** What ccm was about to sign is not fit to be signed; nothing was. A fault of ccm's (kind 'certificate-lint-failed', a 500), never of the caller. */
export class CertificateLintFailed extends DomainError {
  readonly findings: readonly string[];

  constructor(findings: readonly string[]) {
    const listed = Object.freeze([...findings]);
    super('certificate-lint-failed', `the pre-signing lint refused to sign: ${listed.join('; ')}`, { findings: listed });
    this.findings = listed;
  }
}

/** Throws CertificateLintFailed listing every finding; returns when the TBSCertificate is fit to sign. */
export function lintCertificate(tbsCertificate: Uint8Array, policy: CertificateLintPolicy): void {
  const findings: string[] = [];
  try {
    lintTbsCertificate(tbsCertificate, policy, findings);
  } catch (error) {
    if (!(error instanceof DerFramingError)) throw error;
    findings.push(`TBSCertificate is malformed: ${error.message}`);
  }
  if (findings.length > 0) throw new CertificateLintFailed([...new Set(findings)]);
}

/** Same for a TBSCertList. */
export function lintRevocationList(tbsCertList: Uint8Array, policy: RevocationListLintPolicy): void {
  const findings: string[] = [];
  try {
    lintTbsCertList(tbsCertList, policy, findings);
  } catch (error) {
    if (!(error instanceof DerFramingError)) throw error;
    findings.push(`TBSCertList is malformed: ${error.message}`);
  }
  if (findings.length > 0) throw new CertificateLintFailed([...new Set(findings)]);
}

// ---------------------------------------------------------------------------
// Certificates (RFC 5280 §4)

// [0] EXPLICIT Version ::= v3(2) (§4.1.2.1: extensions require v3).
const VERSION_3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);
const VERSION_TAG = 0xa0;
const EXTENSIONS_TAG = 0xa3;

type Purpose = CertificateLintPolicy['purpose'];
const PURPOSE_TEXT: Record<Purpose, string> = { client: 'client certificate', 'ocsp-responder': 'OCSP responder certificate', ca: 'CA certificate' };

/** The subject key families ccm certifies; the key usages each can serve differ (RFC 5480 §3, RFC 8410 §5, RFC 4055 §1.2). */
type KeyFamily = 'rsa' | 'ec' | 'ed25519';
const KEY_FAMILIES: ReadonlyArray<readonly [Uint8Array, KeyFamily]> = [
  [oidContent('1.2.840.10045.2.1'), 'ec'],
  [oidContent('1.3.101.112'), 'ed25519'],
  [oidContent('1.2.840.113549.1.1.1'), 'rsa'],
];

const ID_KP_CLIENT_AUTH = oidContent('1.3.6.1.5.5.7.3.2');
const ID_KP_OCSP_SIGNING = oidContent('1.3.6.1.5.5.7.3.9');

/** §4.2.1.3 KeyUsage bit numbers. */
const KeyUsageBit = {
  digitalSignature: 0,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;
type KeyUsageName = keyof typeof KeyUsageBit;

/** What each key family cannot do, so a keyUsage asking for it is a certificate the key cannot honour. */
const IMPOSSIBLE_KEY_USAGES: Record<KeyFamily, { readonly what: string; readonly usages: readonly KeyUsageName[] }> = {
  // RFC 5480 §3: an id-ecPublicKey key signs or agrees keys; it encrypts nothing.
  ec: { what: 'an EC key', usages: ['keyEncipherment', 'dataEncipherment'] },
  // RFC 8410 §5: Ed25519 is a signature algorithm only (X25519 is the agreement key).
  ed25519: { what: 'an Ed25519 key', usages: ['keyEncipherment', 'dataEncipherment', 'keyAgreement'] },
  // RFC 4055 §1.2 / RFC 3279 §2.3.1: RSA signs and encrypts; it has no key agreement.
  rsa: { what: 'an RSA key', usages: ['keyAgreement'] },
};

function lintTbsCertificate(input: Uint8Array, policy: CertificateLintPolicy, findings: string[]): void {
  const fields = readChildren(expectTag(readSingleElement(input), DerTag.sequence, 'TBSCertificate'));
  let index = 0;
  if (fields[0]?.tag === VERSION_TAG) {
    index = 1;
    if (!equalBytes(fields[0].bytes, VERSION_3)) findings.push('version is not v3');
  } else {
    findings.push('version is not v3');
  }
  const serialNumber = expectTag(fields[index++], DerTag.integer, 'serialNumber');
  const signature = expectTag(fields[index++], DerTag.sequence, 'signature');
  const issuer = expectTag(fields[index++], DerTag.sequence, 'issuer');
  const validity = expectTag(fields[index++], DerTag.sequence, 'validity');
  const subject = expectTag(fields[index++], DerTag.sequence, 'subject');
  const subjectPublicKeyInfo = expectTag(fields[index++], DerTag.sequence, 'subjectPublicKeyInfo');
  // issuerUniqueID [1], subjectUniqueID [2] (primitive or constructed), extensions [3], each at most once and in that order.
  let extensionsField: DerElement | undefined;
  let lastTagNumber = 0;
  for (; index < fields.length; index++) {
    const field = fields[index]!;
    const tagNumber = field.tag & 0x1f;
    if ((field.tag & 0xc0) !== 0x80 || tagNumber <= lastTagNumber || tagNumber > 3 || (tagNumber === 3 && field.tag !== EXTENSIONS_TAG)) {
      throw new DerFramingError(`unexpected field with tag 0x${field.tag.toString(16)}`);
    }
    lastTagNumber = tagNumber;
    if (tagNumber === 3) extensionsField = field;
    // §4.1.2.8: CAs conforming to this profile MUST NOT generate certificates with unique identifiers.
    else findings.push('unique identifiers present');
  }

  lintSerialNumber(serialNumber.content, 'serial number', findings);
  // §4.1.2.3: MUST be the algorithm of signatureAlgorithm, which the encoder writes for the key custody signs with.
  if (!equalBytes(signature.bytes, signatureAlgorithmOf(policy.signingAlgorithm))) findings.push('signature algorithm does not match the signing key');

  // §4.1.2.4: non-empty, and matched byte for byte against the issuer's subject in path building.
  if (issuer.content.length === 0) findings.push('issuer name is empty');
  if (policy.issuer === null) {
    if (!equalBytes(issuer.bytes, subject.bytes)) findings.push('issuer name is not the subject name of a self-signed certificate');
    if (policy.purpose !== 'ca') findings.push(`self-signed ${PURPOSE_TEXT[policy.purpose]}`);
  } else if (!equalBytes(issuer.bytes, policy.issuer.subjectName)) {
    findings.push("issuer name is not the issuer's subject name");
  }

  guarded(findings, 'validity', () => lintValidity(validity, policy.issuer, findings));

  const subjectEmpty = subject.content.length === 0;
  // §4.1.2.6: a CA's subject is what the certificates it issues name as issuer.
  if (subjectEmpty && policy.purpose === 'ca') findings.push('subject is empty in a CA certificate');
  guarded(findings, 'subject', () => lintSubject(subject, findings));

  let keyFamily: KeyFamily | null = null;
  let subjectKeyIdentifier: Uint8Array | null = null;
  guarded(findings, 'subjectPublicKeyInfo', () => {
    const [algorithm, subjectPublicKey, ...rest] = readChildren(subjectPublicKeyInfo);
    if (rest.length > 0) throw new DerFramingError('extra fields');
    const [algorithmOid] = readChildren(expectTag(algorithm, DerTag.sequence, 'algorithm'));
    const oid = expectTag(algorithmOid, DerTag.objectIdentifier, 'algorithm').content;
    for (const [familyOid, family] of KEY_FAMILIES) if (equalBytes(familyOid, oid)) keyFamily = family;
    if (keyFamily === null) findings.push(`subject public key algorithm ${oidText(algorithmOid!)} is not one ccm certifies`);
    const bitString = expectTag(subjectPublicKey, DerTag.bitString, 'subjectPublicKey').content;
    if (bitString.length < 2 || bitString[0] !== 0) throw new DerFramingError('subjectPublicKey is not a whole-octet BIT STRING');
    // §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value, without tag, length and unused-bits octet.
    subjectKeyIdentifier = hash('sha1', bitString.subarray(1), 'buffer');
  });

  const extensions = extensionsField === undefined ? new Map<string, LintExtension>() : readExtensions(extensionsField, findings);
  lintCertificateExtensions(extensions, policy, keyFamily, subjectKeyIdentifier, subjectEmpty, findings);
}

function lintValidity(validity: DerElement, issuer: LintIssuer | null, findings: string[]): void {
  const [notBeforeElement, notAfterElement, ...rest] = readChildren(validity);
  if (rest.length > 0) throw new DerFramingError('extra fields');
  const notBefore = readTime(notBeforeElement, 'notBefore', findings);
  const notAfter = readTime(notAfterElement, 'notAfter', findings);
  if (notBefore !== null && notAfter !== null && notAfter < notBefore) findings.push('notAfter is before notBefore');
  // §6.1.3 (a)(2) is checked per certificate, but a certificate outliving its issuer's only fails later, on a device.
  if (issuer !== null) {
    if (notBefore !== null && notBefore < issuer.notBefore.getTime()) findings.push("notBefore is before the issuer's notBefore");
    if (notAfter !== null && notAfter > issuer.notAfter.getTime()) findings.push("notAfter is after the issuer's notAfter");
  }
}

function lintCertificateExtensions(
  extensions: ReadonlyMap<string, LintExtension>,
  policy: CertificateLintPolicy,
  keyFamily: KeyFamily | null,
  subjectKeyIdentifier: Uint8Array | null,
  subjectEmpty: boolean,
  findings: string[],
): void {
  const isCa = policy.purpose === 'ca';
  const what = PURPOSE_TEXT[policy.purpose];

  // §4.2.1.9: MUST be critical in a CA certificate; ccm marks it critical in every certificate so no verifier mistakes a device for a CA.
  const basicConstraints = extensions.get('basic constraints');
  if (basicConstraints === undefined) findings.push('basic constraints missing');
  else {
    if (!basicConstraints.critical) findings.push('basic constraints not critical');
    guarded(findings, 'basic constraints', () => lintBasicConstraints(basicConstraints.value, isCa, what, findings));
  }

  // §4.2.1.3: SHOULD be critical; MUST be present in a certificate whose key signs certificates or CRLs.
  const keyUsage = extensions.get('key usage');
  if (keyUsage === undefined) findings.push('key usage missing');
  else {
    if (!keyUsage.critical) findings.push('key usage not critical');
    guarded(findings, 'key usage', () => lintKeyUsage(keyUsage.value, isCa, what, keyFamily, findings));
  }

  // §4.2.1.12: the purpose a relying party holds the key to (RFC 6960 §4.2.2.2 for a delegated OCSP responder).
  const requiredPurpose = policy.purpose === 'client' ? ID_KP_CLIENT_AUTH : policy.purpose === 'ocsp-responder' ? ID_KP_OCSP_SIGNING : null;
  const extendedKeyUsage = extensions.get('extended key usage');
  if (extendedKeyUsage === undefined) {
    if (requiredPurpose !== null) findings.push('extended key usage missing');
  } else {
    guarded(findings, 'extended key usage', () => {
      const value = extendedKeyUsage.value;
      const list = only(new ElementFrame(), value, 'ExtKeyUsageSyntax', DerTag.sequence);
      if (list.start === list.end) findings.push('extended key usage is empty');
      const purpose = new ElementFrame();
      let found = false;
      for (let at = list.start; at < list.end; ) {
        at = purpose.read(value, at, list.end, 'KeyPurposeId', DerTag.objectIdentifier);
        if (requiredPurpose !== null && equalRange(requiredPurpose, value, purpose.start, purpose.end)) found = true;
      }
      if (requiredPurpose !== null && !found) findings.push(`extended key usage lacks ${requiredPurpose === ID_KP_CLIENT_AUTH ? 'id-kp-clientAuth' : 'id-kp-OCSPSigning'}`);
    });
  }

  // §4.2.1.2: MUST be non-critical; ccm writes method (1), so a chain built by any tool links up.
  const ski = extensions.get('subject key identifier');
  if (ski === undefined) findings.push('subject key identifier missing');
  else {
    if (ski.critical) findings.push('subject key identifier is critical');
    guarded(findings, 'subject key identifier', () => {
      const keyIdentifier = only(new ElementFrame(), ski.value, 'KeyIdentifier', DerTag.octetString);
      if (subjectKeyIdentifier !== null && !equalRange(subjectKeyIdentifier, ski.value, keyIdentifier.start, keyIdentifier.end)) {
        findings.push('subject key identifier does not match the subject key');
      }
    });
  }

  // §4.2.1.1: MUST be present (ccm writes it in self-signed certificates too) and non-critical.
  const expectedAuthority = policy.issuer === null ? subjectKeyIdentifier : policy.issuer.subjectKeyIdentifier;
  lintAuthorityKeyIdentifier(extensions.get('authority key identifier'), expectedAuthority, policy.issuer === null ? "the certificate's own key identifier" : "the issuer's key identifier", findings);

  const subjectAltName = extensions.get('subject alternative name');
  // §4.1.2.6: with an empty subject, the identity is in the SAN, which MUST then be critical.
  if (subjectEmpty && (subjectAltName === undefined || !subjectAltName.critical)) findings.push('empty subject without a critical subject alternative name');
  if (subjectAltName !== undefined) guarded(findings, 'subject alternative name', () => lintSubjectAltName(subjectAltName.value, findings));

  const nameConstraints = extensions.get('name constraints');
  if (nameConstraints !== undefined) {
    // §4.2.1.10: only in CA certificates, and MUST be critical.
    if (!isCa) findings.push(`name constraints in a ${what}`);
    if (!nameConstraints.critical) findings.push('name constraints not critical');
  }
  // §4.2.2.1: MUST be non-critical.
  if (extensions.get('authority information access')?.critical) findings.push('authority information access is critical');
  for (const [name, extension] of extensions) {
    if (extension.critical && !CERTIFICATE_EXTENSIONS.has(name)) findings.push(`critical extension ${name} that ccm does not write`);
  }
}

/** The extensions the certificate encoder writes. */
const CERTIFICATE_EXTENSIONS = new Set([
  'basic constraints',
  'key usage',
  'extended key usage',
  'subject key identifier',
  'authority key identifier',
  'subject alternative name',
  'name constraints',
  'CRL distribution points',
  'authority information access',
  'OCSP no-check',
]);

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }. */
function lintBasicConstraints(value: Uint8Array, isCa: boolean, what: string, findings: string[]): void {
  const sequence = only(new ElementFrame(), value, 'BasicConstraints', DerTag.sequence);
  const part = new ElementFrame();
  let cA = false;
  let pathLenConstraint = false;
  // The fields in their order, each at most once: 0 before cA, 1 after it, 2 after pathLenConstraint.
  let field = 0;
  for (let at = sequence.start; at < sequence.end; ) {
    at = part.read(value, at, sequence.end, 'BasicConstraints field');
    if (field === 0 && part.tag === DerTag.boolean) {
      field = 1;
      if (part.end - part.start !== 1 || (value[part.start] !== 0 && value[part.start] !== 0xff)) throw new DerFramingError('cA is not a DER BOOLEAN');
      cA = value[part.start] === 0xff;
      // X.690 §11.5: a value equal to its DEFAULT is left out in DER.
      if (!cA) findings.push('basic constraints cA FALSE written out (DER omits the default)');
    } else if (field < 2 && part.tag === DerTag.integer) {
      field = 2;
      pathLenConstraint = true;
      if (part.start === part.end) throw new DerFramingError('empty pathLenConstraint');
      if ((value[part.start]! & 0x80) !== 0) findings.push('basic constraints pathLenConstraint is negative');
    } else {
      throw new DerFramingError('unexpected fields');
    }
  }
  if (isCa && !cA) findings.push('basic constraints cA is not TRUE in a CA certificate');
  if (!isCa && cA) findings.push(`basic constraints cA is TRUE in a ${what}`);
  // §4.2.1.9: CAs MUST NOT include pathLenConstraint unless cA is asserted.
  if (pathLenConstraint && !cA) findings.push('basic constraints pathLenConstraint without cA');
}

/** KeyUsage ::= BIT STRING; bit 0 (digitalSignature) is the most significant bit of the first octet. */
function lintKeyUsage(value: Uint8Array, isCa: boolean, what: string, keyFamily: KeyFamily | null, findings: string[]): void {
  const bitString = only(new ElementFrame(), value, 'KeyUsage', DerTag.bitString);
  const content = value.subarray(bitString.start, bitString.end);
  const unusedBits = content[0];
  if (unusedBits === undefined || unusedBits > 7 || (content.length === 1 && unusedBits !== 0)) throw new DerFramingError('invalid unused-bits octet');
  if (content.length > 1) {
    // X.690 §11.2.2: a named-bit list is written without trailing zero bits, and unused bits are zero (§11.2.1).
    const last = content[content.length - 1]!;
    if ((last & ((1 << unusedBits) - 1)) !== 0 || (last & (1 << unusedBits)) === 0) findings.push('key usage is not DER (trailing zero bits)');
  }
  // The named bits fit in the first two octets; anything later names no usage.
  const bits = ((content[1] ?? 0) << 8) | (content[2] ?? 0);
  const has = (usage: KeyUsageName) => (bits & (0x8000 >> KeyUsageBit[usage])) !== 0;
  let beyond = (bits & 0x7f) !== 0;
  for (let index = 3; index < content.length; index++) if (content[index] !== 0) beyond = true;
  if (beyond) findings.push('key usage has bits beyond decipherOnly');
  // §4.2.1.3: at least one bit MUST be set.
  if (bits === 0 && !beyond) findings.push('key usage has no bits set');

  if (isCa) {
    if (!has('keyCertSign')) findings.push('key usage lacks keyCertSign in a CA certificate');
  } else {
    // Client authentication signs the TLS handshake; an OCSP responder signs responses.
    if (!has('digitalSignature')) findings.push('key usage lacks digitalSignature');
    if (has('keyCertSign')) findings.push(`key usage has keyCertSign in a ${what}`);
    if (has('cRLSign')) findings.push(`key usage has cRLSign in a ${what}`);
  }
  if (keyFamily !== null) {
    const impossible = IMPOSSIBLE_KEY_USAGES[keyFamily];
    for (const usage of impossible.usages) if (has(usage)) findings.push(`key usage ${usage} is not for ${impossible.what}`);
  }
  // §4.2.1.3: encipherOnly and decipherOnly qualify keyAgreement and mean nothing without it.
  if ((has('encipherOnly') || has('decipherOnly')) && !has('keyAgreement')) findings.push('key usage encipherOnly or decipherOnly without keyAgreement');
}

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName (§4.2.1.6), of the forms ccm writes. */
function lintSubjectAltName(value: Uint8Array, findings: string[]): void {
  const list = only(new ElementFrame(), value, 'GeneralNames', DerTag.sequence);
  if (list.start === list.end) findings.push('subject alternative name is empty');
  const name = new ElementFrame();
  for (let at = list.start; at < list.end; ) {
    at = name.read(value, at, list.end, 'GeneralName');
    const text = value.subarray(name.start, name.end);
    switch (name.tag) {
      case 0x81: // [1] rfc822Name IA5String
        if (!isMailbox(text)) findings.push('subject alternative name rfc822Name is not a mailbox');
        break;
      case 0x82: // [2] dNSName IA5String
        if (!isHostName(text, 0, text.length, true)) findings.push('subject alternative name dNSName is not a valid host name');
        break;
      case 0x86: // [6] uniformResourceIdentifier IA5String
        if (!isPrintableAscii(text, 0, text.length)) findings.push('subject alternative name URI is not printable ASCII');
        else if (!hasUriScheme(text)) findings.push('subject alternative name URI has no scheme');
        break;
      case 0x87: // [7] iPAddress OCTET STRING
        if (text.length !== 4 && text.length !== 16) findings.push('subject alternative name iPAddress is not 4 or 16 octets');
        break;
      default:
        findings.push('subject alternative name has a name form ccm does not write');
    }
  }
}

// ---------------------------------------------------------------------------
// Subject names (RFC 5280 §4.1.2.6, Appendix A)

/**
 * `directory`: DirectoryString, which §4.1.2.4 lets conforming CAs write as
 * PrintableString or UTF8String only; `printable`: PrintableString alone
 * (X520countryName, X520SerialNumber); `ia5`: IA5String (PKCS #9
 * emailAddress, RFC 4519 domainComponent).
 */
type AttributeStrings = 'directory' | 'printable' | 'ia5';

interface AttributeBound {
  readonly name: string;
  readonly oid: Uint8Array;
  readonly strings: AttributeStrings;
  /** Upper bound in characters (Appendix A ub-*). */
  readonly maximum: number;
  /** countryName: exactly two characters; domainComponent: one DNS label. */
  readonly shape?: 'country' | 'label';
}

/** Most frequent first: the list is searched for every attribute of every subject. */
const ATTRIBUTE_BOUNDS: readonly AttributeBound[] = [
  { name: 'CN', oid: oidContent('2.5.4.3'), strings: 'directory', maximum: 64 }, // ub-common-name
  { name: 'O', oid: oidContent('2.5.4.10'), strings: 'directory', maximum: 64 }, // ub-organization-name
  { name: 'OU', oid: oidContent('2.5.4.11'), strings: 'directory', maximum: 64 }, // ub-organizational-unit-name
  { name: 'C', oid: oidContent('2.5.4.6'), strings: 'printable', maximum: 2, shape: 'country' }, // ub-country-name-alpha-length
  { name: 'serialNumber', oid: oidContent('2.5.4.5'), strings: 'printable', maximum: 64 }, // ub-serial-number
  { name: 'L', oid: oidContent('2.5.4.7'), strings: 'directory', maximum: 128 }, // ub-locality-name
  { name: 'ST', oid: oidContent('2.5.4.8'), strings: 'directory', maximum: 128 }, // ub-state-name
  { name: 'title', oid: oidContent('2.5.4.12'), strings: 'directory', maximum: 64 }, // ub-title
  { name: 'DC', oid: oidContent('0.9.2342.19200300.100.1.25'), strings: 'ia5', maximum: 63, shape: 'label' }, // RFC 1035 §2.3.4 label
  { name: 'emailAddress', oid: oidContent('1.2.840.113549.1.9.1'), strings: 'ia5', maximum: 255 }, // ub-emailaddress-length
  { name: 'SN', oid: oidContent('2.5.4.4'), strings: 'directory', maximum: 32768 }, // ub-name
  { name: 'givenName', oid: oidContent('2.5.4.42'), strings: 'directory', maximum: 32768 }, // ub-name
  { name: 'pseudonym', oid: oidContent('2.5.4.65'), strings: 'directory', maximum: 128 }, // ub-pseudonym
  { name: 'UID', oid: oidContent('0.9.2342.19200300.100.1.1'), strings: 'directory', maximum: 256 }, // RFC 1274 ub-user-identifier
];

const EXPECTED_STRINGS: Record<AttributeStrings, string> = { directory: 'a UTF8String or PrintableString', printable: 'a PrintableString', ia5: 'an IA5String' };

function lintSubject(subject: DerElement, findings: string[]): void {
  const name = subject.content;
  const rdn = new ElementFrame();
  const attribute = new ElementFrame();
  const type = new ElementFrame();
  const value = new ElementFrame();
  for (let offset = 0; offset < name.length; ) {
    offset = rdn.read(name, offset, name.length, 'RelativeDistinguishedName', DerTag.set);
    if (rdn.start === rdn.end) findings.push('subject has an empty RDN');
    for (let at = rdn.start; at < rdn.end; ) {
      at = attribute.read(name, at, rdn.end, 'AttributeTypeAndValue', DerTag.sequence);
      type.read(name, attribute.start, attribute.end, 'attribute type', DerTag.objectIdentifier);
      if (type.end === attribute.end || value.read(name, type.end, attribute.end, 'attribute value') !== attribute.end) {
        throw new DerFramingError('AttributeTypeAndValue is not a type and a value');
      }
      lintAttribute(name, type, value, findings);
    }
  }
}

function lintAttribute(name: Uint8Array, type: ElementFrame, value: ElementFrame, findings: string[]): void {
  let bound: AttributeBound | undefined;
  for (const candidate of ATTRIBUTE_BOUNDS) {
    if (equalRange(candidate.oid, name, type.start, type.end)) {
      bound = candidate;
      break;
    }
  }
  // The encoder writes only attributes whose syntax it knows; anything else got in by mistake.
  if (bound === undefined) {
    findings.push(`subject attribute ${oidText(oidElement(name.subarray(type.start, type.end)))} is not one ccm writes`);
    return;
  }
  const text = name.subarray(value.start, value.end);
  const attribute = bound.name;
  let characters: number;
  if (value.tag === DerTag.utf8String && bound.strings === 'directory') {
    if (!isUtf8(text)) {
      findings.push(`subject ${attribute} is not valid UTF-8`);
      return;
    }
    characters = utf8Characters(text);
  } else if (value.tag === DerTag.printableString && bound.strings !== 'ia5') {
    if (!isPrintableString(text)) findings.push(`subject ${attribute} has characters outside PrintableString`);
    characters = text.length;
  } else if (value.tag === DerTag.ia5String && bound.strings === 'ia5') {
    if (!isAscii(text)) findings.push(`subject ${attribute} is not ASCII`);
    characters = text.length;
  } else {
    findings.push(`subject ${attribute} is not ${EXPECTED_STRINGS[bound.strings]}`);
    return;
  }
  if (characters === 0) findings.push(`subject ${attribute} is empty`);
  else if (bound.shape === 'country' && characters !== 2) findings.push(`subject ${attribute} is not two characters`);
  else if (characters > bound.maximum) findings.push(`subject ${attribute} longer than ${bound.maximum} characters`);
  else if (bound.shape === 'label' && !isLabel(text, 0, text.length)) findings.push(`subject ${attribute} is not a DNS label`);
}

// ---------------------------------------------------------------------------
// CRLs (RFC 5280 §5)

// §5.1.2.1: Version ::= v2(1), required when the CRL carries extensions.
const VERSION_2 = Uint8Array.of(0x02, 0x01, 0x01);
const CRL_EXTENSIONS_TAG = 0xa0;

/** The extensions the CRL encoder writes. */
const REVOCATION_LIST_EXTENSIONS = new Set(['authority key identifier', 'CRL number', 'issuing distribution point']);

function lintTbsCertList(input: Uint8Array, policy: RevocationListLintPolicy, findings: string[]): void {
  const fields = readChildren(expectTag(readSingleElement(input), DerTag.sequence, 'TBSCertList'));
  let index = 0;
  if (fields[0]?.tag === DerTag.integer) {
    index = 1;
    if (!equalBytes(fields[0].bytes, VERSION_2)) findings.push('version is not v2');
  } else {
    findings.push('version is not v2');
  }
  const signature = expectTag(fields[index++], DerTag.sequence, 'signature');
  const issuer = expectTag(fields[index++], DerTag.sequence, 'issuer');
  const thisUpdateElement = fields[index++];
  if (thisUpdateElement === undefined || !isTimeTag(thisUpdateElement.tag)) throw new DerFramingError('thisUpdate is missing');
  const nextUpdateElement = fields[index] !== undefined && isTimeTag(fields[index]!.tag) ? fields[index++] : undefined;
  const revoked = fields[index]?.tag === DerTag.sequence ? fields[index++] : undefined;
  const extensionsField = fields[index]?.tag === CRL_EXTENSIONS_TAG ? fields[index++] : undefined;
  if (index < fields.length) throw new DerFramingError(`unexpected field with tag 0x${fields[index]!.tag.toString(16)}`);

  // §5.1.2.2 / §5.1.1.2: the same AlgorithmIdentifier as the signature custody makes.
  if (!equalBytes(signature.bytes, signatureAlgorithmOf(policy.signingAlgorithm))) findings.push('signature algorithm does not match the signing key');
  // §5.1.2.3: matched against the CA certificate's subject.
  if (!equalBytes(issuer.bytes, policy.issuer.subjectName)) findings.push("issuer name is not the issuer's subject name");

  const thisUpdate = readTime(thisUpdateElement, 'thisUpdate', findings);
  // §5.1.2.5: conforming CRL issuers MUST include nextUpdate.
  if (nextUpdateElement === undefined) findings.push('nextUpdate missing');
  else {
    const nextUpdate = readTime(nextUpdateElement, 'nextUpdate', findings);
    if (thisUpdate !== null && nextUpdate !== null && nextUpdate <= thisUpdate) findings.push('nextUpdate is not after thisUpdate');
  }

  if (revoked !== undefined) guarded(findings, 'revokedCertificates', () => lintRevokedCertificates(revoked, findings));

  const extensions = extensionsField === undefined ? new Map<string, LintExtension>() : readExtensions(extensionsField, findings);
  // §5.2.1: MUST be included.
  lintAuthorityKeyIdentifier(extensions.get('authority key identifier'), policy.issuer.subjectKeyIdentifier, "the issuer's key identifier", findings);
  // §5.2.3: MUST be included, non-critical, non-negative, at most 20 octets.
  const crlNumber = extensions.get('CRL number');
  if (crlNumber === undefined) findings.push('CRL number missing');
  else {
    if (crlNumber.critical) findings.push('CRL number is critical');
    guarded(findings, 'CRL number', () => {
      const content = expectTag(readSingleElement(crlNumber.value), DerTag.integer, 'CRLNumber').content;
      if (content.length === 0) throw new DerFramingError('empty INTEGER');
      if ((content[0]! & 0x80) !== 0) findings.push('CRL number is negative');
      if (content.length > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) findings.push('CRL number is not minimally encoded');
      if (content.length > 20) findings.push('CRL number longer than 20 octets');
    });
  }
  // §5.2.5: MUST be critical.
  const issuingDistributionPoint = extensions.get('issuing distribution point');
  if (issuingDistributionPoint !== undefined && !issuingDistributionPoint.critical) findings.push('issuing distribution point not critical');
  for (const [name, extension] of extensions) {
    if (extension.critical && !REVOCATION_LIST_EXTENSIONS.has(name)) findings.push(`critical extension ${name} that ccm does not write`);
  }
}

/**
 * revokedCertificates: SEQUENCE OF SEQUENCE { userCertificate, revocationDate, crlEntryExtensions OPTIONAL }.
 * A CRL may hold hundreds of thousands of entries, so the entries are walked
 * in place, and each kind of finding is reported once with where it first
 * occurs and how often, rather than once per entry.
 */
function lintRevokedCertificates(revoked: DerElement, findings: string[]): void {
  const content = revoked.content;
  // §5.1.2.6: when there are no revoked certificates, the list MUST be absent.
  if (content.length === 0) findings.push('revokedCertificates is present but empty');
  const tallies = new Map<string, { first: number; count: number }>();
  const entryFindings: string[] = [];
  const seen = new Set<string>();
  const entry = new ElementFrame();
  const field = new ElementFrame();
  const extension = new ElementFrame();
  const part = new ElementFrame();
  let index = 0;
  for (let offset = 0; offset < content.length; index++) {
    offset = entry.read(content, offset, content.length, 'revoked entry', DerTag.sequence);
    let at = field.read(content, entry.start, entry.end, 'userCertificate', DerTag.integer);
    const serial = content.subarray(field.start, field.end);
    lintSerialNumber(serial, 'revoked serial number', entryFindings);
    if (at === entry.end) throw new DerFramingError(`revoked entry ${index} has no revocationDate`);
    at = field.read(content, at, entry.end, 'revocationDate');
    if (!isTimeTag(field.tag)) throw new DerFramingError(`revoked entry ${index} has no revocationDate`);
    readTimeAt(content, field.start, field.end, field.tag, 'revocationDate', entryFindings);
    if (at < entry.end) {
      at = field.read(content, at, entry.end, 'crlEntryExtensions', DerTag.sequence);
      if (field.start === field.end) entryFindings.push('entry extensions present but empty');
      for (let next = field.start; next < field.end; ) {
        next = extension.read(content, next, field.end, 'Extension', DerTag.sequence);
        let inner = part.read(content, extension.start, extension.end, 'extnID', DerTag.objectIdentifier);
        // §5.3.1: reasonCode, the one entry extension ccm writes, is non-critical; so is invalidityDate (§5.3.2).
        const reasonCode = equalRange(ID_CE_REASON_CODE, content, part.start, part.end);
        if (inner < extension.end) inner = part.read(content, inner, extension.end, 'extnValue');
        if (part.tag === DerTag.boolean) {
          const critical = part.end - part.start === 1 ? content[part.start] : -1;
          if (critical !== 0 && critical !== 0xff) throw new DerFramingError(`revoked entry ${index}: critical is not a DER BOOLEAN`);
          if (critical === 0) entryFindings.push('entry extension critical FALSE written out (DER omits the default)');
          else entryFindings.push(reasonCode ? 'reason code is critical' : 'critical entry extension that ccm does not write');
          if (inner < extension.end) inner = part.read(content, inner, extension.end, 'extnValue');
        }
        if (part.tag !== DerTag.octetString || inner !== extension.end) throw new DerFramingError(`revoked entry ${index}: malformed Extension`);
      }
    }
    if (at !== entry.end) throw new DerFramingError(`revoked entry ${index} has extra fields`);
    // Two entries for one certificate (perhaps with different reasons) would leave relying parties to pick one.
    const key = String.fromCharCode.apply(null, serial as unknown as number[]);
    if (seen.has(key)) entryFindings.push('revoked serial number listed more than once');
    else seen.add(key);
    if (entryFindings.length > 0) {
      for (const finding of entryFindings) {
        const known = tallies.get(finding);
        if (known === undefined) tallies.set(finding, { first: index, count: 1 });
        else known.count++;
      }
      entryFindings.length = 0;
    }
  }
  for (const [finding, { first, count }] of tallies) findings.push(count === 1 ? `${finding} (entry ${first})` : `${finding} (entry ${first} and ${count - 1} more)`);
}

const ID_CE_REASON_CODE = oidContent('2.5.29.21');

// ---------------------------------------------------------------------------
// Shared by both

interface LintExtension {
  readonly critical: boolean;
  /** The extnValue OCTET STRING's content: the DER of the extension's own value. */
  readonly value: Uint8Array;
}

/** The `[n] EXPLICIT Extensions` field of a certificate or CRL, by extension name (the dotted OID for those without one). */
function readExtensions(field: DerElement, findings: string[]): Map<string, LintExtension> {
  const input = field.content;
  const list = only(new ElementFrame(), input, 'Extensions', DerTag.sequence);
  // §4.1 / §5.1: Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension; "none" is written by leaving the field out.
  if (list.start === list.end) findings.push('extensions present but empty');
  const extensions = new Map<string, LintExtension>();
  const extension = new ElementFrame();
  const part = new ElementFrame();
  for (let at = list.start; at < list.end; ) {
    at = extension.read(input, at, list.end, 'Extension', DerTag.sequence);
    let inner = part.read(input, extension.start, extension.end, 'extnID', DerTag.objectIdentifier);
    const name = extensionNameOf(input, part.start, part.end);
    if (inner === extension.end) throw new DerFramingError(`${name} has no extnValue`);
    inner = part.read(input, inner, extension.end, `${name} field`);
    let critical = false;
    if (part.tag === DerTag.boolean) {
      if (part.end - part.start !== 1 || (input[part.start] !== 0 && input[part.start] !== 0xff)) throw new DerFramingError(`${name}: critical is not a DER BOOLEAN`);
      critical = input[part.start] === 0xff;
      // X.690 §11.5: critical DEFAULT FALSE is left out when false.
      if (!critical) findings.push(`${name} critical FALSE written out (DER omits the default)`);
      if (inner === extension.end) throw new DerFramingError(`${name} has no extnValue`);
      inner = part.read(input, inner, extension.end, `${name} extnValue`);
    }
    if (part.tag !== DerTag.octetString) throw new DerFramingError(`${name}: extnValue is not an OCTET STRING`);
    if (inner !== extension.end) throw new DerFramingError(`${name} has extra fields`);
    // §4.2: a certificate MUST NOT include more than one instance of a particular extension (§5.2 likewise for CRLs).
    if (extensions.has(name)) findings.push(`${name} appears more than once`);
    else extensions.set(name, { critical, value: input.subarray(part.start, part.end) });
  }
  return extensions;
}

/** id-ce (2.5.29) extensions by their last arc. */
const ID_CE_NAMES: Readonly<Record<number, string>> = {
  14: 'subject key identifier',
  15: 'key usage',
  17: 'subject alternative name',
  18: 'issuer alternative name',
  19: 'basic constraints',
  20: 'CRL number',
  21: 'reason code',
  24: 'invalidity date',
  27: 'delta CRL indicator',
  28: 'issuing distribution point',
  29: 'certificate issuer',
  30: 'name constraints',
  31: 'CRL distribution points',
  32: 'certificate policies',
  35: 'authority key identifier',
  36: 'policy constraints',
  37: 'extended key usage',
  46: 'freshest CRL',
  54: 'inhibit anyPolicy',
};
const ID_PE_AUTHORITY_INFO_ACCESS = oidContent('1.3.6.1.5.5.7.1.1');
const ID_PKIX_OCSP_NOCHECK = oidContent('1.3.6.1.5.5.7.48.1.5');

/** The name of the extension whose OID content is `input[start, end)`. */
function extensionNameOf(input: Uint8Array, start: number, end: number): string {
  if (end - start === 3 && input[start] === 0x55 && input[start + 1] === 0x1d) {
    const name = ID_CE_NAMES[input[start + 2]!];
    if (name !== undefined) return name;
  } else if (equalRange(ID_PE_AUTHORITY_INFO_ACCESS, input, start, end)) {
    return 'authority information access';
  } else if (equalRange(ID_PKIX_OCSP_NOCHECK, input, start, end)) {
    return 'OCSP no-check';
  }
  return decodeObjectIdentifier(oidElement(input.subarray(start, end)));
}

/** AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] OPTIONAL, authorityCertIssuer [1], authorityCertSerialNumber [2] }; §4.2.1.1: non-critical. */
function lintAuthorityKeyIdentifier(extension: LintExtension | undefined, expected: Uint8Array | null, whose: string, findings: string[]): void {
  if (extension === undefined) {
    findings.push('authority key identifier missing');
    return;
  }
  if (extension.critical) findings.push('authority key identifier is critical');
  guarded(findings, 'authority key identifier', () => {
    const value = extension.value;
    const sequence = only(new ElementFrame(), value, 'AuthorityKeyIdentifier', DerTag.sequence);
    const part = new ElementFrame();
    let keyIdentifier: Uint8Array | null = null;
    for (let at = sequence.start; at < sequence.end; ) {
      at = part.read(value, at, sequence.end, 'AuthorityKeyIdentifier field');
      if (part.tag === 0x80) keyIdentifier = value.subarray(part.start, part.end);
    }
    if (keyIdentifier === null) findings.push('authority key identifier has no keyIdentifier');
    else if (keyIdentifier.length === 0) findings.push('authority key identifier keyIdentifier is empty');
    else if (expected !== null && !equalBytes(keyIdentifier, expected)) findings.push(`authority key identifier does not match ${whose}`);
  });
}

/**
 * RFC 5280 §4.1.2.2 (and §5.1.2.6 for CRL entries) for INTEGER content octets:
 * positive, minimally encoded, at most 20 octets. Empty when the serial is
 * fine; the CA also asks before encoding, so a bad allocation is named as the
 * CA's fault rather than refused as a bad request.
 */
export function serialNumberFindings(content: Uint8Array, what = 'serial number'): string[] {
  if (content.length === 0) return [`${what} is empty`];
  const findings: string[] = [];
  const defect = serialNumberDefect(content);
  if (defect !== null) findings.push(`${what} is ${defect}`);
  if (content.length > MAXIMUM_SERIAL_NUMBER_OCTETS) findings.push(`${what} longer than ${MAXIMUM_SERIAL_NUMBER_OCTETS} octets`);
  return findings;
}

function lintSerialNumber(content: Uint8Array, what: string, findings: string[]): void {
  // The common case allocates nothing: a fresh serial is 16 or 17 octets with no defect.
  if (content.length > 0 && content.length <= MAXIMUM_SERIAL_NUMBER_OCTETS && serialNumberDefect(content) === null) return;
  findings.push(...serialNumberFindings(content, what));
}

function isTimeTag(tag: number): boolean {
  return tag === DerTag.utcTime || tag === DerTag.generalizedTime;
}

/**
 * A Time as milliseconds since the epoch, or null (with a finding) when it is
 * not one RFC 5280 §4.1.2.5.1/§4.1.2.5.2 allows: UTCTime YYMMDDHHMMSSZ or
 * GeneralizedTime YYYYMMDDHHMMSSZ, seconds always, no fractions, Zulu. And
 * §4.1.2.5 (§5.1.2.4 for CRLs): UTCTime through 2049, GeneralizedTime from 2050.
 */
function readTime(element: DerElement | undefined, field: string, findings: string[]): number | null {
  if (element === undefined) throw new DerFramingError(`${field} is missing`);
  return readTimeAt(element.content, 0, element.content.length, element.tag, field, findings);
}

/** `readTime` for the Time whose content is `input[start, end)` and whose tag is `tag`. */
function readTimeAt(input: Uint8Array, start: number, end: number, tag: number, field: string, findings: string[]): number | null {
  const length = end - start;
  let year: number;
  let at: number;
  if (tag === DerTag.utcTime && length === 13) {
    const yy = digits(input, start, 2);
    year = yy < 0 ? -1 : yy < 50 ? 2000 + yy : 1900 + yy;
    at = start + 2;
  } else if (tag === DerTag.generalizedTime && length === 15) {
    year = digits(input, start, 4);
    at = start + 4;
  } else {
    findings.push(`${field} is not a UTCTime or GeneralizedTime of whole seconds in UTC`);
    return null;
  }
  const month = digits(input, at, 2);
  const day = digits(input, at + 2, 2);
  const hour = digits(input, at + 4, 2);
  const minute = digits(input, at + 6, 2);
  const second = digits(input, at + 8, 2);
  if (year < 0 || input[at + 10] !== 0x5a || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || !(hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59)) {
    findings.push(`${field} is not a UTCTime or GeneralizedTime of whole seconds in UTC`);
    return null;
  }
  if (tag === DerTag.generalizedTime && year >= 1950 && year <= 2049) findings.push(`${field} is GeneralizedTime before 2050`);
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC reads years 0-99 as 1900-1999; 2000 is a leap year, so the day checked above exists in it.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year);
  return date.getTime();
}

/** The decimal number in `count` octets at `offset`, or -1 when one is not a digit. */
function digits(text: Uint8Array, offset: number, count: number): number {
  let value = 0;
  for (let index = offset; index < offset + count; index++) {
    const digit = text[index]! - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1]!;
}

/**
 * One DER element's place in a buffer, read in place by the CRL entry walk
 * and the name walk: they visit many small elements, and a DerElement (an
 * object and two subarrays) for each was most of their cost. The same X.690
 * §10 framing rules as readElementAt in der.ts.
 */
class ElementFrame {
  tag = 0;
  /** Where the content starts and ends in the buffer read. */
  start = 0;
  end = 0;

  /** Reads the element at `offset`, which must end by `limit` (and have tag `tag`, when given); returns the offset after it. */
  read(input: Uint8Array, offset: number, limit: number, what: string, tag?: number): number {
    if (offset + 2 > limit) throw new DerFramingError(`${what}: truncated element header`);
    const found = input[offset]!;
    if ((found & 0x1f) === 0x1f) throw new DerFramingError(`${what}: high tag numbers are not used in these structures`);
    if (tag !== undefined && found !== tag) throw new DerFramingError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${found.toString(16)}`);
    let position = offset + 1;
    const first = input[position++]!;
    let length = first;
    if (first === 0x80) throw new DerFramingError(`${what}: indefinite length (BER, not DER)`);
    if (first > 0x80) {
      const octets = first & 0x7f;
      if (octets > 4) throw new DerFramingError(`${what}: length too large`);
      if (position + octets > limit) throw new DerFramingError(`${what}: truncated length`);
      if (input[position] === 0) throw new DerFramingError(`${what}: length not in its shortest form`);
      length = 0;
      for (let index = 0; index < octets; index++) length = length * 256 + input[position++]!;
      if (length < 0x80) throw new DerFramingError(`${what}: length not in its shortest form`);
    }
    if (position + length > limit) throw new DerFramingError(`${what}: truncated element content`);
    this.tag = found;
    this.start = position;
    this.end = position + length;
    return this.end;
  }
}

/** Reads `value` into `frame` as exactly one element with tag `tag`: nothing may follow it. Returns the frame. */
function only(frame: ElementFrame, value: Uint8Array, what: string, tag: number): ElementFrame {
  if (frame.read(value, 0, value.length, what, tag) !== value.length) throw new DerFramingError(`${what}: bytes after the end of the value`);
  return frame;
}

/** Whether `expected` equals `input[start, end)`. */
function equalRange(expected: Uint8Array, input: Uint8Array, start: number, end: number): boolean {
  if (end - start !== expected.length) return false;
  for (let index = 0; index < expected.length; index++) if (input[start + index] !== expected[index]) return false;
  return true;
}

/** Runs one field's check; malformed DER inside it is a finding about that field, so the other fields are still checked. */
function guarded(findings: string[], field: string, check: () => void): void {
  try {
    check();
  } catch (error) {
    if (!(error instanceof DerFramingError)) throw error;
    findings.push(`${field} is malformed: ${error.message}`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/** The content octets of an OBJECT IDENTIFIER, what the lint compares (encoded once at load). */
function oidContent(oid: string): Uint8Array {
  return encodeObjectIdentifier(oid).subarray(2);
}

/** An OBJECT IDENTIFIER element around content octets read in place, for decodeObjectIdentifier. */
function oidElement(content: Uint8Array): DerElement {
  return { tag: DerTag.objectIdentifier, constructed: false, bytes: content, content };
}

/** An OID for a finding; a malformed one says so rather than hiding the finding behind a framing error. */
function oidText(oid: DerElement): string {
  try {
    return decodeObjectIdentifier(oid);
  } catch {
    return '(malformed OID)';
  }
}

/** Code points of valid UTF-8: every octet that is not a continuation octet (10xxxxxx) starts one. */
function utf8Characters(text: Uint8Array): number {
  let count = 0;
  for (let index = 0; index < text.length; index++) if ((text[index]! & 0xc0) !== 0x80) count++;
  return count;
}

/** X.680 §41.4: A-Z a-z 0-9 space ' ( ) + , - . / : = ? */
const PRINTABLE = new Uint8Array(128);
for (const character of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?") PRINTABLE[character.charCodeAt(0)] = 1;

function isPrintableString(text: Uint8Array): boolean {
  for (let index = 0; index < text.length; index++) if (text[index]! >= 0x80 || PRINTABLE[text[index]!] === 0) return false;
  return true;
}

function isAscii(text: Uint8Array): boolean {
  for (let index = 0; index < text.length; index++) if (text[index]! >= 0x80) return false;
  return true;
}

/** Visible ASCII, no space: what an IA5String URI or mailbox may hold (RFC 3986 §2, RFC 5321 §4.1.2). */
function isPrintableAscii(text: Uint8Array, start: number, end: number): boolean {
  for (let index = start; index < end; index++) if (text[index]! < 0x21 || text[index]! > 0x7e) return false;
  return end > start;
}

function isLetter(octet: number): boolean {
  return (octet >= 0x41 && octet <= 0x5a) || (octet >= 0x61 && octet <= 0x7a);
}

function isLetterOrDigit(octet: number): boolean {
  return isLetter(octet) || (octet >= 0x30 && octet <= 0x39);
}

/** RFC 1034 §3.5 as relaxed by RFC 1123 §2.1: letters, digits and inner hyphens, 1 to 63 octets. */
function isLabel(text: Uint8Array, start: number, end: number): boolean {
  if (end - start < 1 || end - start > 63 || !isLetterOrDigit(text[start]!) || !isLetterOrDigit(text[end - 1]!)) return false;
  for (let index = start + 1; index < end - 1; index++) if (!isLetterOrDigit(text[index]!) && text[index] !== 0x2d) return false;
  return true;
}

/** §4.2.1.6: preferred name syntax, at most 253 octets; `wildcard` lets a leading "*." label through. */
function isHostName(text: Uint8Array, start: number, end: number, wildcard: boolean): boolean {
  if (end - start > 253) return false;
  if (wildcard && end - start > 2 && text[start] === 0x2a && text[start + 1] === 0x2e) start += 2;
  let labelStart = start;
  for (let index = start; index <= end; index++) {
    if (index === end || text[index] === 0x2e) {
      if (!isLabel(text, labelStart, index)) return false;
      labelStart = index + 1;
    }
  }
  return true;
}

/** §4.2.1.6: an rfc822Name is a Mailbox (RFC 5321 §4.1.2), local@domain, without angle brackets. */
function isMailbox(text: Uint8Array): boolean {
  const at = text.lastIndexOf(0x40);
  return at > 0 && isPrintableAscii(text, 0, at) && text.indexOf(0x40) === at && isHostName(text, at + 1, text.length, false);
}

/** RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":". */
function hasUriScheme(text: Uint8Array): boolean {
  if (text.length === 0 || !isLetter(text[0]!)) return false;
  for (let index = 1; index < text.length; index++) {
    const octet = text[index]!;
    if (octet === 0x3a) return true;
    if (!isLetterOrDigit(octet) && octet !== 0x2b && octet !== 0x2d && octet !== 0x2e) return false;
  }
  return false;
}
