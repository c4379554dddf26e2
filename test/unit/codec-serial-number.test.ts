/** Serial numbers: positive, minimal DER INTEGER content with 128 random bits; canonical hex. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../../src/shared/errors.js';
import { assertSerialNumber, canonicalSerialNumberHex, newSerialNumber, serialNumberFromHex, serialNumberToHex } from '../../src/codec/serial-number.js';

describe('newSerialNumber', () => {
  it('is positive, minimally encoded, at most 17 octets and never repeats in 10 000 draws', () => {
    const seen = new Set<string>();
    let signOctets = 0;
    for (let i = 0; i < 10_000; i++) {
      const serial = newSerialNumber();
      assertSerialNumber(serial);
      assert.ok(serial.length <= 17);
      if (serial.length === 17) {
        assert.equal(serial[0], 0);
        assert.ok(serial[1]! >= 0x80, 'the 0x00 is only there for a top bit');
        signOctets++;
      }
      const hex = serialNumberToHex(serial);
      assert.ok(!seen.has(hex));
      seen.add(hex);
    }
    // About half of uniformly random values have the top bit set.
    assert.ok(signOctets > 4_000 && signOctets < 6_000, `${signOctets} of 10000 needed a sign octet`);
  });
});

describe('serial number text form', () => {
  it('is lowercase hex of the unsigned value without leading zero octets', () => {
    assert.equal(serialNumberToHex(Uint8Array.of(0x00, 0xc0, 0xff, 0xee)), 'c0ffee');
    assert.equal(serialNumberToHex(Uint8Array.of(0x01)), '01');
    assert.equal(serialNumberToHex(Uint8Array.of(0x00)), '00');
  });

  it('goes back to DER INTEGER content, adding the sign octet when needed', () => {
    assert.deepEqual(serialNumberFromHex('c0ffee'), Uint8Array.of(0x00, 0xc0, 0xff, 0xee));
    assert.deepEqual(serialNumberFromHex('7F'), Uint8Array.of(0x7f));
    assert.deepEqual(serialNumberFromHex('0000abc'), Uint8Array.of(0x0a, 0xbc));
    assert.deepEqual(serialNumberFromHex('C0:FF:EE'), Uint8Array.of(0x00, 0xc0, 0xff, 0xee));
    for (let i = 0; i < 100; i++) {
      const serial = newSerialNumber();
      assert.deepEqual(serialNumberFromHex(serialNumberToHex(serial)), serial);
    }
  });

  it('canonicalises other spellings', () => {
    assert.equal(canonicalSerialNumberHex('00:C0:FF:EE'), 'c0ffee');
  });

  it('invalid-request for text that is not hex or longer than 20 octets', () => {
    for (const text of ['', 'xyz', '12 34', '0x12', 'ff'.repeat(21)]) {
      assert.throws(() => serialNumberFromHex(text), (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request', text);
    }
  });
});

describe('assertSerialNumber', () => {
  it('refuses zero, negative, non-minimal, empty and over-long serials', () => {
    for (const serial of [Uint8Array.of(0), Uint8Array.of(0xff), Uint8Array.of(0, 0x7f), new Uint8Array(0), Uint8Array.from([0, ...new Uint8Array(20).fill(0x80)])]) {
      assert.throws(() => assertSerialNumber(serial), (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request');
    }
    assertSerialNumber(new Uint8Array(20).fill(0x7f));
  });
});
