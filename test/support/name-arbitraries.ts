/**
 * fast-check arbitraries for distinguished names that ccm will encode: every
 * attribute type it writes, values in each attribute's string type up to its
 * RFC 5280 bound (non-ASCII UTF-8 up to four octets a character where the
 * type is UTF8String), so property tests cover what `validateDistinguishedName`
 * accepts rather than what happens to be typical.
 */
import fc from 'fast-check';
import { NAME_ATTRIBUTES, type NameAttribute, type NameEntry } from '../../src/codec/distinguished-name.js';
import { isSubjectText } from '../../src/codec/subject-text.js';

const codePoints = (min: number, max: number) => fc.integer({ min, max }).map((codePoint) => String.fromCodePoint(codePoint));

/** One character of a UTF8String value: anything subject text allows (no controls, format characters, separators, noncharacters or lone surrogates). */
const utf8Character = fc
  .oneof(
    { weight: 4, arbitrary: codePoints(0x20, 0x7e) },
    { weight: 1, arbitrary: codePoints(0x80, 0x7ff) },
    { weight: 1, arbitrary: fc.oneof(codePoints(0x800, 0xd7ff), codePoints(0xe000, 0xffff)) },
    { weight: 1, arbitrary: codePoints(0x10000, 0x10ffff) },
  )
  .filter(isSubjectText);
const PRINTABLE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?";
const printableCharacter = fc.constantFrom(...PRINTABLE);
const ia5Character = codePoints(0x20, 0x7e);

/** Mostly short values, as fast-check's default size gives; one in four anywhere up to the bound, so long-form lengths occur. */
function text(unit: fc.Arbitrary<string>, maxLength: number): fc.Arbitrary<string> {
  return fc.oneof({ weight: 3, arbitrary: fc.string({ unit, minLength: 1, maxLength }) }, { weight: 1, arbitrary: fc.string({ unit, minLength: 1, maxLength, size: 'max' }) });
}

/**
 * Value generators by attribute, bounded by RFC 5280 Appendix A. The 32768
 * character bounds of SN and givenName are capped at 300, enough for
 * two-octet lengths without making runs slow.
 */
const VALUES: Record<NameAttribute, fc.Arbitrary<string>> = {
  CN: text(utf8Character, 64),
  SN: text(utf8Character, 300),
  serialNumber: text(printableCharacter, 64),
  C: fc.tuple(codePoints(0x41, 0x5a), codePoints(0x41, 0x5a)).map(([a, b]) => a + b),
  L: text(utf8Character, 128),
  ST: text(utf8Character, 128),
  O: text(utf8Character, 64),
  OU: text(utf8Character, 64),
  title: text(utf8Character, 64),
  givenName: text(utf8Character, 300),
  pseudonym: text(utf8Character, 128),
  emailAddress: text(ia5Character, 255),
  DC: text(ia5Character, 63),
  UID: text(utf8Character, 256),
};

export const nameEntry: fc.Arbitrary<NameEntry> = fc.constantFrom(...NAME_ATTRIBUTES).chain((attribute) => VALUES[attribute].map((value) => ({ attribute, value })));

/** A name `encodeDistinguishedName` accepts, with `minLength` to `maxLength` RDNs. */
export function distinguishedName(constraints: { minLength?: number; maxLength?: number } = {}): fc.Arbitrary<NameEntry[]> {
  return fc.array(nameEntry, { minLength: constraints.minLength ?? 0, maxLength: constraints.maxLength ?? 8 });
}
