/** What a tenant's CA may vouch for: device keys judged by family and size (keys made by openssl), serial numbers by RFC 5280. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DerTag, encodeElement, encodeObjectIdentifier } from '../../src/codec/der.js';
import { PublicKeyOid } from '../../src/codec/public-key.js';
import type { ExternalDeviceKeyPolicy } from '../../src/config/configuration.js';
import { deviceKeyViolation, deviceSerialViolation } from '../../src/device-authentication/device-certificate-policy.js';

const DEFAULTS: ExternalDeviceKeyPolicy = { enforce: true, minimumRsaBits: 2048, minimumCurveBits: 256 };

/** The DER SubjectPublicKeyInfo of a fresh key, as openssl writes it. */
function opensslKey(...genpkey: string[]): Uint8Array {
  const privateKey = execFileSync('openssl', ['genpkey', ...genpkey], { stdio: ['ignore', 'pipe', 'ignore'] });
  return execFileSync('openssl', ['pkey', '-pubout', '-outform', 'DER'], { input: privateKey, stdio: ['pipe', 'pipe', 'ignore'] });
}

const ec = (curve: string) => opensslKey('-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curve}`);
const rsa = (bits: number, exponent = 65537) => opensslKey('-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`, '-pkeyopt', `rsa_keygen_pubexp:${exponent}`);

/** An rsaEncryption SubjectPublicKeyInfo with any modulus and exponent, for exponents no key generator makes. */
function rsaInfo(modulus: Uint8Array, exponent: Uint8Array): Uint8Array {
  const rsaPublicKey = encodeElement(DerTag.sequence, encodeElement(DerTag.integer, modulus), encodeElement(DerTag.integer, exponent));
  const algorithm = encodeElement(DerTag.sequence, encodeObjectIdentifier(PublicKeyOid.rsaEncryption), Uint8Array.of(0x05, 0x00));
  return encodeElement(DerTag.sequence, algorithm, encodeElement(DerTag.bitString, Uint8Array.of(0), rsaPublicKey));
}

/** An ecPublicKey SubjectPublicKeyInfo with the given parameters (a curve OID, or explicit parameters). */
function ecInfo(parameters: Uint8Array): Uint8Array {
  const algorithm = encodeElement(DerTag.sequence, encodeObjectIdentifier(PublicKeyOid.ecPublicKey), parameters);
  return encodeElement(DerTag.sequence, algorithm, encodeElement(DerTag.bitString, Uint8Array.of(0, 0x04, ...new Uint8Array(64).fill(1))));
}

const MODULUS_2048 = Uint8Array.of(0x00, 0xc0, ...new Uint8Array(255).fill(0x11));

describe('deviceKeyViolation', () => {
  it('accepts what ccm issues and stronger keys a broker accepts: P-256, P-384, P-521, secp256k1, brainpoolP512r1, Ed25519, Ed448, RSA-2048 and RSA-4096', () => {
    for (const [name, key] of [
      ['P-256', ec('P-256')],
      ['P-384', ec('P-384')],
      ['P-521', ec('P-521')],
      ['secp256k1', ec('secp256k1')],
      ['brainpoolP512r1', ec('brainpoolP512r1')],
      ['Ed25519', opensslKey('-algorithm', 'ED25519')],
      ['Ed448', opensslKey('-algorithm', 'ED448')],
      ['RSA-2048', rsa(2048)],
      ['RSA-4096', rsa(4096)],
    ] as const) {
      assert.equal(deviceKeyViolation(key, DEFAULTS), null, name);
    }
  });

  it('refuses RSA-1024, P-192 and P-224 by default, naming the key and the minimum', () => {
    assert.deepEqual(deviceKeyViolation(rsa(1024), DEFAULTS), { algorithm: 'RSA-1024', message: 'an RSA-1024 key is below the 2048-bit RSA minimum' });
    assert.deepEqual(deviceKeyViolation(ec('P-224'), DEFAULTS), { algorithm: 'P-224', message: 'a P-224 key is below the 256-bit curve minimum' });
    assert.equal(deviceKeyViolation(ec('P-192'), DEFAULTS)?.algorithm, 'P-192');
  });

  it('follows the configured minimums: RSA-1024 passes at 1024 bits, P-224 at 224, and Ed25519 fails at 384 while Ed448 passes', () => {
    assert.equal(deviceKeyViolation(rsa(1024), { ...DEFAULTS, minimumRsaBits: 1024 }), null);
    assert.equal(deviceKeyViolation(ec('P-224'), { ...DEFAULTS, minimumCurveBits: 224 }), null);
    const strict = { ...DEFAULTS, minimumCurveBits: 384 };
    assert.equal(deviceKeyViolation(opensslKey('-algorithm', 'ED25519'), strict)?.algorithm, 'Ed25519');
    assert.equal(deviceKeyViolation(ec('P-256'), strict)?.algorithm, 'P-256');
    assert.equal(deviceKeyViolation(opensslKey('-algorithm', 'ED448'), strict), null);
  });

  it('refuses RSA public exponents that are small, even or 2^256 and above (FIPS 186-5 §5.4)', () => {
    assert.match(deviceKeyViolation(rsa(2048, 3), DEFAULTS)!.message, /RSA-2048 key with public exponent 3 is refused/);
    for (const exponent of [Uint8Array.of(0x01, 0x00, 0x00), Uint8Array.of(0x01, 0x00, 0x02), Uint8Array.of(0x01, ...new Uint8Array(31), 0x01)]) {
      assert.equal(deviceKeyViolation(rsaInfo(MODULUS_2048, exponent), DEFAULTS)?.algorithm, 'RSA-2048', Buffer.from(exponent).toString('hex'));
    }
    assert.equal(deviceKeyViolation(rsaInfo(MODULUS_2048, Uint8Array.of(0x01, 0x00, 0x01)), DEFAULTS), null, '65537');
  });

  it('refuses DSA, X25519, unknown key algorithms, unknown curves and explicit curve parameters, whatever the minimums', () => {
    const lenient = { ...DEFAULTS, minimumRsaBits: 1024, minimumCurveBits: 160 };
    const directory = mkdtempSync(join(tmpdir(), 'ccm-dsa-'));
    let dsa: Uint8Array;
    try {
      const parameters = join(directory, 'dsa-parameters.pem');
      execFileSync('openssl', ['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:1024', '-out', parameters], { stdio: 'ignore' });
      dsa = opensslKey('-paramfile', parameters);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
    assert.deepEqual(deviceKeyViolation(dsa, lenient), { algorithm: 'DSA', message: 'DSA keys are refused: ccm accepts RSA, ECDSA and EdDSA device keys' });
    assert.equal(deviceKeyViolation(opensslKey('-algorithm', 'X25519'), lenient)?.algorithm, 'X25519');
    const unknownAlgorithm = encodeElement(DerTag.sequence, encodeElement(DerTag.sequence, encodeObjectIdentifier('1.2.3.4')), encodeElement(DerTag.bitString, Uint8Array.of(0, 1)));
    assert.equal(deviceKeyViolation(unknownAlgorithm, lenient)?.algorithm, 'public key algorithm 1.2.3.4');
    assert.equal(deviceKeyViolation(ecInfo(encodeObjectIdentifier('1.3.132.0.38')), lenient)?.algorithm, 'EC key on curve 1.3.132.0.38', 'sect571k1: not a curve ccm knows');
    assert.equal(deviceKeyViolation(ecInfo(encodeElement(DerTag.sequence, encodeElement(DerTag.integer, Uint8Array.of(1)))), lenient)?.algorithm, 'EC key with explicit curve parameters');
  });

  it('refuses a key it cannot read, as malformed', () => {
    const truncated = rsaInfo(MODULUS_2048, Uint8Array.of(0x01, 0x00, 0x01)).subarray(0, 40);
    assert.equal(deviceKeyViolation(truncated, DEFAULTS)?.algorithm, 'malformed key');
  });

  it('with the policy off, accepts any key, even one it cannot read', () => {
    const off = { ...DEFAULTS, enforce: false };
    for (const key of [rsa(1024), ec('P-192'), opensslKey('-algorithm', 'X25519'), Uint8Array.of(0x30, 0x00)]) assert.equal(deviceKeyViolation(key, off), null);
  });
});

describe('deviceSerialViolation', () => {
  it('refuses zero and negative serials (RFC 5280 §4.1.2.2) and non-minimal ones (X.690 §8.3.2)', () => {
    assert.equal(deviceSerialViolation(Uint8Array.of(0x00)), 'the serial number is zero; RFC 5280 §4.1.2.2 asks for a positive integer');
    assert.equal(deviceSerialViolation(Uint8Array.of(0xff)), 'the serial number is negative; RFC 5280 §4.1.2.2 asks for a positive integer');
    assert.equal(deviceSerialViolation(Uint8Array.of(0x80, 0x00)), 'the serial number is negative; RFC 5280 §4.1.2.2 asks for a positive integer');
    assert.equal(deviceSerialViolation(Uint8Array.of(0x00, 0x01)), 'the serial number is not minimally encoded, as DER requires (X.690 §8.3.2)');
  });

  it('accepts positive serials of any length, short sequential ones included', () => {
    for (const serial of [Uint8Array.of(0x01), Uint8Array.of(0x10, 0x00), Uint8Array.of(0x00, 0x80), Uint8Array.from([0x00, ...new Uint8Array(20).fill(0xee)])]) {
      assert.equal(deviceSerialViolation(serial), null, Buffer.from(serial).toString('hex'));
    }
  });
});
