/**
 * Known-answer and structure tests for the certificate encoder: certificates
 * for every custody key algorithm, read back with @peculiar/x509 (an
 * independent decoder) and verified with node:crypto.
 */
import 'reflect-metadata';
import { createHash, createPrivateKey, createPublicKey, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as x509 from '@peculiar/x509';
import { KEY_ALGORITHMS, signatureSchemeFor, type KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { DomainError } from '../../src/shared/errors.js';
import { encodeCertificate, encodeCertificationRequest, subjectKeyIdentifierOf, type CertificateRequest } from '../../src/codec/certificate-encoder.js';
import { encodeDistinguishedName, type DistinguishedName } from '../../src/codec/distinguished-name.js';
import { encodePem } from '../../src/codec/pem.js';
import { readChildren, readSingleElement } from '../../src/codec/der.js';
import { newTestKey, testKeyOf, type TestKey } from '../support/test-keys.js';

/** Ed25519 key from a fixed seed (RFC 8410 §7 PKCS#8 layout), so that signatures are reproducible. */
function fixedEd25519Key(): TestKey {
  const seed = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  return testKeyOf('ed25519', createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
}

/** 0xc0ffee... has its top bit set, so the INTEGER content needs a 0x00 sign octet. */
const SERIAL_HEX = 'c0ffee00000000000000000000000001';
const SERIAL = Uint8Array.from(Buffer.from(`00${SERIAL_HEX}`, 'hex'));
const NOT_BEFORE = new Date('2024-05-01T12:00:00Z');
const NOT_AFTER = new Date('2034-05-01T12:00:00Z');
const ROOT_SUBJECT: DistinguishedName = [
  { attribute: 'C', value: 'DE' },
  { attribute: 'O', value: 'ccm test' },
  { attribute: 'CN', value: 'Platform CA' },
];
const DEVICE_SUBJECT: DistinguishedName = [
  { attribute: 'O', value: 'Tenant A' },
  { attribute: 'OU', value: 'sensor' },
  { attribute: 'CN', value: 'Gerät-Ω' },
];

function selfSignedRequest(key: TestKey, overrides: Partial<CertificateRequest> = {}): CertificateRequest {
  return {
    serialNumber: SERIAL,
    issuerName: encodeDistinguishedName(ROOT_SUBJECT),
    issuerKeyIdentifier: null,
    subject: ROOT_SUBJECT,
    subjectPublicKeyInfo: key.spki,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    profile: { kind: 'ca', pathLenConstraint: 2 },
    ...overrides,
  };
}

function clientRequest(issuer: TestKey, subjectKey: TestKey, overrides: Partial<CertificateRequest> = {}): CertificateRequest {
  return {
    serialNumber: SERIAL,
    issuerName: encodeDistinguishedName(ROOT_SUBJECT),
    issuerKeyIdentifier: subjectKeyIdentifierOf(issuer.spki),
    subject: DEVICE_SUBJECT,
    subjectPublicKeyInfo: subjectKey.spki,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    profile: { kind: 'client' },
    ...overrides,
  };
}

function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('hex');
}

/** Tags of the notBefore and notAfter Time values: 0x17 UTCTime, 0x18 GeneralizedTime. */
function validityTags(der: Uint8Array): [number, number] {
  const tbs = readChildren(readChildren(readSingleElement(der))[0]!);
  const [notBefore, notAfter] = readChildren(tbs[4]!);
  return [notBefore!.tag, notAfter!.tag];
}

async function rejection(promise: Promise<unknown>, kind: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
    assert.equal(error.kind, kind);
    if (message) assert.match(error.message, message);
    return true;
  });
}

describe('encodeCertificate', () => {
  const keys = new Map<KeyAlgorithm, TestKey>();

  before(async () => {
    await Promise.all(KEY_ALGORITHMS.map(async (algorithm) => keys.set(algorithm, await newTestKey(algorithm))));
  });

  for (const algorithm of KEY_ALGORITHMS) {
    it(`signs a self-signed CA certificate with ${algorithm} that verifies and carries the CA profile`, async () => {
      const key = keys.get(algorithm)!;
      const der = await encodeCertificate(selfSignedRequest(key), key.signer);

      const nodeCertificate = new NodeX509Certificate(der);
      assert.ok(nodeCertificate.verify(createPublicKey(key.privateKey)), 'signature verifies with the CA key');

      const certificate = new x509.X509Certificate(der);
      assert.equal(certificate.serialNumber.replace(/^00/, ''), SERIAL_HEX);
      assert.equal(certificate.subject, 'C=DE, O=ccm test, CN=Platform CA');
      assert.equal(certificate.issuer, certificate.subject);
      assert.equal(certificate.notBefore.toISOString(), NOT_BEFORE.toISOString());
      assert.equal(certificate.notAfter.toISOString(), NOT_AFTER.toISOString());
      assert.equal(hex(certificate.publicKey.rawData), hex(key.spki));

      const basicConstraints = certificate.getExtension(x509.BasicConstraintsExtension)!;
      assert.equal(basicConstraints.critical, true);
      assert.equal(basicConstraints.ca, true);
      assert.equal(basicConstraints.pathLength, 2);
      const keyUsage = certificate.getExtension(x509.KeyUsagesExtension)!;
      assert.equal(keyUsage.critical, true);
      assert.equal(keyUsage.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature);
      assert.equal(certificate.getExtension(x509.ExtendedKeyUsageExtension), null);
      const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension)!;
      const aki = certificate.getExtension(x509.AuthorityKeyIdentifierExtension)!;
      assert.equal(ski.critical, false);
      assert.equal(ski.keyId, hex(subjectKeyIdentifierOf(key.spki)));
      assert.equal(aki.keyId, ski.keyId, 'a self-signed certificate names its own key as authority');
      assert.equal(aki.certId, undefined, 'keyIdentifier only');
    });

    it(`writes the ${algorithm} signature AlgorithmIdentifier the key-algorithm table names, inside and outside`, async () => {
      const key = keys.get(algorithm)!;
      const der = await encodeCertificate(selfSignedRequest(key), key.signer);
      const [tbs, outerAlgorithm] = readChildren(readSingleElement(der));
      const innerAlgorithm = readChildren(tbs!)[2]!;
      assert.equal(hex(innerAlgorithm.bytes), hex(outerAlgorithm!.bytes));
      const scheme = signatureSchemeFor(algorithm);
      const parameters = readChildren(outerAlgorithm!)[1];
      if (scheme.nullParameters) assert.equal(hex(parameters!.bytes), '0500', 'RSA carries an explicit NULL (RFC 4055 §5)');
      else assert.equal(parameters, undefined, 'ECDSA and Ed25519 carry no parameters');
      assert.equal((new x509.X509Certificate(der).signatureAlgorithm as unknown as { name: string }).name, algorithm === 'ed25519' ? 'Ed25519' : algorithm.startsWith('rsa') ? 'RSASSA-PKCS1-v1_5' : 'ECDSA');
    });
  }

  for (const subjectAlgorithm of ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048'] as const) {
    it(`issues a client certificate for a ${subjectAlgorithm} key with the client profile`, async () => {
      const issuer = keys.get('ecdsa-p256')!;
      const subject = keys.get(subjectAlgorithm)!;
      const der = await encodeCertificate(clientRequest(issuer, subject), issuer.signer);
      assert.ok(new NodeX509Certificate(der).verify(createPublicKey(issuer.privateKey)));

      const certificate = new x509.X509Certificate(der);
      const basicConstraints = certificate.getExtension(x509.BasicConstraintsExtension)!;
      assert.equal(basicConstraints.critical, true);
      assert.equal(basicConstraints.ca, false);
      assert.equal(basicConstraints.pathLength, undefined);
      const keyUsage = certificate.getExtension(x509.KeyUsagesExtension)!;
      assert.equal(keyUsage.critical, true);
      const expectedUsage = subjectAlgorithm === 'rsa-2048' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature;
      assert.equal(keyUsage.usages, expectedUsage);
      const extendedKeyUsage = certificate.getExtension(x509.ExtendedKeyUsageExtension)!;
      assert.equal(extendedKeyUsage.critical, false);
      assert.deepEqual([...extendedKeyUsage.usages], [x509.ExtendedKeyUsage.clientAuth]);
      assert.equal(certificate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId, hex(subjectKeyIdentifierOf(subject.spki)));
      assert.equal(certificate.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, hex(subjectKeyIdentifierOf(issuer.spki)), 'AKI links to the issuer SKI');
      assert.equal(certificate.getExtension(x509.SubjectAlternativeNameExtension), null, 'no SAN unless asked for');
      assert.equal(hex(certificate.publicKey.rawData), hex(subject.spki));
    });
  }

  it('encodes a non-ASCII CN as UTF8String and C as PrintableString', async () => {
    const issuer = keys.get('ecdsa-p256')!;
    const der = await encodeCertificate(clientRequest(issuer, issuer, { subject: [{ attribute: 'C', value: 'AT' }, ...DEVICE_SUBJECT] }), issuer.signer);
    const certificate = new x509.X509Certificate(der);
    assert.equal(certificate.subjectName.getField('CN')[0], 'Gerät-Ω');
    const derHex = hex(der);
    assert.ok(derHex.includes(`0c09${Buffer.from('Gerät-Ω', 'utf8').toString('hex')}`), 'CN is a UTF8String');
    assert.ok(derHex.includes(`06035504061302${Buffer.from('AT').toString('hex')}`), 'C is a PrintableString');
  });

  it('copies the issuer name byte for byte, even in a string type ccm would not write', async () => {
    const issuer = keys.get('ecdsa-p256')!;
    // CN=Old CA as a TeletexString, as an old external CA might have it.
    const issuerName = Buffer.from('3011310f300d06035504031406' + Buffer.from('Old CA').toString('hex'), 'hex');
    const der = await encodeCertificate(clientRequest(issuer, issuer, { issuerName }), issuer.signer);
    const tbs = readChildren(readChildren(readSingleElement(der))[0]!);
    assert.equal(hex(tbs[3]!.bytes), hex(issuerName));
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050, without milliseconds', async () => {
    const key = keys.get('ed25519')!;
    const through2049 = await encodeCertificate(
      selfSignedRequest(key, { notBefore: new Date('2049-12-31T23:59:58.999Z'), notAfter: new Date('2049-12-31T23:59:59.999Z') }),
      key.signer,
    );
    assert.deepEqual(validityTags(through2049), [0x17, 0x17]);
    const certificate = new x509.X509Certificate(through2049);
    assert.equal(certificate.notBefore.toISOString(), '2049-12-31T23:59:58.000Z');
    assert.equal(certificate.notAfter.toISOString(), '2049-12-31T23:59:59.000Z');

    const from2050 = await encodeCertificate(selfSignedRequest(key, { notAfter: new Date('2050-01-01T00:00:00.500Z') }), key.signer);
    assert.deepEqual(validityTags(from2050), [0x17, 0x18]);
    assert.ok(hex(from2050).includes(`180f${Buffer.from('20500101000000Z').toString('hex')}`), 'GeneralizedTime without fraction');
    assert.equal(new x509.X509Certificate(from2050).notAfter.toISOString(), '2050-01-01T00:00:00.000Z');
    assert.ok(hex(through2049).includes(`170d${Buffer.from('491231235959Z').toString('hex')}`));
  });

  it('is a known answer for Ed25519: the same request gives the same bytes', async () => {
    const key = fixedEd25519Key();
    const request = selfSignedRequest(key, {
      profile: { kind: 'ca', pathLenConstraint: null },
    });
    const first = await encodeCertificate(request, key.signer);
    const second = await encodeCertificate(request, key.signer);
    assert.equal(hex(first), hex(second));
    assert.equal(hex(first), ED25519_KNOWN_ANSWER);
    const basicConstraints = new x509.X509Certificate(first).getExtension(x509.BasicConstraintsExtension)!;
    assert.equal(basicConstraints.pathLength, undefined, 'no pathLen when unconstrained');
  });

  it('is a known answer for an Ed25519-signed client certificate with every optional extension', async () => {
    const key = fixedEd25519Key();
    const der = await encodeCertificate(
      clientRequest(key, key, {
        subjectAltNames: { dns: ['device-1.example.com'], uri: ['urn:ccm:device:1'], email: ['ops@example.com'], ip: ['192.0.2.1', '2001:db8::1'] },
        crlDistributionPoints: ['http://pki.example.com/crl/tenant-a.crl'],
        ocspUrls: ['http://pki.example.com/ocsp'],
        caIssuersUrls: ['http://pki.example.com/ca/tenant-a.crt'],
      }),
      key.signer,
    );
    assert.equal(createHash('sha256').update(der).digest('hex'), ED25519_CLIENT_KNOWN_SHA256);
    const certificate = new x509.X509Certificate(der);
    const san = certificate.getExtension(x509.SubjectAlternativeNameExtension)!;
    assert.equal(san.critical, false);
    assert.deepEqual(san.names.toJSON(), [
      { type: 'dns', value: 'device-1.example.com' },
      { type: 'url', value: 'urn:ccm:device:1' },
      { type: 'email', value: 'ops@example.com' },
      { type: 'ip', value: '192.0.2.1' },
      { type: 'ip', value: '2001:db8::1' },
    ]);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: encodePem(der, 'CERTIFICATE') }).toString();
    assert.match(text, /X509v3 CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/pki\.example\.com\/crl\/tenant-a\.crl/);
    assert.match(text, /OCSP - URI:http:\/\/pki\.example\.com\/ocsp/);
    assert.match(text, /CA Issuers - URI:http:\/\/pki\.example\.com\/ca\/tenant-a\.crt/);
  });

  it('makes the SAN critical when the subject is empty', async () => {
    const issuer = keys.get('ecdsa-p256')!;
    const der = await encodeCertificate(clientRequest(issuer, issuer, { subject: [], subjectAltNames: { uri: ['urn:ccm:device:2'] } }), issuer.signer);
    const certificate = new x509.X509Certificate(der);
    assert.equal(certificate.subject, '');
    assert.equal(certificate.getExtension(x509.SubjectAlternativeNameExtension)!.critical, true);
  });

  it('computes the SKI as SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1)', () => {
    const key = fixedEd25519Key();
    const rawKey = key.spki.subarray(key.spki.length - 32);
    assert.equal(hex(subjectKeyIdentifierOf(key.spki)), createHash('sha1').update(rawKey).digest('hex'));
  });

  describe('refuses requests it cannot encode', () => {
    it('invalid-request for an empty subject without SAN', async () => {
      const issuer = keys.get('ecdsa-p256')!;
      await rejection(encodeCertificate(clientRequest(issuer, issuer, { subject: [] }), issuer.signer), 'invalid-request', /subject alternative name/);
    });
    it('invalid-request for a CA without subject', async () => {
      const key = keys.get('ecdsa-p256')!;
      await rejection(encodeCertificate(selfSignedRequest(key, { subject: [], issuerName: encodeDistinguishedName(ROOT_SUBJECT) }), key.signer), 'invalid-request');
    });
    it('invalid-request for a self-signed certificate whose issuer name is not its subject', async () => {
      const key = keys.get('ecdsa-p256')!;
      await rejection(encodeCertificate(selfSignedRequest(key, { issuerName: encodeDistinguishedName(DEVICE_SUBJECT) }), key.signer), 'invalid-request', /self-signed/);
    });
    it('invalid-request for a serial that is zero, negative, not minimal or too long', async () => {
      const key = keys.get('ecdsa-p256')!;
      for (const serialNumber of [Uint8Array.of(0), Uint8Array.of(0x80), Uint8Array.of(0, 1), new Uint8Array(21).fill(1), new Uint8Array(0)]) {
        await rejection(encodeCertificate(selfSignedRequest(key, { serialNumber }), key.signer), 'invalid-request', /serial/);
      }
    });
    it('invalid-request when notAfter is before notBefore', async () => {
      const key = keys.get('ecdsa-p256')!;
      await rejection(encodeCertificate(selfSignedRequest(key, { notAfter: new Date('2020-01-01T00:00:00Z') }), key.signer), 'invalid-request', /notAfter/);
    });
    it('invalid-request for a CN over 64 characters, naming the attribute', async () => {
      const key = keys.get('ecdsa-p256')!;
      const subject = [{ attribute: 'CN' as const, value: 'x'.repeat(65) }];
      await rejection(encodeCertificate(selfSignedRequest(key, { subject, issuerName: encodeDistinguishedName([{ attribute: 'CN', value: 'a' }]) }), key.signer), 'invalid-request', /CN/);
    });
    it('invalid-request for a malformed subject public key', async () => {
      const issuer = keys.get('ecdsa-p256')!;
      await rejection(encodeCertificate(clientRequest(issuer, issuer, { subjectPublicKeyInfo: Uint8Array.of(0x30, 0x03, 0x01, 0x01, 0xff) }), issuer.signer), 'invalid-request');
      await rejection(encodeCertificate(clientRequest(issuer, issuer, { subjectPublicKeyInfo: Uint8Array.from([...issuer.spki, 0]) }), issuer.signer), 'invalid-request');
    });
    it('invalid-request for a negative pathLenConstraint', async () => {
      const key = keys.get('ecdsa-p256')!;
      await rejection(encodeCertificate(selfSignedRequest(key, { profile: { kind: 'ca', pathLenConstraint: -1 } }), key.signer), 'invalid-request');
    });
    it('invalid-request for bad SAN values and non-HTTP CRL URLs', async () => {
      const issuer = keys.get('ecdsa-p256')!;
      for (const subjectAltNames of [{ dns: ['bad name'] }, { dns: ['-x.example'] }, { ip: ['300.1.1.1'] }, { uri: ['not a uri'] }, { uri: ['relative/path'] }, { email: ['no-at-sign'] }, { email: ['ü@example.com'] }]) {
        await rejection(encodeCertificate(clientRequest(issuer, issuer, { subjectAltNames }), issuer.signer), 'invalid-request');
      }
      await rejection(encodeCertificate(clientRequest(issuer, issuer, { crlDistributionPoints: ['ftp://x.example/a.crl'] }), issuer.signer), 'invalid-request');
    });
  });
});

describe('encodeCertificationRequest', () => {
  it('builds a PKCS #10 request that openssl verifies, with no attributes', async () => {
    const key = await newTestKey('ecdsa-p384');
    const der = await encodeCertificationRequest(ROOT_SUBJECT, key.spki, key.signer);
    const output = execFileSync('openssl', ['req', '-noout', '-verify', '-text'], { input: encodePem(der, 'CERTIFICATE REQUEST'), stdio: ['pipe', 'pipe', 'pipe'] }).toString();
    assert.match(output, /Subject: C\s*=\s*DE, O\s*=\s*ccm test, CN\s*=\s*Platform CA/);
    assert.match(output, /ecdsa-with-SHA384/);
    const request = new x509.Pkcs10CertificateRequest(der);
    assert.equal(request.attributes.length, 0);
    assert.equal(await request.verify(), true);
  });

  it('certificate-key-mismatch when the signer holds another key than the one requested', async () => {
    const key = await newTestKey('ecdsa-p256');
    const other = await newTestKey('ecdsa-p256');
    await rejection(encodeCertificationRequest(ROOT_SUBJECT, key.spki, other.signer), 'certificate-key-mismatch');
  });
});

/**
 * Self-signed Ed25519 CA certificate for the fixed key, serial and dates above,
 * pathLen unconstrained. Checked once by hand with `openssl x509 -text` and
 * `openssl verify`; a change here means the encoding changed.
 */
const ED25519_KNOWN_ANSWER = [
  '3082018e30820140a003020102021100c0ffee00000000000000000000000001300506032b65703036310b3009060355',
  '0406130244453111300f060355040a0c0863636d20746573743114301206035504030c0b506c6174666f726d20434130',
  '1e170d3234303530313132303030305a170d3334303530313132303030305a3036310b30090603550406130244453111',
  '300f060355040a0c0863636d20746573743114301206035504030c0b506c6174666f726d204341302a300506032b6570',
  '03210079b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664a3633061300f0603551d130101',
  'ff040530030101ff300e0603551d0f0101ff040403020186301d0603551d0e041604144e1cf1bb1520cd0d9a99ee1f4a',
  'e7521647dd6a53301f0603551d230418301680144e1cf1bb1520cd0d9a99ee1f4ae7521647dd6a53300506032b657003',
  '4100dcd588eeb55237b3d3e819edac8d1c83fb0d876afc28a40433f91b8ba977e0b182db977f19364d9d058b93a41adc',
  '7f8c105074d9f7dddc62877c09f6726f0d05',
].join('');
/** SHA-256 of the client certificate with SAN, CRL DP and AIA for the same fixed key; checked once with openssl. */
const ED25519_CLIENT_KNOWN_SHA256 = '3d1a4858046da7fe88f4768cbd42410e3d71e532c2b0aabb3de061ec90489980';
