/**
 * The user name RabbitMQ 3.10 gives the holder of a client certificate
 * under `ssl_cert_login_from = distinguished_name`, computed from the
 * certificate's subject as ccm prints it (RFC 4514: most specific RDN
 * first, `\,` `\+` escapes, other characters as they are).
 *
 * What RabbitMQ builds (rabbit_cert_info:format_rdn_sequence in
 * rabbit_common 3.10.8, read from its debug info and checked by connecting,
 * see test/medium/rabbitmq-adapter.test.ts):
 *   - RDNs last to first, joined by ','; the attributes of a multi-valued
 *     RDN in their encoded (DER: sorted) order, joined by '+';
 *   - attribute names: CN L ST O OU C SN DC UID, and in upper case
 *     SERIALNUMBER TITLE GIVENNAME INITIALS GENERATIONQUALIFIER PSEUDONYM
 *     EMAILADDRESS; every other type as its dotted OID (street too:
 *     2.5.4.9);
 *   - values as UTF-8 bytes, escaped: a leading ' ' or '#' and a trailing
 *     ' ' with '\'; '"' '+' ',' ';' '<' '>' '\' with '\'; every byte below
 *     0x20 or from 0x7E up as '\XX' (upper-case hex), so "Zähler" is
 *     "Z\C3\A4hler" and even '~' is "\7E". '=' is not escaped.
 *
 * Limits, from the information a subject string carries:
 *   - ccm flattens multi-valued RDNs when it decodes a certificate from
 *     another CA (ccm never issues them), so "CN=a+SERIALNUMBER=1" reaches
 *     the agent as "CN=a,serialNumber=1" and maps to a name RabbitMQ does
 *     not use: that device cannot log in until ccm prints the RDN with '+'
 *     (which this mapping already handles, in any order);
 *   - a PrintableString or IA5String holding bytes above 0x7F (outside
 *     those types, but written by some CAs) is printed by RabbitMQ byte by
 *     byte and by ccm as Latin-1: those names differ.
 */

interface AttributeType {
  /** How RabbitMQ names the type. */
  readonly label: string;
  /** Its OID, for the DER order of a multi-valued RDN. */
  readonly oid: string;
  /** Universal tag of the string type ccm (RFC 5280) encodes it with. */
  readonly stringTag: number;
}

const UTF8_STRING = 0x0c;
const PRINTABLE_STRING = 0x13;
const IA5_STRING = 0x16;

const TYPES: readonly AttributeType[] = [
  { label: 'CN', oid: '2.5.4.3', stringTag: UTF8_STRING },
  { label: 'SN', oid: '2.5.4.4', stringTag: UTF8_STRING },
  { label: 'SERIALNUMBER', oid: '2.5.4.5', stringTag: PRINTABLE_STRING },
  { label: 'C', oid: '2.5.4.6', stringTag: PRINTABLE_STRING },
  { label: 'L', oid: '2.5.4.7', stringTag: UTF8_STRING },
  { label: 'ST', oid: '2.5.4.8', stringTag: UTF8_STRING },
  { label: 'O', oid: '2.5.4.10', stringTag: UTF8_STRING },
  { label: 'OU', oid: '2.5.4.11', stringTag: UTF8_STRING },
  { label: 'TITLE', oid: '2.5.4.12', stringTag: UTF8_STRING },
  { label: 'GIVENNAME', oid: '2.5.4.42', stringTag: UTF8_STRING },
  { label: 'INITIALS', oid: '2.5.4.43', stringTag: UTF8_STRING },
  { label: 'GENERATIONQUALIFIER', oid: '2.5.4.44', stringTag: UTF8_STRING },
  { label: 'PSEUDONYM', oid: '2.5.4.65', stringTag: UTF8_STRING },
  { label: 'EMAILADDRESS', oid: '1.2.840.113549.1.9.1', stringTag: IA5_STRING },
  { label: 'DC', oid: '0.9.2342.19200300.100.1.25', stringTag: IA5_STRING },
  { label: 'UID', oid: '0.9.2342.19200300.100.1.1', stringTag: UTF8_STRING },
];

/** Names ccm (and OpenSSL) print, upper-cased, to the type. */
const BY_NAME = new Map<string, AttributeType>();
const BY_OID = new Map<string, AttributeType>();
for (const type of TYPES) {
  BY_NAME.set(type.label, type);
  BY_OID.set(type.oid, type);
}
for (const [alias, label] of [['GN', 'GIVENNAME'], ['E', 'EMAILADDRESS'], ['SURNAME', 'SN'], ['COMMONNAME', 'CN'], ['DOMAINCOMPONENT', 'DC']] as const) {
  BY_NAME.set(alias, BY_NAME.get(label)!);
}

const DOTTED_OID = /^[0-2](\.(0|[1-9]\d*))+$/;

interface Attribute {
  readonly type: AttributeType;
  readonly value: Uint8Array;
}

/**
 * The RabbitMQ user name of a certificate with this subject; null when no
 * name can be derived (an empty subject, text that is not a distinguished
 * name, a '#' hex value whose string type the text does not say).
 */
export function rabbitMqUsernameOf(subject: string): string | null {
  const rdns = parseSubject(subject);
  if (rdns === null || rdns.length === 0) return null;
  // ccm prints the most specific RDN first, as RabbitMQ does: the order stays.
  return rdns.map((rdn) => sortedAsDer(rdn).map(formatAttribute).join('+')).join(',');
}

function formatAttribute(attribute: Attribute): string {
  return `${attribute.type.label}=${escapeValue(attribute.value)}`;
}

function escapeValue(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    const character = String.fromCharCode(byte);
    if (i === 0 && (character === ' ' || character === '#')) text += `\\${character}`;
    else if (i === bytes.length - 1 && character === ' ') text += '\\ ';
    else if ('"+,;<>\\'.includes(character)) text += `\\${character}`;
    else if (byte < 0x20 || byte >= 0x7e) text += `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    else text += character;
  }
  return text;
}

/**
 * RDNs, most specific first, each a list of attributes; null when the text
 * is not a distinguished name. Reads RFC 4514 §3: unescaped ',' ends an
 * RDN, unescaped '+' an attribute of a multi-valued one, '\' escapes one
 * character or gives one byte as two hex digits.
 */
function parseSubject(subject: string): Attribute[][] | null {
  if (subject.trim() === '') return [];
  const rdns: Attribute[][] = [];
  let rdn: Attribute[] = [];
  let i = 0;
  const encoder = new TextEncoder();
  for (;;) {
    const equals = subject.indexOf('=', i);
    if (equals < 0) return null;
    const type = attributeType(subject.slice(i, equals).trim());
    if (type === null) return null;
    i = equals + 1;
    if (subject[i] === '#') return null; // BER hex: the string type would decide RabbitMQ's text
    const bytes: number[] = [];
    let separator: string | undefined;
    while (i < subject.length) {
      const character = subject[i]!;
      if (character === ',' || character === '+') {
        separator = character;
        i++;
        break;
      }
      if (character === '\\') {
        const next = subject[i + 1];
        if (next === undefined) return null;
        if (/^[0-9a-fA-F]{2}$/.test(subject.slice(i + 1, i + 3))) {
          bytes.push(Number.parseInt(subject.slice(i + 1, i + 3), 16));
          i += 3;
          continue;
        }
        bytes.push(...encoder.encode(next));
        i += 2;
        continue;
      }
      const codePoint = subject.codePointAt(i)!;
      const characterText = String.fromCodePoint(codePoint);
      bytes.push(...encoder.encode(characterText));
      i += characterText.length;
    }
    rdn.push({ type, value: Uint8Array.from(bytes) });
    if (separator !== '+') {
      rdns.push(rdn);
      rdn = [];
    }
    if (separator === undefined) return rdns;
  }
}

function attributeType(name: string): AttributeType | null {
  const known = BY_NAME.get(name.toUpperCase());
  if (known) return known;
  if (!DOTTED_OID.test(name)) return null;
  return BY_OID.get(name) ?? { label: name, oid: name, stringTag: UTF8_STRING };
}

/** X.690 §11.6: a SET OF is encoded in the order of its elements' encodings, compared as octet strings (the shorter padded with zeros). */
function sortedAsDer(rdn: readonly Attribute[]): Attribute[] {
  if (rdn.length < 2) return [...rdn];
  const encoded = rdn.map((attribute) => ({ attribute, der: attributeDer(attribute) }));
  encoded.sort((a, b) => compareOctets(a.der, b.der));
  return encoded.map(({ attribute }) => attribute);
}

function compareOctets(a: Uint8Array, b: Uint8Array): number {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

function attributeDer(attribute: Attribute): Uint8Array {
  const oid = element(0x06, oidContent(attribute.type.oid));
  const value = element(attribute.type.stringTag, attribute.value);
  return element(0x30, Uint8Array.from([...oid, ...value]));
}

function element(tag: number, content: Uint8Array): Uint8Array {
  return Uint8Array.from([tag, ...derLength(content.length), ...content]);
}

function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return [0x80 | bytes.length, ...bytes];
}

function oidContent(oid: string): Uint8Array {
  const arcs = oid.split('.').map(BigInt);
  const bytes: number[] = [];
  const [first, second, ...rest] = arcs;
  for (const arc of [first! * 40n + second!, ...rest]) {
    const groups: number[] = [];
    let value = arc;
    do {
      groups.unshift(Number(value & 0x7fn));
      value >>= 7n;
    } while (value > 0n);
    for (let i = 0; i < groups.length - 1; i++) groups[i]! |= 0x80;
    bytes.push(...groups);
  }
  return Uint8Array.from(bytes);
}
