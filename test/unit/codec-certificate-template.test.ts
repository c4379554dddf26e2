/**
 * The client certificate template against the generic encoder it stands in
 * for: byte-for-byte equal output over random serials, validity periods,
 * subjects, URI subject alternative names, subject keys, issuers and URLs
 * (property); the same refusals;
 * the same fields when read back with @peculiar/x509; and a chain that
 * `openssl verify` accepts.
 */
import 'reflect-metadata';
import { createHash, createPublicKey, generateKeyPairSync, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as x509 from '@peculiar/x509';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { DomainError } from '../../src/shared/errors.js';
import {
  encodeCertificate,
  encodeCertificateGeneric,
  subjectKeyIdentifierOf,
  usesClientCertificateTemplate,
  type CertificateRequest,
} from '../../src/codec/certificate-encoder.js';
import { ClientCertificateTemplate, type ClientCertificateIssuer } from '../../src/codec/certificate-template.js';
import { encodeDistinguishedName, type DistinguishedName } from '../../src/codec/distinguished-name.js';
import { encodePem } from '../../src/codec/pem.js';
import type { Signer } from '../../src/codec/signer.js';
import { distinguishedName } from '../support/name-arbitraries.js';
import { openssl, Scratch } from '../support/openssl.js';
import { newTestKey, type TestKey } from '../support/test-keys.js';

/** Typical signature lengths, so certificate lengths cross the same length-octet boundaries real ones do. */
const SIGNATURE_LENGTHS: Record<KeyAlgorithm, number> = { 'ecdsa-p256': 72, 'ecdsa-p384': 104, ed25519: 64, 'rsa-2048': 256, 'rsa-3072': 384, 'rsa-4096': 512 };

/** Signs nothing: returns a digest of the TBSCertificate stretched to the algorithm's signature length, so equal TBS bytes give equal certificates. */
function deterministicSigner(algorithm: KeyAlgorithm): Signer {
  return {
    algorithm,
    sign: async (data) => {
      const digest = createHash('sha512').update(data).digest();
      return Uint8Array.from({ length: SIGNATURE_LENGTHS[algorithm] }, (_, i) => digest[i % digest.length]!);
    },
  };
}

function hex(bytes: Uint8Array | ArrayBuffer): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('hex');
}

const ISSUER_SUBJECT: DistinguishedName = [
  { attribute: 'C', value: 'DE' },
  { attribute: 'O', value: 'Tenant A' },
  { attribute: 'CN', value: 'Tenant A Root' },
];
const DEVICE_SUBJECT: DistinguishedName = [
  { attribute: 'O', value: 'Tenant A' },
  { attribute: 'OU', value: 'sensor' },
  { attribute: 'CN', value: 'Gerät-Ω' },
];
const URLS = {
  crlDistributionPoints: ['http://pki.example.com/crl/tenant-a.crl', 'ldap://ldap.example.com/cn=Tenant%20A'],
  ocspUrls: ['http://pki.example.com/ocsp'],
  caIssuersUrls: ['https://pki.example.com/ca/tenant-a.crt'],
};

/** DER INTEGER content of a positive value: leading zeros dropped, a sign octet added when needed, never more than 20 octets. */
function serialFrom(random: Uint8Array): Uint8Array {
  let start = 0;
  while (start < random.length - 1 && random[start] === 0) start++;
  let significant = random.subarray(start);
  if (significant.length === 20 && (significant[0]! & 0x80) !== 0) significant = significant.subarray(1);
  if (significant.length === 1 && significant[0] === 0) return Uint8Array.of(1);
  return (significant[0]! & 0x80) !== 0 ? Uint8Array.from([0, ...significant]) : Uint8Array.from(significant);
}

const serialNumber = fc.uint8Array({ minLength: 1, maxLength: 20 }).map(serialFrom);

/** Anywhere in 0001..9999, and often next to the UTCTime/GeneralizedTime boundaries, with milliseconds. */
const date = fc.oneof(
  fc.date({ min: new Date('0001-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
  fc.date({ min: new Date('1949-12-31T23:59:58.000Z'), max: new Date('1950-01-01T00:00:01.999Z'), noInvalidDate: true }),
  fc.date({ min: new Date('2049-12-31T23:59:58.000Z'), max: new Date('2050-01-01T00:00:01.999Z'), noInvalidDate: true }),
  fc.date({ min: new Date('2020-01-01T00:00:00.000Z'), max: new Date('2045-12-31T23:59:59.999Z'), noInvalidDate: true }),
);
const validity = fc.tuple(date, date).map(([a, b]) => (a.getTime() <= b.getTime() ? { notBefore: a, notAfter: b } : { notBefore: b, notAfter: a }));

const urlText = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-._~/%'), maxLength: 160 });
const url = fc
  .tuple(fc.constantFrom('http', 'https', 'ldap', 'HTTP'), fc.constantFrom('pki.example.com', 'crl.tenant-a.example', '192.0.2.7:8080'), urlText)
  .map(([scheme, host, path]) => `${scheme}://${host}/${path}`);
const urls = fc.array(url, { maxLength: 3 });

/** ccm's own urn:uuid, fetchable URLs and other schemes; some of 100 to 300 characters, around the 128-octet boundary where a name's length takes two octets. */
const uri = fc.oneof(
  fc.uuid().map((id) => `urn:uuid:${id}`),
  url,
  fc
    .tuple(
      fc.constantFrom('urn:ccm:device:', 'spiffe://tenant-a.example/', 'mqtts://broker.example:8883/'),
      fc.oneof(urlText, fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-._~/%'), minLength: 100, maxLength: 300 })),
    )
    .map(([prefix, rest]) => prefix + rest),
);
/**
 * The alternative names the template covers: none, ccm's one urn:uuid, or up
 * to five URIs (enough for the SAN and the extensions around it to cross the
 * 128- and 256-octet length boundaries); with an empty subject, at least one.
 */
const subjectWithUris = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      subject: distinguishedName({ minLength: 1, maxLength: 6 }),
      subjectAltNames: fc.oneof(
        fc.constant(undefined),
        fc.uuid().map((id) => ({ uri: [`urn:uuid:${id}`] })),
        fc.array(uri, { maxLength: 5 }).map((uris) => ({ uri: uris })),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ subject: fc.constant<DistinguishedName>([]), subjectAltNames: fc.array(uri, { minLength: 1, maxLength: 3 }).map((uris) => ({ uri: uris })) }) },
);
const DEVICE_URN = 'urn:uuid:0192f3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d';

async function rejectionOf(promise: Promise<unknown>): Promise<{ kind: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
    return { kind: error.kind, message: error.message };
  }
  assert.fail('expected a rejection');
}

describe('ClientCertificateTemplate', () => {
  /** Subject keys of every kind the generic encoder copies: the device algorithms, a compressed P-256 point, a key type ccm does not sign for. */
  const subjectKeys: Array<{ label: string; spki: Uint8Array }> = [];
  const signingKeys = new Map<KeyAlgorithm, TestKey>();

  before(async () => {
    for (const algorithm of ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048'] as const) {
      const key = await newTestKey(algorithm);
      signingKeys.set(algorithm, key);
      subjectKeys.push({ label: algorithm, spki: key.spki });
    }
    const point = signingKeys.get('ecdsa-p256')!.spki.subarray(-65);
    const compressed = Buffer.concat([Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'), Buffer.of(2 + (point[64]! & 1)), point.subarray(1, 33)]);
    subjectKeys.push({ label: 'compressed P-256', spki: new Uint8Array(compressed) });
    subjectKeys.push({ label: 'X25519', spki: new Uint8Array(generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' })) });
  });

  function clientRequest(overrides: Partial<CertificateRequest> = {}): CertificateRequest {
    const issuer = signingKeys.get('ecdsa-p256')!;
    return {
      serialNumber: Uint8Array.from(Buffer.from('00c0ffee00000000000000000000000001', 'hex')),
      issuerName: encodeDistinguishedName(ISSUER_SUBJECT),
      issuerKeyIdentifier: subjectKeyIdentifierOf(issuer.spki),
      subject: DEVICE_SUBJECT,
      subjectPublicKeyInfo: signingKeys.get('ecdsa-p384')!.spki,
      notBefore: new Date('2024-05-01T12:00:00Z'),
      notAfter: new Date('2025-05-01T12:00:00Z'),
      profile: { kind: 'client' },
      ...URLS,
      ...overrides,
    };
  }

  it('writes byte for byte what the generic encoder writes (property)', async () => {
    const request = fc.record({
      serialNumber,
      validity,
      identity: subjectWithUris,
      subjectKey: fc.nat({ max: subjectKeys.length - 1 }).map((index) => subjectKeys[index]!),
      signatureAlgorithm: fc.constantFrom(...KEY_ALGORITHMS),
      issuerName: distinguishedName({ minLength: 1, maxLength: 4 }).map(encodeDistinguishedName),
      issuerKeyIdentifier: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      crlDistributionPoints: fc.option(urls, { nil: undefined }),
      ocspUrls: fc.option(urls, { nil: undefined }),
      caIssuersUrls: fc.option(urls, { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(request, async (generated) => {
        const certificateRequest: CertificateRequest = {
          serialNumber: generated.serialNumber,
          issuerName: generated.issuerName,
          issuerKeyIdentifier: generated.issuerKeyIdentifier,
          subject: generated.identity.subject,
          subjectPublicKeyInfo: generated.subjectKey.spki,
          notBefore: generated.validity.notBefore,
          notAfter: generated.validity.notAfter,
          profile: { kind: 'client' },
          subjectAltNames: generated.identity.subjectAltNames,
          crlDistributionPoints: generated.crlDistributionPoints,
          ocspUrls: generated.ocspUrls,
          caIssuersUrls: generated.caIssuersUrls,
        };
        const signer = deterministicSigner(generated.signatureAlgorithm);
        assert.ok(usesClientCertificateTemplate(certificateRequest));
        const generic = hex(await encodeCertificateGeneric(certificateRequest, signer));
        assert.equal(hex(await encodeCertificate(certificateRequest, signer)), generic);
        const template = new ClientCertificateTemplate({ ...certificateRequest, issuerKeyIdentifier: generated.issuerKeyIdentifier, signatureAlgorithm: generated.signatureAlgorithm });
        assert.equal(hex(await template.issue({ ...certificateRequest, uniformResourceIdentifiers: generated.identity.subjectAltNames?.uri }, signer)), generic);
      }),
      { numRuns: 300 },
    );
  });

  it('is used for client certificates under a known issuer whose alternative names, if any, are URIs, and only for those', () => {
    assert.ok(usesClientCertificateTemplate(clientRequest()));
    assert.ok(usesClientCertificateTemplate(clientRequest({ subjectAltNames: { dns: [], uri: [] } })), 'empty SAN lists are no SAN');
    assert.ok(usesClientCertificateTemplate(clientRequest({ subjectAltNames: { uri: [DEVICE_URN] } })), 'the urn:uuid every ccm certificate carries');
    assert.ok(usesClientCertificateTemplate(clientRequest({ subjectAltNames: { uri: ['urn:ccm:device:1', 'https://devices.example/1'], dns: [], email: [], ip: [] } })));
    assert.ok(!usesClientCertificateTemplate(clientRequest({ subjectAltNames: { dns: ['device-1.example.com'] } })));
    assert.ok(!usesClientCertificateTemplate(clientRequest({ subjectAltNames: { uri: [DEVICE_URN], email: ['ops@example.com'] } })));
    assert.ok(!usesClientCertificateTemplate(clientRequest({ subjectAltNames: { uri: [DEVICE_URN], ip: ['192.0.2.1'] } })));
    assert.ok(!usesClientCertificateTemplate(clientRequest({ issuerKeyIdentifier: null })), 'self-signed: the AKI is the certificate’s own SKI');
    assert.ok(!usesClientCertificateTemplate(clientRequest({ profile: { kind: 'ocsp-responder' } })));
    assert.ok(!usesClientCertificateTemplate(clientRequest({ profile: { kind: 'ca', pathLenConstraint: 0 } })));
  });

  it('keeps cached templates apart by issuer, algorithm and URLs, and unaffected by later changes to the caller’s buffers', async () => {
    const issuerName = encodeDistinguishedName(ISSUER_SUBJECT);
    const issuerKeyIdentifier = Uint8Array.from(subjectKeyIdentifierOf(signingKeys.get('ecdsa-p256')!.spki));
    const variants: CertificateRequest[] = [
      clientRequest({ issuerName, issuerKeyIdentifier }),
      clientRequest({ issuerName: encodeDistinguishedName([{ attribute: 'CN', value: 'Other CA' }]), issuerKeyIdentifier }),
      clientRequest({ issuerName, issuerKeyIdentifier: Uint8Array.of(1, 2, 3) }),
      clientRequest({ issuerName, issuerKeyIdentifier, ocspUrls: [] }),
      clientRequest({ issuerName, issuerKeyIdentifier, crlDistributionPoints: ['http://a.example/x', 'http://b.example/y'] }),
      clientRequest({ issuerName, issuerKeyIdentifier, crlDistributionPoints: ['http://a.example/x'], ocspUrls: ['http://b.example/y'] }),
    ];
    for (const algorithm of ['ecdsa-p256', 'rsa-2048'] as const) {
      for (const request of [...variants, ...variants]) {
        assert.equal(hex(await encodeCertificate(request, deterministicSigner(algorithm))), hex(await encodeCertificateGeneric(request, deterministicSigner(algorithm))));
      }
    }
    const before = hex(await encodeCertificate(variants[0]!, deterministicSigner('ecdsa-p256')));
    issuerName[issuerName.length - 1] ^= 0x01;
    issuerKeyIdentifier[0] ^= 0x01;
    const changed = clientRequest({ issuerName, issuerKeyIdentifier });
    assert.equal(hex(await encodeCertificate(changed, deterministicSigner('ecdsa-p256'))), hex(await encodeCertificateGeneric(changed, deterministicSigner('ecdsa-p256'))));
    issuerName[issuerName.length - 1] ^= 0x01;
    issuerKeyIdentifier[0] ^= 0x01;
    assert.equal(hex(await encodeCertificate(clientRequest({ issuerName, issuerKeyIdentifier }), deterministicSigner('ecdsa-p256'))), before);
  });

  it('refuses each request the generic encoder refuses, with the same kind and message', async () => {
    const faults: Array<[string, Partial<CertificateRequest>]> = [
      ['zero serial', { serialNumber: Uint8Array.of(0) }],
      ['negative serial', { serialNumber: Uint8Array.of(0x80) }],
      ['non-minimal serial', { serialNumber: Uint8Array.of(0, 1) }],
      ['21-octet serial', { serialNumber: new Uint8Array(21).fill(1) }],
      ['empty serial', { serialNumber: new Uint8Array(0) }],
      ['SPKI that is not a SEQUENCE', { subjectPublicKeyInfo: Uint8Array.of(0x30, 0x03, 0x01, 0x01, 0xff) }],
      ['SPKI with a trailing octet', { subjectPublicKeyInfo: Uint8Array.from([...signingKeys.get('ed25519')!.spki, 0]) }],
      ['SPKI whose key has unused bits', { subjectPublicKeyInfo: Uint8Array.from(Buffer.from('302a300506032b6570032101' + '00'.repeat(32), 'hex')) }],
      ['CN over 64 characters', { subject: [{ attribute: 'CN', value: 'x'.repeat(65) }] }],
      ['lower-case country', { subject: [{ attribute: 'C', value: 'de' }] }],
      ['unknown attribute', { subject: [{ attribute: '2.5.4.97', value: 'VATDE-1' }] }],
      ['empty subject and no SAN', { subject: [] }],
      ['empty subject and an empty URI list', { subject: [], subjectAltNames: { uri: [] } }],
      ['relative URI', { subjectAltNames: { uri: ['relative/path'] } }],
      ['URI with a space', { subjectAltNames: { uri: [DEVICE_URN, 'urn:ccm:device 1'] } }],
      ['non-ASCII URI', { subjectAltNames: { uri: ['urn:ccm:gerät'] } }],
      ['empty URI', { subjectAltNames: { uri: [''] } }],
      ['notAfter before notBefore', { notAfter: new Date('2024-05-01T11:59:59Z') }],
      ['invalid notBefore', { notBefore: new Date(Number.NaN) }],
      ['notAfter in year 10000', { notAfter: new Date('+010000-01-01T00:00:00Z') }],
      ['notBefore in year 0', { notBefore: new Date('0000-06-01T00:00:00Z') }],
      ['empty issuer name', { issuerName: Uint8Array.of(0x30, 0x00) }],
      ['issuer name that is not DER', { issuerName: Uint8Array.of(0x31, 0x05, 0x00) }],
      ['empty issuer key identifier', { issuerKeyIdentifier: new Uint8Array(0) }],
      ['ftp CRL URL', { crlDistributionPoints: ['ftp://pki.example.com/a.crl'] }],
      ['relative OCSP URL', { ocspUrls: ['ocsp/path'] }],
      ['non-ASCII CA issuers URL', { caIssuersUrls: ['http://pki.example.com/ä.crt'] }],
    ];
    for (const [label, fault] of faults) {
      const request = clientRequest(fault);
      assert.ok(usesClientCertificateTemplate(request), label);
      const signer = deterministicSigner('ecdsa-p256');
      const generic = await rejectionOf(encodeCertificateGeneric(request, signer));
      assert.equal(generic.kind, 'invalid-request', label);
      assert.deepEqual(await rejectionOf(encodeCertificate(request, signer)), generic, label);
    }
    const silent: Signer = { algorithm: 'ecdsa-p256', sign: async () => new Uint8Array(0) };
    assert.deepEqual(await rejectionOf(encodeCertificate(clientRequest(), silent)), await rejectionOf(encodeCertificateGeneric(clientRequest(), silent)));
  });

  it('reads back with @peculiar/x509 with every field equal to the generic certificate’s and verifies under the issuer key', async () => {
    for (const [issuerAlgorithm, issuer] of signingKeys) {
      for (const subjectKey of subjectKeys) {
        for (const [withUrls, withUrn] of [[true, true], [true, false], [false, true], [false, false]] as const) {
          const request = clientRequest({
            issuerKeyIdentifier: subjectKeyIdentifierOf(issuer.spki),
            subjectPublicKeyInfo: subjectKey.spki,
            notAfter: new Date('2050-01-01T00:00:00.999Z'),
            ...(withUrls ? URLS : { crlDistributionPoints: undefined, ocspUrls: undefined, caIssuersUrls: undefined }),
            ...(withUrn ? { subjectAltNames: { uri: [DEVICE_URN] } } : {}),
          });
          assert.ok(usesClientCertificateTemplate(request));
          const label = `${issuerAlgorithm} issuer, ${subjectKey.label} subject, ${withUrls ? 'with' : 'without'} URLs, ${withUrn ? 'with' : 'without'} a URN`;
          const der = await encodeCertificate(request, issuer.signer);
          assert.ok(new NodeX509Certificate(der).verify(issuer.publicKey), label);
          const certificate = new x509.X509Certificate(der);
          const reference = new x509.X509Certificate(await encodeCertificateGeneric(request, issuer.signer));
          assert.equal(certificate.serialNumber, reference.serialNumber, label);
          assert.equal(certificate.serialNumber, 'c0ffee00000000000000000000000001');
          assert.equal(certificate.subject, reference.subject, label);
          assert.equal(certificate.subject, 'O=Tenant A, OU=sensor, CN=Gerät-Ω');
          assert.equal(certificate.issuer, reference.issuer, label);
          assert.equal(certificate.issuer, 'C=DE, O=Tenant A, CN=Tenant A Root');
          assert.equal(certificate.notBefore.toISOString(), reference.notBefore.toISOString(), label);
          assert.equal(certificate.notAfter.toISOString(), '2050-01-01T00:00:00.000Z', label);
          assert.equal(hex(certificate.publicKey.rawData), hex(subjectKey.spki), label);
          assert.deepEqual(
            certificate.extensions.map((extension) => [extension.type, extension.critical, hex(extension.value)]),
            reference.extensions.map((extension) => [extension.type, extension.critical, hex(extension.value)]),
            label,
          );
          assert.deepEqual(
            [...certificate.extensions].map((extension) => extension.type),
            ['2.5.29.19', '2.5.29.15', '2.5.29.37', '2.5.29.14', '2.5.29.35', ...(withUrn ? ['2.5.29.17'] : []), ...(withUrls ? ['2.5.29.31', '1.3.6.1.5.5.7.1.1'] : [])],
            label,
          );
          const alternativeNames = certificate.getExtension(x509.SubjectAlternativeNameExtension);
          if (withUrn) {
            assert.equal(alternativeNames!.critical, false, label);
            assert.deepEqual(alternativeNames!.names.items.map((name) => [name.type, name.value]), [['url', DEVICE_URN]], label);
          } else {
            assert.equal(alternativeNames, null, label);
          }
          const basicConstraints = certificate.getExtension(x509.BasicConstraintsExtension)!;
          assert.equal(basicConstraints.critical, true);
          assert.equal(basicConstraints.ca, false);
          const keyUsage = certificate.getExtension(x509.KeyUsagesExtension)!;
          assert.equal(keyUsage.critical, true);
          assert.equal(keyUsage.usages, subjectKey.label === 'rsa-2048' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature, label);
          assert.deepEqual([...certificate.getExtension(x509.ExtendedKeyUsageExtension)!.usages], [x509.ExtendedKeyUsage.clientAuth]);
          assert.equal(certificate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId, hex(subjectKeyIdentifierOf(subjectKey.spki)), label);
          assert.equal(certificate.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, hex(subjectKeyIdentifierOf(issuer.spki)), label);
          if (withUrls) {
            const points = certificate.getExtension(x509.CRLDistributionPointsExtension)!;
            assert.deepEqual(
              Array.from(points.distributionPoints, (point) => Array.from(point.distributionPoint?.fullName ?? [], (name) => name.uniformResourceIdentifier)),
              [URLS.crlDistributionPoints],
            );
            const access = certificate.getExtension(x509.AuthorityInfoAccessExtension)!;
            assert.deepEqual(Array.from(access.ocsp, (name) => name.value), URLS.ocspUrls);
            assert.deepEqual(Array.from(access.caIssuers, (name) => name.value), URLS.caIssuersUrls);
          }
        }
      }
    }
  });

  describe('openssl verify', () => {
    let scratch: Scratch;
    before(async () => {
      scratch = await Scratch.create();
    });
    after(() => scratch.cleanup());

    for (const caAlgorithm of ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'] as const) {
      it(`accepts a template certificate under a ${caAlgorithm} CA for TLS client use (-x509_strict)`, async () => {
        const ca = signingKeys.get(caAlgorithm)!;
        const now = Date.now();
        const caDer = await encodeCertificate(
          {
            serialNumber: Uint8Array.of(1),
            issuerName: encodeDistinguishedName(ISSUER_SUBJECT),
            issuerKeyIdentifier: null,
            subject: ISSUER_SUBJECT,
            subjectPublicKeyInfo: ca.spki,
            notBefore: new Date(now - 3_600_000),
            notAfter: new Date(now + 3_600_000),
            profile: { kind: 'ca', pathLenConstraint: 0 },
          },
          ca.signer,
        );
        for (const subjectKey of subjectKeys.filter(({ label }) => label !== 'X25519')) {
          const request = clientRequest({
            issuerKeyIdentifier: subjectKeyIdentifierOf(ca.spki),
            subjectPublicKeyInfo: subjectKey.spki,
            notBefore: new Date(now - 60_000),
            notAfter: new Date(now + 60_000),
            subjectAltNames: { uri: [DEVICE_URN] },
          });
          assert.ok(usesClientCertificateTemplate(request));
          const leaf = await encodeCertificate(request, ca.signer);
          const caPath = await scratch.write(`ca-${caAlgorithm}.pem`, encodePem(caDer, 'CERTIFICATE'));
          const leafPath = await scratch.write(`leaf-${caAlgorithm}.pem`, encodePem(leaf, 'CERTIFICATE'));
          const result = await openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', caPath, leafPath]);
          assert.equal(result.code, 0, `${subjectKey.label}: ${result.stdout}${result.stderr}`);
          assert.match(result.stdout, /: OK$/m);
          const printed = await openssl(['x509', '-in', leafPath, '-noout', '-ext', 'subjectAltName']);
          assert.equal(printed.stdout.trim(), `X509v3 Subject Alternative Name: \n    URI:${DEVICE_URN}`, subjectKey.label);
        }
      });
    }
  });
});

describe('ClientCertificateTemplate, used directly', () => {
  const issuer: ClientCertificateIssuer = {
    signatureAlgorithm: 'ed25519',
    issuerName: encodeDistinguishedName(ISSUER_SUBJECT),
    issuerKeyIdentifier: Uint8Array.of(1, 2, 3, 4),
  };

  it('has one cache key for equal inputs and different keys for different URL lists', () => {
    assert.equal(ClientCertificateTemplate.keyOf(issuer), ClientCertificateTemplate.keyOf({ ...issuer, issuerName: Uint8Array.from(issuer.issuerName), ocspUrls: [] }));
    assert.notEqual(ClientCertificateTemplate.keyOf({ ...issuer, ocspUrls: ['http://a/', 'http://b/'] }), ClientCertificateTemplate.keyOf({ ...issuer, ocspUrls: ['http://a/,http://b/'] }));
    assert.notEqual(ClientCertificateTemplate.keyOf({ ...issuer, ocspUrls: ['http://a/'] }), ClientCertificateTemplate.keyOf({ ...issuer, caIssuersUrls: ['http://a/'] }));
    assert.notEqual(ClientCertificateTemplate.keyOf(issuer), ClientCertificateTemplate.keyOf({ ...issuer, signatureAlgorithm: 'ecdsa-p256' }));
  });

  it('refuses a signer of another algorithm than the template’s', async () => {
    const template = new ClientCertificateTemplate(issuer);
    const subjectPublicKeyInfo = new Uint8Array(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }));
    const fields = { serialNumber: Uint8Array.of(7), subject: DEVICE_SUBJECT, subjectPublicKeyInfo, notBefore: new Date(0), notAfter: new Date(1000) };
    await assert.rejects(template.issue(fields, deterministicSigner('ecdsa-p256')), /ed25519 client certificate template cannot be signed by a ecdsa-p256 key/);
    const tbs = template.encodeTbsCertificate(fields);
    const signature = await deterministicSigner('ed25519').sign(tbs);
    assert.equal(hex(template.encodeCertificate(tbs, signature)), hex(await template.issue(fields, deterministicSigner('ed25519'))));
    assert.ok(createPublicKey({ key: Buffer.from(subjectPublicKeyInfo), format: 'der', type: 'spki' }));
  });

  it('writes UTCTime for 1950 through 2049 and four-digit GeneralizedTime otherwise, without fractions', () => {
    const template = new ClientCertificateTemplate(issuer);
    const subjectPublicKeyInfo = new Uint8Array(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }));
    const tbs = (notBefore: string, notAfter: string) =>
      hex(template.encodeTbsCertificate({ serialNumber: Uint8Array.of(7), subject: DEVICE_SUBJECT, subjectPublicKeyInfo, notBefore: new Date(notBefore), notAfter: new Date(notAfter) }));
    const ascii = (text: string) => Buffer.from(text).toString('hex');
    assert.ok(tbs('1949-12-31T23:59:59.999Z', '1950-01-01T00:00:00Z').includes(`180f${ascii('19491231235959Z')}170d${ascii('500101000000Z')}`));
    assert.ok(tbs('2049-12-31T23:59:59.5Z', '2050-01-01T00:00:00.001Z').includes(`170d${ascii('491231235959Z')}180f${ascii('20500101000000Z')}`));
    assert.ok(tbs('0001-01-01T00:00:00Z', '0999-02-03T04:05:06Z').includes(`180f${ascii('00010101000000Z')}180f${ascii('09990203040506Z')}`));
    assert.ok(tbs('1969-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z').includes(`170d${ascii('691231235959Z')}180f${ascii('99991231235959Z')}`));
  });
});
