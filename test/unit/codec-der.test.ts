/** DER helpers: OBJECT IDENTIFIER encoding against known answers and the decoder. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeObjectIdentifier, encodeLength, encodedLengthLength, encodeObjectIdentifier, readSingleElement, writeLength } from '../../src/codec/der.js';

describe('encodeObjectIdentifier', () => {
  it('writes the X.690 §8.19 encoding, known answers included', () => {
    const cases: Array<[string, string]> = [
      ['2.5.4.3', '0603550403'],
      ['1.2.840.113549.1.9.1', '06092a864886f70d010901'],
      ['0.9.2342.19200300.100.1.25', '060a0992268993f22c640119'],
      ['2.999.3', '0603883703'], // X.690 §8.19.5 example: the first two arcs together exceed 127
    ];
    for (const [oid, expected] of cases) assert.equal(Buffer.from(encodeObjectIdentifier(oid)).toString('hex'), expected, oid);
    for (const oid of [...cases.map(([oid]) => oid), '1.3.6.1.4.1.9007199254740991', '2.25.0']) {
      assert.equal(decodeObjectIdentifier(readSingleElement(encodeObjectIdentifier(oid))), oid);
    }
  });

  it('refuses what is not a dotted OID', () => {
    for (const oid of ['', '1', '3.1', '1.40', '1.2.03', '1.2.x', '1..2', '1.2.9007199254740993']) assert.throws(() => encodeObjectIdentifier(oid), /OID/, oid);
  });
});

describe('writeLength', () => {
  it('writes what encodeLength returns, in place, at the short/long form boundaries and beyond', () => {
    for (const length of [0, 1, 127, 128, 255, 256, 65535, 65536, 16777215, 16777216]) {
      const expected = encodeLength(length);
      assert.equal(encodedLengthLength(length), expected.length, String(length));
      const out = new Uint8Array(expected.length + 2).fill(0xee);
      assert.equal(writeLength(out, 1, length), 1 + expected.length, String(length));
      assert.deepEqual([...out], [0xee, ...expected, 0xee], String(length));
    }
    assert.deepEqual([...encodeLength(128)], [0x81, 0x80]);
    assert.deepEqual([...encodeLength(256)], [0x82, 0x01, 0x00]);
  });
});
