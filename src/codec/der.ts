/**
 * Strict DER framing for the issuance module: reading tag-length-value
 * elements under the X.690 §10 rules (definite lengths in their shortest form,
 * nothing after the outermost value) and writing the envelopes the encoders
 * assemble around byte-exact pieces.
 *
 * Why not only @peculiar/asn1-schema: its parser (asn1js) accepts BER and
 * ignores bytes after the first value, and its serializer re-encodes what it
 * parsed. CSRs and certificates come from outside, so their framing is checked
 * here first; and the issuer Name and the SubjectPublicKeyInfo must be copied
 * into a certificate exactly as given (RFC 5280 §4.1.2.4: the issuer field is
 * matched against the issuer's subject during path validation), which is
 * easiest when they are spliced in as bytes.
 */

export const DerTag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  objectIdentifier: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  teletexString: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  universalString: 0x1c,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** `[n]` constructed context-specific tag, e.g. `[0]` version or `[3]` extensions of a TBSCertificate. */
export function contextTag(tagNumber: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | tagNumber;
}

/** Raised on malformed framing; each caller turns it into the DomainError kind its input calls for. */
export class DerFramingError extends Error {
  override readonly name = 'DerFramingError';
}

export interface DerElement {
  /** The identifier octet (only the low-tag-number form occurs in the structures ccm reads). */
  readonly tag: number;
  readonly constructed: boolean;
  /** The whole element, header included: what a signature covers or a field is copied from. */
  readonly bytes: Uint8Array;
  readonly content: Uint8Array;
}

/** Nesting well beyond any certificate or CSR; it bounds recursion on hostile input. */
const MAXIMUM_DEPTH = 32;

export function readElementAt(input: Uint8Array, offset: number): DerElement {
  if (offset + 2 > input.length) throw new DerFramingError('truncated element header');
  const tag = input[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerFramingError('high tag numbers are not used in these structures');
  let position = offset + 1;
  const first = input[position++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else if (first === 0x80) {
    throw new DerFramingError('indefinite length (BER, not DER)');
  } else {
    const octets = first & 0x7f;
    if (octets > 4) throw new DerFramingError('length too large');
    if (position + octets > input.length) throw new DerFramingError('truncated length');
    if (input[position] === 0) throw new DerFramingError('length not in its shortest form');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + input[position++]!;
    if (length < 0x80) throw new DerFramingError('length not in its shortest form');
  }
  const end = position + length;
  if (end > input.length) throw new DerFramingError('truncated element content');
  return {
    tag,
    constructed: (tag & 0x20) !== 0,
    bytes: input.subarray(offset, end),
    content: input.subarray(position, end),
  };
}

/** The input must be exactly one element: trailing bytes are an error, not ignored. */
export function readSingleElement(input: Uint8Array): DerElement {
  const element = readElementAt(input, 0);
  if (element.bytes.length !== input.length) throw new DerFramingError(`${input.length - element.bytes.length} bytes after the end of the value`);
  return element;
}

export function readChildren(element: DerElement): DerElement[] {
  if (!element.constructed) throw new DerFramingError('expected a constructed element');
  const children: DerElement[] = [];
  let offset = 0;
  while (offset < element.content.length) {
    const child = readElementAt(element.content, offset);
    children.push(child);
    offset += child.bytes.length;
  }
  return children;
}

/** Checks the framing of every constructed element below `element` (primitive contents are not descended into). */
export function assertDerFraming(element: DerElement, depth = 0): void {
  if (depth > MAXIMUM_DEPTH) throw new DerFramingError('nesting too deep');
  if (!element.constructed) return;
  for (const child of readChildren(element)) assertDerFraming(child, depth + 1);
}

export function expectTag(element: DerElement | undefined, tag: number, what: string): DerElement {
  if (element === undefined) throw new DerFramingError(`${what} is missing`);
  if (element.tag !== tag) throw new DerFramingError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${element.tag.toString(16)}`);
  return element;
}

export function decodeObjectIdentifier(element: DerElement): string {
  if (element.tag !== DerTag.objectIdentifier) throw new DerFramingError('expected an OBJECT IDENTIFIER');
  const content = element.content;
  if (content.length === 0 || (content[content.length - 1]! & 0x80) !== 0) throw new DerFramingError('malformed OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (const byte of content) {
    if (fresh && byte === 0x80) throw new DerFramingError('OBJECT IDENTIFIER arc not in its shortest form');
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerFramingError('OBJECT IDENTIFIER arc too large');
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      if (arcs.length === 0) {
        const top = value < 40 ? 0 : value < 80 ? 1 : 2;
        arcs.push(top, value - top * 40);
      } else {
        arcs.push(value);
      }
      value = 0;
    }
  }
  return arcs.join('.');
}

/** X.690 §8.19: the DER OBJECT IDENTIFIER (tag included) for a dotted OID; for the constants encoders compute once at load. */
export function encodeObjectIdentifier(oid: string): Uint8Array {
  const arcs = oid.split('.').map((arc) => {
    if (!/^(0|[1-9][0-9]*)$/.test(arc)) throw new Error(`"${oid}" is not a dotted OID`);
    return Number(arc);
  });
  const [top, second, ...rest] = arcs;
  if (top === undefined || second === undefined || top > 2 || (top < 2 && second >= 40)) throw new Error(`"${oid}" is not a dotted OID`);
  const content: number[] = [];
  for (const arc of [top * 40 + second, ...rest]) {
    if (!Number.isSafeInteger(arc)) throw new Error(`OID arc ${arc} is too large`);
    const base128: number[] = [];
    for (let value = arc; ; value = Math.floor(value / 128)) {
      base128.unshift((value % 128) | (base128.length === 0 ? 0 : 0x80));
      if (value < 128) break;
    }
    content.push(...base128);
  }
  return encodeElement(DerTag.objectIdentifier, Uint8Array.from(content));
}

/** BIT STRING contents without the unused-bits octet; only whole-octet strings (keys, signatures) are expected here. */
export function bitStringOctets(element: DerElement, what: string): Uint8Array {
  if (element.tag !== DerTag.bitString) throw new DerFramingError(`${what}: expected a BIT STRING`);
  if (element.content.length === 0 || element.content[0] !== 0) throw new DerFramingError(`${what}: BIT STRING with unused bits`);
  return element.content.subarray(1);
}

export function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Uint8Array.of(0x80 | octets.length, ...octets);
}

/** How many octets `encodeLength(length)` writes, without writing them. */
export function encodedLengthLength(length: number): number {
  let octets = 1;
  if (length >= 0x80) for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets++;
  return octets;
}

/** Writes `encodeLength(length)` into `out` at `offset` without allocating; returns the offset after it. */
export function writeLength(out: Uint8Array, offset: number, length: number): number {
  if (length < 0x80) {
    out[offset] = length;
    return offset + 1;
  }
  const count = encodedLengthLength(length) - 1;
  out[offset] = 0x80 | count;
  for (let position = offset + count, rest = length; position > offset; position--, rest = Math.floor(rest / 256)) out[position] = rest % 256;
  return offset + 1 + count;
}

/** One element with `tag` whose content is the concatenation of `parts`. */
export function encodeElement(tag: number, ...parts: readonly Uint8Array[]): Uint8Array {
  let contentLength = 0;
  for (const part of parts) contentLength += part.length;
  const length = encodeLength(contentLength);
  const out = new Uint8Array(1 + length.length + contentLength);
  out[0] = tag;
  out.set(length, 1);
  let offset = 1 + length.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** RFC 5280 §4.1.2.5 (and §5.1.2.4 for CRLs): UTCTime for 1950 through 2049, GeneralizedTime otherwise; whole seconds, "Z". */
export function usesUtcTime(date: Date): boolean {
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049;
}

/** Tag, length and YYMMDDHHMMSSZ (13) or YYYYMMDDHHMMSSZ (15). */
export function encodedTimeLength(date: Date): number {
  return usesUtcTime(date) ? 15 : 17;
}

/** Writes the Time element for `date` (whole seconds, year 1..9999, as wholeSeconds returns) at `offset`; returns the offset after it. */
export function writeTime(out: Uint8Array, offset: number, date: Date): number {
  const year = date.getUTCFullYear();
  if (usesUtcTime(date)) {
    out[offset++] = DerTag.utcTime;
    out[offset++] = 13;
    offset = writeDigits(out, offset, year % 100, 2);
  } else {
    out[offset++] = DerTag.generalizedTime;
    out[offset++] = 15;
    offset = writeDigits(out, offset, year, 4);
  }
  offset = writeDigits(out, offset, date.getUTCMonth() + 1, 2);
  offset = writeDigits(out, offset, date.getUTCDate(), 2);
  offset = writeDigits(out, offset, date.getUTCHours(), 2);
  offset = writeDigits(out, offset, date.getUTCMinutes(), 2);
  offset = writeDigits(out, offset, date.getUTCSeconds(), 2);
  out[offset++] = 0x5a; // 'Z'
  return offset;
}

function writeDigits(out: Uint8Array, offset: number, value: number, count: number): number {
  for (let position = offset + count - 1; position >= offset; position--) {
    out[position] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
  return offset + count;
}
