/**
 * Distinguished names: the one model of a subject or issuer name that the
 * rest of ccm handles, its DER encoding for certificates and CSRs, its
 * decoding from certificates and CSRs that come from outside, and its RFC 4514
 * text form for logs, events and API responses.
 *
 * A name is a list of attributes, one per RDN, in encoding order (the first
 * entry is the first, least specific RDN, e.g. C or DC). Multi-valued RDNs are
 * flattened when decoded; ccm never writes them.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Name } from '@peculiar/asn1-x509';
import { DomainError } from '../shared/errors.js';
import { DerFramingError, DerTag, decodeObjectIdentifier, encodeElement, encodeObjectIdentifier, expectTag, readChildren, readSingleElement, type DerElement } from './der.js';
import { subjectTextProblem } from './subject-text.js';

export const NAME_ATTRIBUTES = [
  'CN',
  'SN',
  'serialNumber',
  'C',
  'L',
  'ST',
  'O',
  'OU',
  'title',
  'givenName',
  'pseudonym',
  'emailAddress',
  'DC',
  'UID',
] as const;
export type NameAttribute = (typeof NAME_ATTRIBUTES)[number];

/** An attribute type ccm has no name for, kept as its dotted OID (e.g. '2.5.4.97') when a name is decoded. */
export type AttributeOid = `${number}.${number}.${string}`;

export interface NameEntry {
  readonly attribute: NameAttribute | AttributeOid;
  readonly value: string;
}
export type DistinguishedName = ReadonlyArray<NameEntry>;

type StringType = 'utf8' | 'printable' | 'ia5';

interface AttributeRule {
  readonly oid: string;
  /**
   * RFC 5280 §4.1.2.4: new certificates use UTF8String for DirectoryString;
   * countryName and serialNumber are PrintableString only (Appendix A,
   * X520countryName and X520SerialNumber); emailAddress (PKCS #9) and
   * domainComponent (RFC 4519 §2.4) are IA5String.
   */
  readonly stringType: StringType;
  /** Upper bound in characters, from RFC 5280 Appendix A (ub-*) unless noted. */
  readonly maximumLength: number;
}

const RULES: Record<NameAttribute, AttributeRule> = {
  CN: { oid: '2.5.4.3', stringType: 'utf8', maximumLength: 64 }, // ub-common-name
  SN: { oid: '2.5.4.4', stringType: 'utf8', maximumLength: 32768 }, // ub-name (surname is an X520name)
  serialNumber: { oid: '2.5.4.5', stringType: 'printable', maximumLength: 64 }, // ub-serial-number
  C: { oid: '2.5.4.6', stringType: 'printable', maximumLength: 2 }, // ub-country-name-alpha-length
  L: { oid: '2.5.4.7', stringType: 'utf8', maximumLength: 128 }, // ub-locality-name
  ST: { oid: '2.5.4.8', stringType: 'utf8', maximumLength: 128 }, // ub-state-name
  O: { oid: '2.5.4.10', stringType: 'utf8', maximumLength: 64 }, // ub-organization-name
  OU: { oid: '2.5.4.11', stringType: 'utf8', maximumLength: 64 }, // ub-organizational-unit-name
  title: { oid: '2.5.4.12', stringType: 'utf8', maximumLength: 64 }, // ub-title
  givenName: { oid: '2.5.4.42', stringType: 'utf8', maximumLength: 32768 }, // ub-name
  pseudonym: { oid: '2.5.4.65', stringType: 'utf8', maximumLength: 128 }, // ub-pseudonym
  emailAddress: { oid: '1.2.840.113549.1.9.1', stringType: 'ia5', maximumLength: 255 }, // ub-emailaddress-length
  DC: { oid: '0.9.2342.19200300.100.1.25', stringType: 'ia5', maximumLength: 63 }, // one DNS label (RFC 1035 §2.3.4); RFC 4519 sets no bound
  UID: { oid: '0.9.2342.19200300.100.1.1', stringType: 'utf8', maximumLength: 256 }, // ub-user-identifier, RFC 1274
};

const ATTRIBUTE_BY_OID = new Map<string, NameAttribute>(NAME_ATTRIBUTES.map((attribute) => [RULES[attribute].oid, attribute]));

export function isNameAttribute(value: string): value is NameAttribute {
  return (NAME_ATTRIBUTES as readonly string[]).includes(value);
}

export function attributeOidOf(attribute: NameAttribute): string {
  return RULES[attribute].oid;
}

/** X.680 §41.4: the PrintableString repertoire. */
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const IA5 = /^[\x00-\x7f]*$/;

/**
 * Checks a name against what ccm is willing to sign: known attributes only
 * (an unknown attribute's syntax is unknown, so it cannot be encoded
 * correctly), non-empty values within the RFC 5280 upper bounds, subject
 * text (subject-text.ts), and values representable in the attribute's string
 * type.
 */
export function validateDistinguishedName(dn: DistinguishedName): void {
  for (const { attribute, value } of dn) {
    if (!isNameAttribute(attribute)) throw new DomainError('invalid-request', `subject attribute ${attribute} is not supported`, { attribute });
    const rule = RULES[attribute];
    if (typeof value !== 'string' || value.length === 0) throw new DomainError('invalid-request', `subject ${attribute} must not be empty`, { attribute });
    const characters = [...value].length;
    if (characters > rule.maximumLength) {
      throw new DomainError('invalid-request', `subject ${attribute} is ${characters} characters long; at most ${rule.maximumLength} are allowed (RFC 5280 Appendix A)`, {
        attribute,
        maximumLength: rule.maximumLength,
      });
    }
    const problem = subjectTextProblem(value);
    if (problem !== null) throw new DomainError('invalid-request', `subject ${attribute} ${problem}`, { attribute });
    if (attribute === 'C' && !/^[A-Z]{2}$/.test(value)) {
      throw new DomainError('invalid-request', 'subject C must be a two-letter ISO 3166 country code in capitals', { attribute });
    }
    if (rule.stringType === 'printable' && !PRINTABLE.test(value)) {
      throw new DomainError('invalid-request', `subject ${attribute} may only contain PrintableString characters (letters, digits, space and '()+,-./:=?)`, { attribute });
    }
    if (rule.stringType === 'ia5' && !IA5.test(value)) throw new DomainError('invalid-request', `subject ${attribute} must be ASCII`, { attribute });
  }
}

/**
 * Checks the text of each value only (subject-text.ts), for a name ccm
 * records as it came instead of encoding it: another CA's subject may hold
 * attributes and lengths ccm would not write, but no text that displays as
 * another name. `whose` opens the message ("the CA certificate's"). Throws
 * `invalid-request` with `attribute` and `details`.
 */
export function validateNameText(dn: DistinguishedName, whose: string, details: Record<string, unknown> = {}): void {
  const found = nameTextProblem(dn);
  if (found !== null) throw new DomainError('invalid-request', `${whose} subject ${found.attribute} ${found.problem}`, { ...details, attribute: found.attribute });
}

/** The first value of `dn` that is not subject text (subject-text.ts), and what is wrong with it; null when all are. */
export function nameTextProblem(dn: DistinguishedName): { readonly attribute: NameEntry['attribute']; readonly problem: string } | null {
  for (const { attribute, value } of dn) {
    const problem = subjectTextProblem(value);
    if (problem !== null) return { attribute, problem };
  }
  return null;
}

/** The string type ccm writes `attribute` in; null for an attribute it does not write. */
export function writtenStringType(attribute: NameAttribute | AttributeOid): 'utf8' | 'printable' | 'ia5' | null {
  return isNameAttribute(attribute) ? RULES[attribute].stringType : null;
}

/**
 * The AttributeType OID element and the value's string tag of each attribute,
 * encoded once: a name is encoded for every certificate issued, and going
 * through the asn1-schema object model costs tens of microseconds per name.
 */
const ENCODINGS = Object.fromEntries(
  NAME_ATTRIBUTES.map((attribute) => {
    const rule = RULES[attribute];
    const valueTag = rule.stringType === 'utf8' ? DerTag.utf8String : rule.stringType === 'printable' ? DerTag.printableString : DerTag.ia5String;
    return [attribute, { type: encodeObjectIdentifier(rule.oid), valueTag }];
  }),
) as Record<NameAttribute, { readonly type: Uint8Array; readonly valueTag: number }>;

/** The DER Name for `dn`, one attribute per RDN in the given order. Throws `invalid-request` as `validateDistinguishedName` does. */
export function encodeDistinguishedName(dn: DistinguishedName): Uint8Array {
  validateDistinguishedName(dn);
  const rdns = dn.map(({ attribute, value }) => {
    const { type, valueTag } = ENCODINGS[attribute as NameAttribute];
    // PrintableString and IA5String values were checked to be ASCII, whose UTF-8 is one octet per character, as those types want.
    const attributeValue = encodeElement(valueTag, Buffer.from(value, 'utf8'));
    return encodeElement(DerTag.set, encodeElement(DerTag.sequence, type, attributeValue));
  });
  return encodeElement(DerTag.sequence, ...rdns);
}

/** The ASN.1 string type a decoded value came in: policies may accept only some (a device CSR: UTF8String or PrintableString). */
export type DecodedStringType = 'utf8' | 'printable' | 'ia5' | 'teletex' | 'bmp' | 'universal';

export interface DecodedNameEntry extends NameEntry {
  readonly stringType: DecodedStringType;
}

export interface DecodeNameOptions {
  /** Refuse attribute types ccm has no name for instead of returning them as OIDs. */
  readonly rejectUnknownAttributes?: boolean;
}

/**
 * Decodes a Name (DER bytes, or an already parsed asn1-x509 `Name`). Accepts
 * every DirectoryString alternative plus IA5String, so names from other CAs
 * and old software decode. Throws `invalid-request` on malformed names and
 * values that are not character strings.
 */
export function decodeName(name: Name | Uint8Array, options: DecodeNameOptions = {}): DistinguishedName {
  return decodeNameEntries(name, options).map(({ attribute, value }) => ({ attribute, value }));
}

/** As `decodeName`, keeping the string type of each value. */
export function decodeNameEntries(name: Name | Uint8Array, options: DecodeNameOptions = {}): DecodedNameEntry[] {
  const der = name instanceof Uint8Array ? name : new Uint8Array(AsnConvert.serialize(name));
  try {
    const entries: DecodedNameEntry[] = [];
    for (const rdn of readChildren(expectTag(readSingleElement(der), DerTag.sequence, 'Name'))) {
      const attributes = readChildren(expectTag(rdn, DerTag.set, 'RelativeDistinguishedName'));
      if (attributes.length === 0) throw new DerFramingError('empty RelativeDistinguishedName');
      for (const attributeTypeAndValue of attributes) entries.push(decodeAttribute(attributeTypeAndValue, options));
    }
    return entries;
  } catch (error) {
    if (error instanceof DerFramingError) throw new DomainError('invalid-request', `malformed distinguished name: ${error.message}`);
    throw error;
  }
}

function decodeAttribute(element: DerElement, options: DecodeNameOptions): DecodedNameEntry {
  const [type, value, ...rest] = readChildren(expectTag(element, DerTag.sequence, 'AttributeTypeAndValue'));
  if (rest.length > 0) throw new DerFramingError('AttributeTypeAndValue has extra fields');
  const oid = decodeObjectIdentifier(expectTag(type, DerTag.objectIdentifier, 'attribute type'));
  const known = ATTRIBUTE_BY_OID.get(oid);
  if (known === undefined && options.rejectUnknownAttributes) {
    throw new DomainError('invalid-request', `distinguished name attribute ${oid} is not supported`, { attribute: oid });
  }
  const attribute = known ?? (oid as AttributeOid);
  if (value === undefined) throw new DerFramingError('attribute value is missing');
  return { attribute, ...decodeDirectoryString(value, attribute) };
}

// ignoreBOM: a leading U+FEFF is part of the value; dropped, the name checked and re-encoded would not be the one sent.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** ISO 8859-1, one code point per octet: the WHATWG "latin1" label is windows-1252, which would read the C1 controls 0x80-0x9f as printable characters. */
function latin1(content: Uint8Array): string {
  return Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('latin1');
}

function decodeDirectoryString(element: DerElement, attribute: string): { value: string; stringType: DecodedStringType } {
  const content = element.content;
  switch (element.tag) {
    case DerTag.utf8String:
      try {
        return { value: UTF8.decode(content), stringType: 'utf8' };
      } catch {
        throw new DomainError('invalid-request', `${attribute} is not valid UTF-8`, { attribute });
      }
    case DerTag.printableString:
      // Checked loosely on the way in: many deployed CAs put '@' or '_' in PrintableString.
      return { value: latin1(content), stringType: 'printable' };
    case DerTag.ia5String:
      return { value: latin1(content), stringType: 'ia5' };
    case DerTag.teletexString:
      // T.61 in theory; in practice every producer wrote Latin-1 (RFC 5280 §4.1.2.4 notes the ambiguity).
      return { value: latin1(content), stringType: 'teletex' };
    case DerTag.bmpString:
      return { value: decodeUcs(content, 2, attribute), stringType: 'bmp' };
    case DerTag.universalString:
      return { value: decodeUcs(content, 4, attribute), stringType: 'universal' };
    default:
      throw new DomainError('invalid-request', `${attribute} value is not a character string (tag 0x${element.tag.toString(16)})`, { attribute });
  }
}

/** BMPString (UCS-2, big-endian) and UniversalString (UCS-4, big-endian). */
function decodeUcs(content: Uint8Array, width: 2 | 4, attribute: string): string {
  if (content.length % width !== 0) throw new DomainError('invalid-request', `${attribute} has a truncated character`, { attribute });
  const codePoints: number[] = [];
  for (let i = 0; i < content.length; i += width) {
    const codePoint = width === 2 ? (content[i]! << 8) | content[i + 1]! : ((content[i]! << 24) | (content[i + 1]! << 16) | (content[i + 2]! << 8) | content[i + 3]!) >>> 0;
    if (codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) {
      throw new DomainError('invalid-request', `${attribute} contains an invalid character`, { attribute });
    }
    codePoints.push(codePoint);
  }
  return String.fromCodePoint(...codePoints);
}

/**
 * RFC 4514 string form: RDNs from last to first (§2.1), so the most specific
 * attribute comes first, as in "CN=device-1,O=Acme,C=DE". Type names are the
 * RFC 4514 §3 / RFC 4519 short names; emailAddress keeps the name OpenSSL and
 * most tools print, since RFC 4519 has none; other types are dotted OIDs.
 */
export function formatDistinguishedName(dn: DistinguishedName): string {
  return dn
    .map(({ attribute, value }) => `${attribute}=${escapeAttributeValue(value)}`)
    .reverse()
    .join(',');
}

/** RFC 4514 §2.4. */
function escapeAttributeValue(value: string): string {
  let escaped = '';
  for (let i = 0; i < value.length; i++) {
    const character = value[i]!;
    if (character === '\0') escaped += '\\00';
    else if ('"+,;<>\\'.includes(character)) escaped += `\\${character}`;
    else if (i === 0 && (character === '#' || character === ' ')) escaped += `\\${character}`;
    else if (i === value.length - 1 && character === ' ') escaped += '\\ ';
    else escaped += character;
  }
  return escaped;
}

/** The most specific (last) CN, which is the one RFC 6125 §6.4.4 and brokers use; `null` when there is none. */
export function commonNameOf(dn: DistinguishedName): string | null {
  for (let i = dn.length - 1; i >= 0; i--) if (dn[i]!.attribute === 'CN') return dn[i]!.value;
  return null;
}

/**
 * The inverse of `formatDistinguishedName`, for names ccm printed itself (a
 * certificate's recorded subject): RDNs split at unescaped commas, the
 * RFC 4514 §2.4 escapes it writes undone, encoding order restored. Not a
 * general RFC 4514 parser: hex-string values and multi-valued RDNs are never
 * written by ccm, and are refused.
 */
export function parseFormattedDistinguishedName(text: string): DistinguishedName {
  if (text === '') return [];
  const entries: NameEntry[] = [];
  let type = '';
  let value = '';
  let inValue = false;
  const finish = () => {
    if (!inValue || type === '') throw new DomainError('invalid-request', `"${text}" is not a distinguished name as ccm prints it`);
    entries.push({ attribute: type as NameEntry['attribute'], value });
    type = '';
    value = '';
    inValue = false;
  };
  for (let i = 0; i < text.length; i++) {
    const character = text[i]!;
    if (!inValue) {
      if (character === '=') inValue = true;
      else type += character;
    } else if (character === '\\') {
      const next = text[i + 1];
      if (next === undefined) throw new DomainError('invalid-request', `"${text}" ends in an escape`);
      if (next === '0' && text[i + 2] === '0') {
        value += '\0';
        i += 2;
      } else {
        value += next;
        i += 1;
      }
    } else if (character === ',') {
      finish();
    } else if (character === '+') {
      throw new DomainError('invalid-request', `"${text}" has a multi-valued RDN, which ccm never prints`);
    } else {
      value += character;
    }
  }
  finish();
  return entries.reverse();
}
