/** Device key generation and the fingerprints ccm records. */
import { createECDH, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEVICE_KEY_ALGORITHMS, type DeviceKeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { encodeDeviceKeyPair, generateDeviceKey } from '../../src/codec/device-key.js';
import { publicKeyHashOf, sha1FingerprintOf, sha256FingerprintOf } from '../../src/codec/fingerprint.js';
import { keyAlgorithmOf, readPublicKeyInfo } from '../../src/codec/public-key.js';

describe('generateDeviceKey', () => {
  for (const algorithm of DEVICE_KEY_ALGORITHMS) {
    it(`returns a PKCS#8 PEM ${algorithm} private key and its SubjectPublicKeyInfo`, async () => {
      const key = await generateDeviceKey(algorithm);
      assert.match(key.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
      const privateKey = createPrivateKey(key.privateKeyPem);
      const derived = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
      assert.equal(Buffer.from(key.subjectPublicKeyInfo).toString('hex'), derived.toString('hex'));
      assert.equal(keyAlgorithmOf(readPublicKeyInfo(key.subjectPublicKeyInfo)), algorithm);
      const hash = algorithm === 'ed25519' ? null : 'sha256';
      const signature = sign(hash, Buffer.from('proof'), privateKey);
      assert.ok(verify(hash, Buffer.from('proof'), createPublicKey(privateKey), signature));
      if (algorithm === 'rsa-2048') {
        const details = privateKey.asymmetricKeyDetails!;
        assert.equal(details.modulusLength, 2048);
        assert.equal(details.publicExponent, 65537n);
      }
    });
  }

  // Imported, not generated: encodeDeviceKeyPair must never see a key fresh from generateKeyPair (a Node 20 deadlock; see its comment).
  const ecKey = (curve: string, crv: string, length: number) => () => {
    const ecdh = createECDH(curve);
    ecdh.generateKeys();
    const point = ecdh.getPublicKey(null, 'uncompressed');
    const scalar = ecdh.getPrivateKey();
    const d = Buffer.concat([Buffer.alloc(length - scalar.length), scalar]).toString('base64url');
    return createPrivateKey({ key: { kty: 'EC', crv, d, x: point.subarray(1, 1 + length).toString('base64url'), y: point.subarray(1 + length).toString('base64url') }, format: 'jwk' });
  };
  // RFC 8410 PKCS#8 with a random seed: OpenSSL derives the public key on import.
  const ed25519Key = () => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), randomBytes(32)]), format: 'der', type: 'pkcs8' });
  const generators: Array<[DeviceKeyAlgorithm, () => KeyObject, number]> = [
    ['ecdsa-p256', ecKey('prime256v1', 'P-256', 32), 300],
    ['ecdsa-p384', ecKey('secp384r1', 'P-384', 48), 150],
    ['ed25519', ed25519Key, 300],
    ['rsa-2048', () => generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 }).privateKey, 2],
  ];
  for (const [algorithm, generate, count] of generators) {
    it(`encodes ${count} ${algorithm} keys to exactly the PKCS#8 PEM and SPKI DER OpenSSL writes`, () => {
      for (let i = 0; i < count; i++) {
        const privateKey = generate();
        const encoded = encodeDeviceKeyPair(algorithm, privateKey);
        assert.equal(encoded.privateKeyPem, privateKey.export({ format: 'pem', type: 'pkcs8' }));
        assert.equal(Buffer.from(encoded.subjectPublicKeyInfo).toString('hex'), createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).toString('hex'));
      }
    });
  }

  it('pads a private key with leading zero octets to full length, as OpenSSL does', () => {
    for (const [curveOid, length] of [['06082a8648ce3d030107', 32], ['06052b81040022', 48]] as const) {
      const d = Buffer.alloc(length, 0);
      d[length - 1] = 0x2a; // a scalar of one significant octet
      const algorithm = Buffer.from(`06072a8648ce3d0201${curveOid}`, 'hex');
      const ecPrivateKey = Buffer.concat([Buffer.from([0x30, d.length + 5, 0x02, 0x01, 0x01, 0x04, d.length]), d]);
      const pkcs8 = Buffer.concat([Buffer.from([0x30, 0x03 + 2 + algorithm.length + 2 + ecPrivateKey.length, 0x02, 0x01, 0x00, 0x30, algorithm.length]), algorithm, Buffer.from([0x04, ecPrivateKey.length]), ecPrivateKey]);
      // OpenSSL works out the missing public key when it loads the key; going through JWK makes it a key with a public key, as generated ones are.
      const privateKey = createPrivateKey({ key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }), format: 'jwk' });
      const encoded = encodeDeviceKeyPair(length === 32 ? 'ecdsa-p256' : 'ecdsa-p384', privateKey);
      assert.equal(encoded.privateKeyPem, privateKey.export({ format: 'pem', type: 'pkcs8' }));
      assert.equal(Buffer.from(encoded.subjectPublicKeyInfo).toString('hex'), createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).toString('hex'));
    }
  });

  it('writes PEM that openssl pkey reads, with the public key it belongs to', async () => {
    for (const algorithm of DEVICE_KEY_ALGORITHMS) {
      const key = await generateDeviceKey(algorithm);
      const publicDer = execFileSync('openssl', ['pkey', '-pubout', '-outform', 'DER'], { input: key.privateKeyPem, stdio: ['pipe', 'pipe', 'pipe'] });
      assert.equal(publicDer.toString('hex'), Buffer.from(key.subjectPublicKeyInfo).toString('hex'), algorithm);
      execFileSync('openssl', ['pkey', '-check', '-noout'], { input: key.privateKeyPem, stdio: ['pipe', 'pipe', 'pipe'] });
    }
  });

  it('never returns the same key twice', async () => {
    const [a, b] = await Promise.all([generateDeviceKey('ecdsa-p256'), generateDeviceKey('ecdsa-p256')]);
    assert.notEqual(a.privateKeyPem, b.privateKeyPem);
  });
});

describe('fingerprints', () => {
  it('match what openssl prints for the same certificate', () => {
    const pem = execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=fingerprint', '-days', '1', '-config', '/dev/null'],
      { stdio: 'pipe' },
    ).toString();
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const opensslSha256 = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: pem }).toString().trim().split('=')[1]!;
    const opensslSha1 = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha1'], { input: pem }).toString().trim().split('=')[1]!;
    assert.equal(sha256FingerprintOf(der), opensslSha256.replaceAll(':', '').toLowerCase());
    assert.equal(sha1FingerprintOf(der), opensslSha1.replaceAll(':', '').toLowerCase());
    assert.match(sha256FingerprintOf(der), /^[0-9a-f]{64}$/);
  });

  it('hashes the whole SubjectPublicKeyInfo for the public key hash', async () => {
    const key = await generateDeviceKey('ed25519');
    assert.equal(publicKeyHashOf(key.subjectPublicKeyInfo), createHash('sha256').update(key.subjectPublicKeyInfo).digest('hex'));
  });
});
