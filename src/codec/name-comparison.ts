/**
 * When two distinguished names are the same name (RFC 5280 §7.1): the
 * comparable form that ccm keeps beside every CA's subject, and the reading
 * of a name a broker sends as text (RFC 4514, as OpenSSL and other TLS
 * stacks print it). Pure: no I/O, no policy.
 *
 * Verifiers match a certificate's issuer to a CA's subject after RFC 4518
 * string preparation, not byte for byte: OpenSSL, for one, folds case and
 * collapses white space before it compares. Two CAs whose names differ only
 * in case, spacing, Unicode normalisation or string type are therefore one
 * name to a broker, and must be one name to ccm.
 */
import { DomainError } from '../shared/errors.js';
import { attributeOidOf, isNameAttribute, parseFormattedDistinguishedName, type DistinguishedName, type NameEntry } from './distinguished-name.js';

/**
 * RFC 4518 §2, approximated the way every verifier in the field does at
 * least: compatibility normalisation (NFKC), characters "mapped to nothing"
 * (§2.2: format characters, soft hyphen, variation selectors) removed, case
 * folded (upper then lower, so that "ß" and "SS" meet), every kind of space
 * made one space, and insignificant spaces (§2.6.1) dropped. Erring broad is
 * the safe side: two names that some verifier might take as one are one here.
 */
export function comparableValue(value: string): string {
  return value
    .normalize('NFKC')
    .replace(/[\p{Cf}\u00AD\u034F\u180B-\u180D\uFE00-\uFE0F]/gu, '')
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKC')
    .replace(/[\s\p{Zs}\p{Cc}]+/gu, ' ')
    .trim();
}

/**
 * One text per name, equal for names RFC 5280 §7.1 calls equal: each
 * attribute's type by OID and its prepared value, in encoding order.
 * Multi-valued RDNs are flattened by the decoder, so their grouping does not
 * count (broader again: never narrower than a verifier).
 */
export function comparableName(name: DistinguishedName): string {
  return JSON.stringify(name.map(({ attribute, value }) => [isNameAttribute(attribute) ? attributeOidOf(attribute) : attribute, comparableValue(value)]));
}

/** comparableName of a subject as ccm prints and records it (formatDistinguishedName). */
export function comparableSubject(subject: string): string {
  return comparableName(parseFormattedDistinguishedName(subject));
}

/** Whether two names are one under RFC 5280 §7.1. */
export function sameName(a: DistinguishedName, b: DistinguishedName): boolean {
  return comparableName(a) === comparableName(b);
}

/** RFC 4514 §3 short names and the other names OpenSSL prints, upper-cased, to ccm's attribute names. */
const ATTRIBUTE_NAMES = new Map<string, NameEntry['attribute']>([
  ['CN', 'CN'], ['COMMONNAME', 'CN'],
  ['SN', 'SN'], ['SURNAME', 'SN'],
  ['SERIALNUMBER', 'serialNumber'],
  ['C', 'C'], ['COUNTRYNAME', 'C'],
  ['L', 'L'], ['LOCALITYNAME', 'L'],
  ['ST', 'ST'], ['S', 'ST'], ['STATEORPROVINCENAME', 'ST'],
  ['O', 'O'], ['ORGANIZATIONNAME', 'O'],
  ['OU', 'OU'], ['ORGANIZATIONALUNITNAME', 'OU'],
  ['TITLE', 'title'],
  ['GN', 'givenName'], ['GIVENNAME', 'givenName'],
  ['PSEUDONYM', 'pseudonym'],
  ['EMAILADDRESS', 'emailAddress'], ['E', 'emailAddress'],
  ['DC', 'DC'], ['DOMAINCOMPONENT', 'DC'],
  ['UID', 'UID'], ['USERID', 'UID'],
]);

const OID = /^(?:OID\.)?([0-2](?:\.(?:0|[1-9][0-9]*))+)$/i;
const HEX_PAIR = /^[0-9a-fA-F]{2}$/;

/**
 * Reads an RFC 4514 string (most specific RDN first, as
 * `openssl x509 -issuer -nameopt RFC2253` prints it) into a name in encoding
 * order. Takes both escape forms (`\,` and `\2C`; runs of `\XX` are UTF-8),
 * multi-valued RDNs (`+`), case-insensitive type names and dotted OIDs.
 * Refuses what it cannot read as text: `#` hex values (the BER of a
 * non-string attribute, which no CA of ccm's has), unknown type names, bad
 * escapes. Throws `invalid-request`.
 */
export function parseRfc4514Name(text: string): DistinguishedName {
  const refuse = (why: string) => new DomainError('invalid-request', `"${text}" is not an RFC 4514 distinguished name: ${why}`);
  if (text.trim() === '') return [];
  const rdns: NameEntry[][] = [[]];
  let i = 0;
  while (i <= text.length) {
    // Type: up to '=', spaces around it ignored (RFC 4514 §3 allows none, RFC 1779 and OpenSSL's oneline form do).
    const equals = text.indexOf('=', i);
    if (equals < 0) throw refuse('an attribute has no "="');
    const typeText = text.slice(i, equals).trim();
    const attribute = attributeOf(typeText);
    if (attribute === null) throw refuse(`unknown attribute type "${typeText}"`);
    i = equals + 1;
    if (text[i] === '#') throw refuse('hex-encoded (#) values are not read');
    // Plain text is taken as it stands; only runs of \XX escapes (UTF-8 octets) are collected and decoded.
    let value = '';
    let octets: number[] = [];
    const flush = () => {
      if (octets.length === 0) return;
      try {
        value += STRICT_UTF8.decode(Uint8Array.from(octets));
      } catch {
        throw refuse(`the ${typeText} value is not UTF-8`);
      }
      octets = [];
    };
    let ended: ',' | '+' | null = null;
    let run = i;
    while (i < text.length) {
      const character = text[i]!;
      if (character !== ',' && character !== '+' && character !== ';' && character !== '\\') {
        i += 1;
        continue;
      }
      if (i > run) {
        flush();
        value += text.slice(run, i);
      }
      if (character !== '\\') {
        ended = character === '+' ? '+' : ',';
        i += 1;
        run = i;
        break;
      }
      const pair = text.slice(i + 1, i + 3);
      if (HEX_PAIR.test(pair)) {
        octets.push(Number.parseInt(pair, 16));
        i += 3;
      } else {
        const escaped = text.codePointAt(i + 1);
        if (escaped === undefined) throw refuse('it ends in an escape');
        flush();
        value += String.fromCodePoint(escaped);
        i += 1 + String.fromCodePoint(escaped).length;
      }
      run = i;
    }
    if (ended === null && i > run) {
      flush();
      value += text.slice(run, i);
    }
    flush();
    rdns[rdns.length - 1]!.push({ attribute, value });
    if (ended === null) break;
    if (ended === ',') rdns.push([]);
    if (i >= text.length) throw refuse('it ends after a separator');
  }
  // Printed most specific first (RFC 4514 §2.1); encoding order is the reverse.
  return rdns.reverse().flat();
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

function attributeOf(typeText: string): NameEntry['attribute'] | null {
  const named = ATTRIBUTE_NAMES.get(typeText.toUpperCase());
  if (named !== undefined) return named;
  const oid = OID.exec(typeText)?.[1];
  if (oid === undefined) return null;
  for (const attribute of ATTRIBUTE_NAMES.values()) if (isNameAttribute(attribute) && attributeOidOf(attribute) === oid) return attribute;
  return oid as NameEntry['attribute'];
}
