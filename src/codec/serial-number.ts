/**
 * Certificate serial numbers: generation, and the two forms ccm keeps them
 * in. The bytes are the content of the DER INTEGER (what goes into
 * TBSCertificate.serialNumber); the text form is lowercase hex of the unsigned
 * value without leading zero octets, the key under which the database, the
 * events and the API refer to a certificate.
 */
import { DomainError } from '../shared/errors.js';
import { randomOctets } from '../shared/random-octets.js';

/**
 * 128 random bits: CA/Browser Forum BR §7.1 asks for at least 64 bits of CSPRNG
 * output, so that a serial cannot be predicted to collide with a chosen prefix;
 * 128 also makes an accidental collision within a CA negligible.
 */
export const SERIAL_NUMBER_RANDOM_OCTETS = 16;

/** RFC 5280 §4.1.2.2: conforming CAs MUST NOT use serial numbers longer than 20 octets. */
export const MAXIMUM_SERIAL_NUMBER_OCTETS = 20;

/** A fresh positive, non-zero serial number as DER INTEGER content (16 or 17 octets, fewer when it happens to start with zeros). */
export function newSerialNumber(): Uint8Array {
  for (;;) {
    const candidate = minimalPositiveInteger(randomOctets(SERIAL_NUMBER_RANDOM_OCTETS));
    // RFC 5280 §4.1.2.2 requires a positive integer: zero is not one.
    if (candidate.length > 1 || candidate[0] !== 0) return candidate;
  }
}

/**
 * Canonical text form. Negative serials (a non-conforming CA's, RFC 5280
 * §4.1.2.2 asks users to cope with them) keep their two's-complement octets.
 */
export function serialNumberToHex(content: Uint8Array): string {
  let start = 0;
  while (start < content.length - 1 && content[start] === 0) start++;
  return Buffer.from(content.subarray(start)).toString('hex');
}

/**
 * DER INTEGER content for a serial given as hex (either case; colons between
 * octets, as OpenSSL prints them, are accepted). Throws `invalid-request`.
 * A 20-octet value whose sign octet makes 21 is let through: such serials
 * exist in certificates from other CAs, and looking one up must not fail.
 */
export function serialNumberFromHex(text: string): Uint8Array {
  const digits = text.replaceAll(':', '');
  if (!/^[0-9a-fA-F]+$/.test(digits)) throw new DomainError('invalid-request', 'a serial number must be hexadecimal');
  const unsigned = Buffer.from(digits.length % 2 === 0 ? digits : `0${digits}`, 'hex');
  const content = minimalPositiveInteger(unsigned);
  if (content.length > MAXIMUM_SERIAL_NUMBER_OCTETS + 1 || (content.length === MAXIMUM_SERIAL_NUMBER_OCTETS + 1 && content[0] !== 0)) {
    throw new DomainError('invalid-request', `a serial number is at most ${MAXIMUM_SERIAL_NUMBER_OCTETS} octets long`);
  }
  return content;
}

/** The canonical form of a serial given as hex in any accepted spelling. */
export function canonicalSerialNumberHex(text: string): string {
  return serialNumberToHex(serialNumberFromHex(text));
}

/**
 * Checks that `content` is what ccm may write as a serial: DER-minimal,
 * positive, non-zero and within RFC 5280's 20 octets (the 0x00 sign octet
 * counts, so a 160-bit value with its top bit set does not fit).
 */
export function assertSerialNumber(content: Uint8Array): void {
  if (content.length === 0) throw new DomainError('invalid-request', 'serial number is empty');
  if (content.length > MAXIMUM_SERIAL_NUMBER_OCTETS) throw new DomainError('invalid-request', `serial number is longer than ${MAXIMUM_SERIAL_NUMBER_OCTETS} octets`);
  const defect = serialNumberDefect(content);
  if (defect !== null) throw new DomainError('invalid-request', `serial number is ${defect}`);
}

/**
 * Why non-empty DER INTEGER content is no serial number RFC 5280 §4.1.2.2
 * allows (a positive integer), or X.690 §8.3.2 (minimal) lets be read one
 * way only; null when it is fine. The length limit is left to each caller:
 * ccm writes at most 20 octets, but reads certificates of other CAs whose
 * sign octet makes 21.
 */
export function serialNumberDefect(content: Uint8Array): 'negative' | 'not minimally encoded' | 'zero' | null {
  if ((content[0]! & 0x80) !== 0) return 'negative';
  if (content.length > 1 && content[0] === 0 && (content[1]! & 0x80) === 0) return 'not minimally encoded';
  if (content.length === 1 && content[0] === 0) return 'zero';
  return null;
}

/** Unsigned big-endian value → DER INTEGER content: leading zeros dropped, one 0x00 added back when the top bit would read as a sign. */
function minimalPositiveInteger(unsigned: Uint8Array): Uint8Array {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start++;
  const significant = unsigned.subarray(start);
  if ((significant[0]! & 0x80) === 0) return Uint8Array.from(significant);
  const content = new Uint8Array(significant.length + 1);
  content.set(significant, 1);
  return content;
}
