/**
 * Chains built by the issuance module, checked by OpenSSL as a broker would
 * check a device: platform CA (self-signed, pathLen 2) → tenant root
 * (pathLen 1) → client certificate, for the key algorithm mixes ccm supports.
 */
import { createPublicKey, generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signatureSchemeFor, type KeyAlgorithm } from '../../src/custody/key-algorithm.js';
import { encodeCertificate, subjectKeyIdentifierOf, type CertificateProfile } from '../../src/issuance/certificate-encoder.js';
import { inspectCertificate } from '../../src/issuance/certificate-inspection.js';
import { encodeDistinguishedName, type DistinguishedName } from '../../src/issuance/distinguished-name.js';
import { encodePem } from '../../src/issuance/pem.js';
import { newSerialNumber } from '../../src/issuance/serial-number.js';
import type { Signer } from '../../src/issuance/signer.js';

const generateKeyPairAsync = promisify(generateKeyPair);

interface TestKey {
  readonly spki: Uint8Array;
  readonly signer: Signer;
}

async function newKey(algorithm: KeyAlgorithm): Promise<TestKey> {
  let privateKey: KeyObject;
  if (algorithm === 'ecdsa-p256' || algorithm === 'ecdsa-p384') {
    privateKey = (await generateKeyPairAsync('ec', { namedCurve: algorithm === 'ecdsa-p256' ? 'P-256' : 'P-384' })).privateKey;
  } else if (algorithm === 'ed25519') {
    privateKey = (await generateKeyPairAsync('ed25519')).privateKey;
  } else {
    privateKey = (await generateKeyPairAsync('rsa', { modulusLength: Number(algorithm.slice(4)), publicExponent: 65537 })).privateKey;
  }
  const hash = signatureSchemeFor(algorithm).hash;
  return {
    spki: new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' })),
    signer: { algorithm, sign: async (data) => new Uint8Array(sign(hash, data, privateKey)) },
  };
}

interface IssuedCertificate {
  readonly der: Uint8Array;
  readonly key: TestKey;
  readonly subject: DistinguishedName;
}

const HOUR = 3_600_000;

async function issue(subject: DistinguishedName, key: TestKey, profile: CertificateProfile, issuer: IssuedCertificate | null, lifetimeHours: number): Promise<IssuedCertificate> {
  const now = Date.now();
  const der = await encodeCertificate(
    {
      serialNumber: newSerialNumber(),
      issuerName: issuer === null ? encodeDistinguishedName(subject) : inspectCertificate(issuer.der).subjectName,
      issuerKeyIdentifier: issuer === null ? null : subjectKeyIdentifierOf(issuer.key.spki),
      subject,
      subjectPublicKeyInfo: key.spki,
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + lifetimeHours * HOUR),
      profile,
      crlDistributionPoints: issuer === null ? undefined : ['http://ccm.example.com/v1/crl/issuer.crl'],
      ocspUrls: issuer === null ? undefined : ['http://ccm.example.com/v1/ocsp'],
    },
    (issuer ?? { key }).key.signer,
  );
  return { der, key, subject };
}

interface OpensslResult {
  readonly status: number | null;
  readonly output: string;
}

describe('chains checked by openssl', () => {
  let directory: string;

  function write(name: string, certificates: readonly IssuedCertificate[]): string {
    const path = join(directory, name);
    writeFileSync(path, certificates.map((certificate) => encodePem(certificate.der, 'CERTIFICATE')).join(''));
    return path;
  }

  function openssl(args: string[]): OpensslResult {
    const result = spawnSync('openssl', args, { encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
  }

  /** What a broker configured with the platform CA as trust anchor does with a device's chain. */
  function verifyClient(root: IssuedCertificate, intermediates: readonly IssuedCertificate[], leaf: IssuedCertificate, name: string): OpensslResult {
    const rootPath = write(`${name}-root.pem`, [root]);
    const untrustedPath = write(`${name}-untrusted.pem`, intermediates);
    const leafPath = write(`${name}-leaf.pem`, [leaf]);
    return openssl(['verify', '-x509_strict', '-CAfile', rootPath, '-untrusted', untrustedPath, '-purpose', 'sslclient', leafPath]);
  }

  before(() => {
    directory = mkdtempSync(join(tmpdir(), 'ccm-openssl-'));
  });

  after(() => rmSync(directory, { recursive: true, force: true }));

  const mixes: Array<{ platform: KeyAlgorithm; tenant: KeyAlgorithm; leaves: KeyAlgorithm[] }> = [
    { platform: 'ecdsa-p256', tenant: 'ecdsa-p256', leaves: ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048'] },
    { platform: 'rsa-2048', tenant: 'rsa-2048', leaves: ['ecdsa-p256', 'rsa-2048'] },
    { platform: 'ed25519', tenant: 'ed25519', leaves: ['ed25519', 'ecdsa-p256'] },
    { platform: 'ecdsa-p384', tenant: 'rsa-3072', leaves: ['ecdsa-p256'] },
  ];

  for (const { platform, tenant, leaves } of mixes) {
    for (const leafAlgorithm of leaves) {
      it(`openssl accepts a ${leafAlgorithm} client under a ${tenant} tenant root under a ${platform} platform CA`, async () => {
        const root = await issue([{ attribute: 'O', value: 'ccm' }, { attribute: 'CN', value: `Platform CA ${platform}` }], await newKey(platform), { kind: 'ca', pathLenConstraint: 2 }, null, 24 * 365 * 10);
        const tenantRoot = await issue([{ attribute: 'O', value: 'Tenant A' }, { attribute: 'CN', value: `Tenant A Root ${tenant}` }], await newKey(tenant), { kind: 'ca', pathLenConstraint: 1 }, root, 24 * 365 * 5);
        const leaf = await issue([{ attribute: 'O', value: 'Tenant A' }, { attribute: 'CN', value: 'Gerät-Ω 1' }], await newKey(leafAlgorithm), { kind: 'client' }, tenantRoot, 24);

        const name = `${platform}-${tenant}-${leafAlgorithm}`;
        const result = verifyClient(root, [tenantRoot], leaf, name);
        assert.equal(result.status, 0, result.output);
        assert.match(result.output, /: OK\s*$/);

        const text = openssl(['x509', '-noout', '-text', '-in', join(directory, `${name}-leaf.pem`)]);
        assert.equal(text.status, 0, text.output);
        assert.match(text.output, /X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication/);
        assert.match(text.output, /X509v3 Basic Constraints: critical\s*\n\s*CA:FALSE/);
      });
    }
  }

  it('openssl refuses a leaf that names one tenant root as issuer but is signed by another', async () => {
    const root = await issue([{ attribute: 'CN', value: 'Platform CA' }], await newKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 2 }, null, 24 * 365);
    const tenantA = await issue([{ attribute: 'CN', value: 'Tenant A Root' }], await newKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 1 }, root, 24 * 365);
    const tenantB = await issue([{ attribute: 'CN', value: 'Tenant B Root' }], await newKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 1 }, root, 24 * 365);
    // Issuer name and AKI of tenant A, signature by tenant B's key.
    const impostorIssuer: IssuedCertificate = { der: tenantA.der, key: { spki: tenantA.key.spki, signer: tenantB.key.signer }, subject: tenantA.subject };
    const forged = await issue([{ attribute: 'CN', value: 'device-x' }], await newKey('ecdsa-p256'), { kind: 'client' }, impostorIssuer, 24);
    const result = verifyClient(root, [tenantA], forged, 'forged');
    assert.notEqual(result.status, 0);
    assert.match(result.output, /certificate signature failure/);

    // A genuine tenant B leaf presented with only tenant A's certificate has no path to the root.
    const other = await issue([{ attribute: 'CN', value: 'device-b' }], await newKey('ecdsa-p256'), { kind: 'client' }, tenantB, 24);
    const unrelated = verifyClient(root, [tenantA], other, 'unrelated');
    assert.notEqual(unrelated.status, 0);
    assert.match(unrelated.output, /unable to get local issuer certificate/);
  });

  it('openssl enforces the path lengths: a delegated CA (pathLen 0) may issue clients but no further CA', async () => {
    const root = await issue([{ attribute: 'CN', value: 'Platform CA' }], await newKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 2 }, null, 24 * 365);
    const tenantRoot = await issue([{ attribute: 'CN', value: 'Tenant A Root' }], await newKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 1 }, root, 24 * 365);
    const delegated = await issue([{ attribute: 'CN', value: 'Tenant A Developer CA' }], await newKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 0 }, tenantRoot, 24 * 365);
    const device = await issue([{ attribute: 'CN', value: 'device-d' }], await newKey('ed25519'), { kind: 'client' }, delegated, 24);
    const accepted = verifyClient(root, [tenantRoot, delegated], device, 'delegated');
    assert.equal(accepted.status, 0, accepted.output);

    const tooDeep = await issue([{ attribute: 'CN', value: 'Sub-sub CA' }], await newKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: null }, delegated, 24 * 365);
    const deviceTooDeep = await issue([{ attribute: 'CN', value: 'device-e' }], await newKey('ecdsa-p256'), { kind: 'client' }, tooDeep, 24);
    const refused = verifyClient(root, [tenantRoot, delegated, tooDeep], deviceTooDeep, 'too-deep');
    assert.notEqual(refused.status, 0);
    assert.match(refused.output, /path length constraint exceeded/);
  });
});
