/**
 * Certificate inspection against openssl's reading of the same certificates,
 * and signature checks against issuer keys.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../../src/shared/errors.js';
import { encodeCertificate, subjectKeyIdentifierOf, type CertificateRequest } from '../../src/codec/certificate-encoder.js';
import { inspectCertificate, verifyCertificateSignature } from '../../src/codec/certificate-inspection.js';
import { encodeDistinguishedName, type DistinguishedName } from '../../src/codec/distinguished-name.js';
import { decodeSinglePem } from '../../src/codec/pem.js';
import { newSerialNumber, serialNumberToHex } from '../../src/codec/serial-number.js';
import { newTestKey, type TestKey } from '../support/test-keys.js';

const CA_SUBJECT: DistinguishedName = [
  { attribute: 'O', value: 'ccm test' },
  { attribute: 'CN', value: 'Tenant A Root' },
];

function invalidRequest(run: () => unknown): void {
  assert.throws(run, (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request');
}

function hex(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : Buffer.from(bytes).toString('hex');
}

describe('inspectCertificate', () => {
  let directory: string;
  let configPath: string;
  let ca: TestKey;
  let caDer: Uint8Array;
  let rsaDevice: TestKey;

  function openssl(args: string[], input?: string): string {
    return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  }

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), 'ccm-inspect-'));
    configPath = join(directory, 'openssl.cnf');
    writeFileSync(configPath, '[req]\ndistinguished_name = dn\n[dn]\n');
    ca = await newTestKey('ecdsa-p256');
    rsaDevice = await newTestKey('rsa-2048');
    caDer = await encodeCertificate(
      {
        serialNumber: newSerialNumber(),
        issuerName: encodeDistinguishedName(CA_SUBJECT),
        issuerKeyIdentifier: null,
        subject: CA_SUBJECT,
        subjectPublicKeyInfo: ca.spki,
        notBefore: new Date('2024-01-01T00:00:00Z'),
        notAfter: new Date('2050-06-01T00:00:00Z'),
        profile: { kind: 'ca', pathLenConstraint: 1 },
      },
      ca.signer,
    );
  });

  after(() => rmSync(directory, { recursive: true, force: true }));

  function clientRequest(overrides: Partial<CertificateRequest> = {}): CertificateRequest {
    return {
      serialNumber: newSerialNumber(),
      issuerName: encodeDistinguishedName(CA_SUBJECT),
      issuerKeyIdentifier: subjectKeyIdentifierOf(ca.spki),
      subject: [{ attribute: 'CN', value: 'device-1' }],
      subjectPublicKeyInfo: rsaDevice.spki,
      notBefore: new Date('2024-01-01T00:00:00Z'),
      notAfter: new Date('2025-01-01T00:00:00Z'),
      profile: { kind: 'client' },
      ...overrides,
    };
  }

  it('reads a certificate openssl made the way openssl reads it', () => {
    const keyPath = join(directory, 'external.key');
    const certificatePath = join(directory, 'external.pem');
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', keyPath]);
    openssl([
      'req', '-x509', '-config', configPath, '-key', keyPath, '-sha384', '-days', '30', '-utf8',
      '-subj', '/C=NL/O=External PKI/CN=Bring Your Own CA',
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectKeyIdentifier=hash',
      '-addext', 'subjectAltName=DNS:ca.example.com,IP:10.0.0.1,email:pki@example.com,URI:https://ca.example.com/',
      '-out', certificatePath,
    ]);
    const pem = readFileSync(certificatePath, 'utf8');
    const der = decodeSinglePem(pem, 'CERTIFICATE');
    const inspected = inspectCertificate(der);

    const serial = openssl(['x509', '-noout', '-serial', '-in', certificatePath]).trim().replace('serial=', '').toLowerCase();
    assert.equal(inspected.serialNumberHex, serial.replace(/^(00)+/, ''));
    const sha256 = openssl(['x509', '-noout', '-fingerprint', '-sha256', '-in', certificatePath]).trim().split('=')[1]!.replaceAll(':', '').toLowerCase();
    const sha1 = openssl(['x509', '-noout', '-fingerprint', '-sha1', '-in', certificatePath]).trim().split('=')[1]!.replaceAll(':', '').toLowerCase();
    assert.equal(inspected.sha256Fingerprint, sha256);
    assert.equal(inspected.sha1Fingerprint, sha1);
    const dates = openssl(['x509', '-noout', '-dates', '-in', certificatePath]);
    assert.equal(inspected.notBefore.getTime(), new Date(/notBefore=(.*)/.exec(dates)![1]!).getTime());
    assert.equal(inspected.notAfter.getTime(), new Date(/notAfter=(.*)/.exec(dates)![1]!).getTime());
    const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(openssl(['x509', '-noout', '-text', '-in', certificatePath]))![1]!;
    assert.equal(hex(inspected.subjectKeyIdentifier), ski.replaceAll(':', '').toLowerCase());

    assert.deepEqual(inspected.subject, [
      { attribute: 'C', value: 'NL' },
      { attribute: 'O', value: 'External PKI' },
      { attribute: 'CN', value: 'Bring Your Own CA' },
    ]);
    assert.deepEqual(inspected.issuer, inspected.subject);
    assert.deepEqual(inspected.issuerName, inspected.subjectName);
    assert.equal(inspected.isCa, true);
    assert.equal(inspected.pathLenConstraint, 0);
    assert.deepEqual(inspected.keyUsage, ['keyCertSign', 'cRLSign']);
    assert.equal(inspected.extendedKeyUsage, null);
    assert.deepEqual(inspected.subjectAltNames, { dns: ['ca.example.com'], uri: ['https://ca.example.com/'], email: ['pki@example.com'], ip: ['10.0.0.1'] });
    assert.deepEqual(inspected.criticalExtensionOids.sort(), ['2.5.29.15', '2.5.29.19']);
    assert.equal(inspected.signatureAlgorithmOid, '1.2.840.10045.4.3.3');
    const publicKeyDer = execFileSync('openssl', ['pkey', '-in', keyPath, '-pubout', '-outform', 'DER']);
    assert.equal(hex(inspected.subjectPublicKeyInfo), publicKeyDer.toString('hex'));
    assert.equal(verifyCertificateSignature(der, inspected.subjectPublicKeyInfo), true);
  });

  it('reads a version 1 certificate without extensions', () => {
    const keyPath = join(directory, 'v1.key');
    openssl(['genpkey', '-algorithm', 'ED25519', '-out', keyPath]);
    const csr = openssl(['req', '-new', '-config', configPath, '-key', keyPath, '-subj', '/CN=legacy']);
    const pem = openssl(['x509', '-req', '-key', keyPath, '-days', '1'], csr);
    const inspected = inspectCertificate(decodeSinglePem(pem, 'CERTIFICATE'));
    assert.deepEqual(inspected.subject, [{ attribute: 'CN', value: 'legacy' }]);
    assert.equal(inspected.isCa, false);
    assert.equal(inspected.pathLenConstraint, null);
    assert.deepEqual(inspected.keyUsage, []);
    assert.equal(inspected.subjectKeyIdentifier, null);
    assert.equal(inspected.authorityKeyIdentifier, null);
  });

  it('reads what the encoder wrote into a client certificate', async () => {
    const serialNumber = newSerialNumber();
    const der = await encodeCertificate(
      clientRequest({ serialNumber, subjectAltNames: { dns: ['d.example.com'], uri: ['urn:ccm:device:1'], email: ['d@example.com'], ip: ['2001:db8::7'] } }),
      ca.signer,
    );
    const inspected = inspectCertificate(der);
    assert.equal(inspected.serialNumberHex, serialNumberToHex(serialNumber));
    assert.equal(inspected.isCa, false);
    assert.deepEqual(inspected.keyUsage, ['digitalSignature', 'keyEncipherment']);
    assert.deepEqual(inspected.extendedKeyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(hex(inspected.subjectKeyIdentifier), hex(subjectKeyIdentifierOf(rsaDevice.spki)));
    assert.equal(hex(inspected.authorityKeyIdentifier), hex(subjectKeyIdentifierOf(ca.spki)));
    assert.deepEqual(inspected.subjectAltNames, { dns: ['d.example.com'], uri: ['urn:ccm:device:1'], email: ['d@example.com'], ip: ['2001:db8::7'] });
    assert.deepEqual(inspected.issuerName, inspectCertificate(caDer).subjectName);
    assert.equal(inspected.notAfter.toISOString(), '2025-01-01T00:00:00.000Z');
  });

  it('reads GeneralizedTime after 2049 and the CA profile of a self-signed certificate', () => {
    const inspected = inspectCertificate(caDer);
    assert.equal(inspected.notAfter.toISOString(), '2050-06-01T00:00:00.000Z');
    assert.equal(inspected.isCa, true);
    assert.equal(inspected.pathLenConstraint, 1);
    assert.deepEqual(inspected.keyUsage, ['digitalSignature', 'keyCertSign', 'cRLSign']);
    assert.equal(hex(inspected.authorityKeyIdentifier), hex(inspected.subjectKeyIdentifier));
  });

  it('invalid-request for malformed certificates', async () => {
    invalidRequest(() => inspectCertificate(Uint8Array.of(1, 2, 3)));
    invalidRequest(() => inspectCertificate(caDer.subarray(0, caDer.length - 1)));
    invalidRequest(() => inspectCertificate(Uint8Array.from([...caDer, 0])));
    invalidRequest(() => inspectCertificate(new Uint8Array(0)));
    // Turning the SKI into a second AKI: RFC 5280 §4.2 forbids repeating an extension.
    const duplicated = Buffer.from(Buffer.from(caDer).toString('hex').replace('0603551d0e', '0603551d23'), 'hex');
    invalidRequest(() => inspectCertificate(duplicated));
  });
});

describe('verifyCertificateSignature', () => {
  /** A self-signed CA certificate for `key`, valid through 2024. */
  function selfSignedCa(key: TestKey, subject: DistinguishedName): Promise<Uint8Array> {
    return encodeCertificate(
      {
        serialNumber: newSerialNumber(),
        issuerName: encodeDistinguishedName(subject),
        issuerKeyIdentifier: null,
        subject,
        subjectPublicKeyInfo: key.spki,
        notBefore: new Date('2024-01-01T00:00:00Z'),
        notAfter: new Date('2025-01-01T00:00:00Z'),
        profile: { kind: 'ca', pathLenConstraint: null },
      },
      key.signer,
    );
  }

  it('is true for the issuer key and false for any other key or a changed certificate', async () => {
    for (const algorithm of ['ecdsa-p256', 'ed25519', 'rsa-2048'] as const) {
      const issuer = await newTestKey(algorithm);
      const stranger = await newTestKey(algorithm);
      const subject = [{ attribute: 'CN' as const, value: `ca-${algorithm}` }];
      const der = await selfSignedCa(issuer, subject);
      assert.equal(verifyCertificateSignature(der, issuer.spki), true, algorithm);
      assert.equal(verifyCertificateSignature(der, stranger.spki), false, algorithm);
      const changed = Buffer.from(Buffer.from(der).toString('latin1').replace(`ca-${algorithm}`, `cb-${algorithm}`), 'latin1');
      assert.equal(verifyCertificateSignature(changed, issuer.spki), false, algorithm);
    }
  });

  it('is false for a key of another type than the signature algorithm', async () => {
    const issuer = await newTestKey('ecdsa-p256');
    const rsa = await newTestKey('rsa-2048');
    const subject = [{ attribute: 'CN' as const, value: 'x' }];
    const der = await selfSignedCa(issuer, subject);
    assert.equal(verifyCertificateSignature(der, rsa.spki), false);
  });

  it('unsupported-algorithm for a SHA-1 signed certificate', () => {
    const directory = mkdtempSync(join(tmpdir(), 'ccm-sha1-'));
    try {
      const keyPath = join(directory, 'k.pem');
      writeFileSync(join(directory, 'openssl.cnf'), '[req]\ndistinguished_name = dn\n[dn]\n');
      execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyPath], { stdio: 'pipe' });
      const pem = execFileSync('openssl', ['req', '-x509', '-config', join(directory, 'openssl.cnf'), '-key', keyPath, '-sha1', '-days', '1', '-subj', '/CN=old'], { stdio: 'pipe' }).toString();
      const der = decodeSinglePem(pem, 'CERTIFICATE');
      assert.throws(
        () => verifyCertificateSignature(der, inspectCertificate(der).subjectPublicKeyInfo),
        (error: unknown) => error instanceof DomainError && error.kind === 'unsupported-algorithm' && /sha1WithRSAEncryption/.test(error.message),
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('invalid-request for a malformed certificate or issuer key', async () => {
    const key = await newTestKey('ed25519');
    invalidRequest(() => verifyCertificateSignature(Uint8Array.of(0x30, 0x00), key.spki));
    const subject = [{ attribute: 'CN' as const, value: 'x' }];
    const der = await selfSignedCa(key, subject);
    invalidRequest(() => verifyCertificateSignature(der, Uint8Array.of(1)));
    invalidRequest(() => verifyCertificateSignature(der, Uint8Array.from([...key.spki, 0])));
  });
});
