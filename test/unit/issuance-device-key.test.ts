/** Device key generation and the fingerprints ccm records. */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEVICE_KEY_ALGORITHMS } from '../../src/custody/key-algorithm.js';
import { generateDeviceKey } from '../../src/issuance/device-key.js';
import { publicKeyHashOf, sha1FingerprintOf, sha256FingerprintOf } from '../../src/issuance/fingerprint.js';
import { keyAlgorithmOf, readPublicKeyInfo } from '../../src/issuance/public-key.js';

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
