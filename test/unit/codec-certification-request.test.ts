/**
 * CSR parsing: good requests from ccm's own encoder and from `openssl req`
 * for every accepted key, and each way a request is refused.
 */
import { createPublicKey, generateKeyPair, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_ALGORITHMS, signatureSchemeFor, type KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { DomainError } from '../../src/shared/errors.js';
import { encodeCertificationRequest } from '../../src/codec/certificate-encoder.js';
import { MAXIMUM_CERTIFICATION_REQUEST_SIZE, parseCertificationRequest } from '../../src/codec/certification-request.js';
import { DerTag, encodeElement } from '../../src/codec/der.js';
import { encodeDistinguishedName, type DistinguishedName } from '../../src/codec/distinguished-name.js';
import { decodeSinglePem, encodePem } from '../../src/codec/pem.js';
import { importPublicKey, readPublicKeyInfo } from '../../src/codec/public-key.js';
import type { Signer } from '../../src/codec/signer.js';

const generateKeyPairAsync = promisify(generateKeyPair);

const SUBJECT: DistinguishedName = [
  { attribute: 'O', value: 'Tenant A' },
  { attribute: 'CN', value: 'Gerät-Ω' },
];

async function newPrivateKey(algorithm: KeyAlgorithm): Promise<KeyObject> {
  switch (algorithm) {
    case 'ecdsa-p256':
      return (await generateKeyPairAsync('ec', { namedCurve: 'P-256' })).privateKey;
    case 'ecdsa-p384':
      return (await generateKeyPairAsync('ec', { namedCurve: 'P-384' })).privateKey;
    case 'ed25519':
      return (await generateKeyPairAsync('ed25519')).privateKey;
    default:
      return (await generateKeyPairAsync('rsa', { modulusLength: Number(algorithm.slice(4)), publicExponent: 65537 })).privateKey;
  }
}

/** A signer that claims `algorithm` (hence its signature OID) but signs with any key: how unusual keys get into a well-formed CSR. */
function signerWith(algorithm: KeyAlgorithm, privateKey: KeyObject): Signer {
  return { algorithm, sign: async (data) => new Uint8Array(sign(signatureSchemeFor(algorithm).hash, data, privateKey)) };
}

function spkiOf(privateKey: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
}

function rejectedWith(input: string | Uint8Array, kind: string, message?: RegExp): void {
  assert.throws(
    () => parseCertificationRequest(input),
    (error: unknown) => {
      assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
      assert.equal(error.kind, kind, error.message);
      if (message) assert.match(error.message, message);
      return true;
    },
  );
}

describe('parseCertificationRequest', () => {
  let directory: string;
  let configPath: string;

  /** `openssl req` with a minimal config, so the system openssl.cnf adds nothing. */
  function opensslRequest(keyArguments: string[], extra: string[] = []): string {
    const keyPath = join(directory, `key-${Math.random().toString(16).slice(2)}.pem`);
    execFileSync('openssl', ['genpkey', ...keyArguments, '-out', keyPath], { stdio: 'pipe' });
    return execFileSync('openssl', ['req', '-new', '-config', configPath, '-key', keyPath, '-utf8', '-subj', '/O=Tenant A/CN=Gerät-Ω', ...extra], { stdio: 'pipe' }).toString();
  }

  before(() => {
    directory = mkdtempSync(join(tmpdir(), 'ccm-csr-'));
    configPath = join(directory, 'openssl.cnf');
    writeFileSync(configPath, '[req]\ndistinguished_name = dn\n[dn]\n');
  });

  after(() => rmSync(directory, { recursive: true, force: true }));

  for (const algorithm of KEY_ALGORITHMS) {
    it(`accepts a request for a ${algorithm} key built by encodeCertificationRequest`, async () => {
      const privateKey = await newPrivateKey(algorithm);
      const spki = spkiOf(privateKey);
      const der = await encodeCertificationRequest(SUBJECT, spki, signerWith(algorithm, privateKey));
      for (const input of [encodePem(der, 'CERTIFICATE REQUEST'), der, Buffer.from(encodePem(der, 'NEW CERTIFICATE REQUEST'))]) {
        const parsed = parseCertificationRequest(input);
        assert.equal(parsed.keyAlgorithm, algorithm);
        assert.deepEqual(parsed.subject, SUBJECT);
        assert.deepEqual(parsed.subjectPublicKeyInfo, spki);
        assert.deepEqual(parsed.requestedExtensionOids, []);
      }
    });
  }

  const opensslCases: Array<[string, string[], string[], KeyAlgorithm]> = [
    ['P-256 with SHA-256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], ['-sha256'], 'ecdsa-p256'],
    ['P-256 with SHA-512', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], ['-sha512'], 'ecdsa-p256'],
    ['P-384 with SHA-384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-sha384'], 'ecdsa-p384'],
    ['Ed25519', ['-algorithm', 'ED25519'], [], 'ed25519'],
    ['RSA-2048 with SHA-256', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['-sha256'], 'rsa-2048'],
    ['RSA-2048 with SHA-384', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['-sha384'], 'rsa-2048'],
    [
      'RSA-2048 with RSASSA-PSS',
      ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
      ['-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'],
      'rsa-2048',
    ],
  ];
  for (const [label, keyArguments, extra, expected] of opensslCases) {
    it(`accepts an openssl request: ${label}`, () => {
      const parsed = parseCertificationRequest(opensslRequest(keyArguments, extra));
      assert.equal(parsed.keyAlgorithm, expected);
      assert.deepEqual(parsed.subject, SUBJECT);
    });
  }

  it('reports requested extensions without acting on them', () => {
    const pem = opensslRequest(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], [
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-addext',
      'subjectAltName=DNS:device.example.com',
    ]);
    const parsed = parseCertificationRequest(pem);
    assert.deepEqual(parsed.requestedExtensionOids, ['2.5.29.19', '2.5.29.15', '2.5.29.17']);
  });

  it('bad-csr-signature when the signature was tampered with', async () => {
    const privateKey = await newPrivateKey('ed25519');
    const der = await encodeCertificationRequest(SUBJECT, spkiOf(privateKey), signerWith('ed25519', privateKey));
    const tampered = Uint8Array.from(der);
    tampered[tampered.length - 1]! ^= 0x01;
    rejectedWith(tampered, 'bad-csr-signature');
  });

  it('bad-csr-signature when the signed subject was changed', async () => {
    const privateKey = await newPrivateKey('ecdsa-p256');
    const der = await encodeCertificationRequest([{ attribute: 'CN', value: 'device-1' }], spkiOf(privateKey), signerWith('ecdsa-p256', privateKey));
    const tampered = Buffer.from(Buffer.from(der).toString('latin1').replace('device-1', 'device-2'), 'latin1');
    rejectedWith(tampered, 'bad-csr-signature');
  });

  it('bad-csr-signature when signed by another key (no proof of possession)', async () => {
    const claimedKey = await newPrivateKey('ecdsa-p256');
    const signingKey = await newPrivateKey('ecdsa-p256');
    // Assembled by hand: the encoder refuses to produce such a request.
    const requestInfo = encodeElement(DerTag.sequence, Uint8Array.of(0x02, 0x01, 0x00), encodeDistinguishedName(SUBJECT), spkiOf(claimedKey), Uint8Array.of(0xa0, 0x00));
    const signature = sign('sha256', requestInfo, signingKey);
    const ecdsaWithSha256 = Buffer.from('300a06082a8648ce3d040302', 'hex');
    const forged = encodeElement(DerTag.sequence, requestInfo, ecdsaWithSha256, encodeElement(DerTag.bitString, Uint8Array.of(0), signature));
    rejectedWith(forged, 'bad-csr-signature');
    // The same bytes signed by the claimed key pass, so it is the key that is refused.
    const genuine = encodeElement(DerTag.sequence, requestInfo, ecdsaWithSha256, encodeElement(DerTag.bitString, Uint8Array.of(0), sign('sha256', requestInfo, claimedKey)));
    assert.equal(parseCertificationRequest(genuine).keyAlgorithm, 'ecdsa-p256');
  });

  /** A well-formed request for `spki`, whatever it holds, signed by some other key: the key is judged before the signature. */
  function requestFor(spki: Uint8Array): Uint8Array {
    const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const requestInfo = encodeElement(DerTag.sequence, Uint8Array.of(0x02, 0x01, 0x00), encodeDistinguishedName(SUBJECT), spki, Uint8Array.of(0xa0, 0x00));
    const ecdsaWithSha256 = Buffer.from('300a06082a8648ce3d040302', 'hex');
    return encodeElement(DerTag.sequence, requestInfo, ecdsaWithSha256, encodeElement(DerTag.bitString, Uint8Array.of(0), sign('sha256', requestInfo, signingKey)));
  }

  it('malformed-csr for an EC point that is not on its curve, or not a point', async () => {
    for (const curve of ['P-256', 'P-384'] as const) {
      const spki = spkiOf(await newPrivateKey(curve === 'P-256' ? 'ecdsa-p256' : 'ecdsa-p384'));
      const offCurve = Uint8Array.from(spki);
      offCurve[offCurve.length - 1]! ^= 0x01;
      rejectedWith(requestFor(offCurve), 'malformed-csr', /public key is invalid/);
      const coordinates = curve === 'P-256' ? 32 : 48;
      // x = 2^n - 1 lies beyond the field prime: no curve point has it.
      const outsideField = Uint8Array.from(spki);
      outsideField.fill(0xff, spki.length - 2 * coordinates, spki.length - coordinates);
      rejectedWith(requestFor(outsideField), 'malformed-csr', /public key is invalid/);
    }
    // An uncompressed point one octet short, the point at infinity, and the hybrid form RFC 5480 §2.2 does not allow.
    const p256 = spkiOf(await newPrivateKey('ecdsa-p256'));
    const algorithm = p256.subarray(2, 2 + 21);
    const short = encodeElement(DerTag.sequence, algorithm, encodeElement(DerTag.bitString, Uint8Array.of(0), p256.subarray(p256.length - 65, p256.length - 1)));
    rejectedWith(requestFor(short), 'malformed-csr', /public key is invalid/);
    const infinity = encodeElement(DerTag.sequence, algorithm, encodeElement(DerTag.bitString, Uint8Array.of(0, 0)));
    rejectedWith(requestFor(infinity), 'malformed-csr', /public key is invalid/);
    const hybrid = Uint8Array.from(p256);
    hybrid[hybrid.length - 65] = 0x06 | (hybrid[hybrid.length - 1]! & 1);
    rejectedWith(requestFor(hybrid), 'malformed-csr', /public key is invalid/);
  });

  it('accepts a P-256 key given as a compressed point, keeping its SubjectPublicKeyInfo as sent', async () => {
    const privateKey = await newPrivateKey('ecdsa-p256');
    const point = spkiOf(privateKey).subarray(-65);
    const compressed = Uint8Array.from(Buffer.concat([Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'), Buffer.of(2 + (point[64]! & 1)), point.subarray(1, 33)]));
    const parsed = parseCertificationRequest(await encodeCertificationRequest(SUBJECT, compressed, signerWith('ecdsa-p256', privateKey)));
    assert.equal(parsed.keyAlgorithm, 'ecdsa-p256');
    assert.deepEqual(parsed.subjectPublicKeyInfo, compressed);
    const flipped = Uint8Array.from(compressed);
    flipped[flipped.length - 33]! ^= 0x01; // the other y: the same x, the negated point, another key
    rejectedWith(requestFor(flipped), 'bad-csr-signature');
  });

  it('malformed-csr for truncated input, garbage and trailing bytes', async () => {
    const privateKey = await newPrivateKey('ecdsa-p256');
    const der = await encodeCertificationRequest(SUBJECT, spkiOf(privateKey), signerWith('ecdsa-p256', privateKey));
    rejectedWith(der.subarray(0, der.length - 10), 'malformed-csr', /truncated/);
    rejectedWith(Uint8Array.from([...der, 0x00]), 'malformed-csr', /after the end/);
    rejectedWith(Uint8Array.of(0x30, 0x80, 0x00, 0x00), 'malformed-csr', /indefinite/);
    rejectedWith(Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff), 'malformed-csr');
    rejectedWith(new Uint8Array(0), 'malformed-csr', /empty/);
    rejectedWith(encodePem(Uint8Array.of(0x30, 0x00), 'CERTIFICATE REQUEST'), 'malformed-csr');
    rejectedWith(encodePem(Uint8Array.of(0x02, 0x01, 0x00), 'CERTIFICATE REQUEST'), 'malformed-csr');
  });

  it('malformed-csr for a request larger than the cap', () => {
    rejectedWith(new Uint8Array(MAXIMUM_CERTIFICATION_REQUEST_SIZE + 1), 'malformed-csr', /at most 65536/);
    rejectedWith(' '.repeat(MAXIMUM_CERTIFICATION_REQUEST_SIZE + 1), 'malformed-csr', /at most 65536/);
  });

  it('malformed-pem for a wrong label or broken base64', async () => {
    const privateKey = await newPrivateKey('ecdsa-p256');
    const der = await encodeCertificationRequest(SUBJECT, spkiOf(privateKey), signerWith('ecdsa-p256', privateKey));
    rejectedWith(encodePem(der, 'CERTIFICATE'), 'malformed-pem', /"CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST", found "CERTIFICATE"/);
    rejectedWith(encodePem(der, 'CERTIFICATE REQUEST').replace(/\n[A-Za-z0-9+/]{4}/, '\n!!!!'), 'malformed-pem');
    rejectedWith(Buffer.from(der).toString('base64'), 'malformed-pem');
    assert.deepEqual(decodeSinglePem(encodePem(der, 'CERTIFICATE REQUEST'), 'CERTIFICATE REQUEST'), der);
  });

  it('unsupported-algorithm naming P-521 and RSA-1024 keys (openssl)', () => {
    rejectedWith(opensslRequest(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'], ['-sha512']), 'unsupported-algorithm', /P-521/);
    rejectedWith(opensslRequest(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], ['-sha256']), 'unsupported-algorithm', /RSA-1024/);
    rejectedWith(opensslRequest(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], ['-sha256']), 'unsupported-algorithm', /secp256k1/);
    rejectedWith(opensslRequest(['-algorithm', 'ED448']), 'unsupported-algorithm', /Ed448/);
  });

  it('unsupported-algorithm for P-521, RSA-1024 and exponent-3 keys in otherwise valid requests', async () => {
    const p521 = (await generateKeyPairAsync('ec', { namedCurve: 'P-521' })).privateKey;
    rejectedWith(await encodeCertificationRequest(SUBJECT, spkiOf(p521), signerWith('ecdsa-p384', p521)), 'unsupported-algorithm', /P-521/);
    const rsa1024 = (await generateKeyPairAsync('rsa', { modulusLength: 1024 })).privateKey;
    rejectedWith(await encodeCertificationRequest(SUBJECT, spkiOf(rsa1024), signerWith('rsa-2048', rsa1024)), 'unsupported-algorithm', /RSA-1024/);
    const exponent3 = (await generateKeyPairAsync('rsa', { modulusLength: 2048, publicExponent: 3 })).privateKey;
    rejectedWith(await encodeCertificationRequest(SUBJECT, spkiOf(exponent3), signerWith('rsa-2048', exponent3)), 'unsupported-algorithm', /exponent 3/);
  });

  it('unsupported-algorithm for a SHA-1 signature', () => {
    rejectedWith(opensslRequest(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], ['-sha1']), 'unsupported-algorithm', /SHA1/);
  });
});

describe('importPublicKey', () => {
  it('makes the same key as a DER import does, for many P-256, P-384 and Ed25519 keys', () => {
    for (let i = 0; i < 20; i++) {
      for (const pair of [generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('ec', { namedCurve: 'P-384' }), generateKeyPairSync('ed25519')]) {
        const der = pair.publicKey.export({ format: 'der', type: 'spki' });
        const imported = importPublicKey(readPublicKeyInfo(new Uint8Array(der)));
        assert.ok(imported.equals(pair.publicKey));
        assert.deepEqual(imported.export({ format: 'der', type: 'spki' }), der);
      }
    }
  });

  it('imports RSA and P-521 keys from DER', () => {
    for (const pair of [generateKeyPairSync('rsa', { modulusLength: 1024 }), generateKeyPairSync('ec', { namedCurve: 'P-521' })]) {
      assert.ok(importPublicKey(readPublicKeyInfo(new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' })))).equals(pair.publicKey));
    }
  });
});
