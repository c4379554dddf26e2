/**
 * Chains built by the issuance module, checked by OpenSSL as a broker would
 * check a device: platform CA (self-signed, pathLen 2) → tenant root
 * (pathLen 1) → client certificate, for the key algorithm mixes ccm supports.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import type { CertificateProfile } from '../../src/codec/certificate-encoder.js';
import type { DistinguishedName } from '../../src/codec/distinguished-name.js';
import { encodePem } from '../../src/codec/pem.js';
import { issueTestCertificate, newTestKey, type IssuingKey, type TestKey } from '../support/test-keys.js';

interface IssuedCertificate {
  readonly der: Uint8Array;
  readonly key: IssuingKey;
  readonly subject: DistinguishedName;
}

async function issue(subject: DistinguishedName, key: TestKey, profile: CertificateProfile, issuer: IssuedCertificate | null, lifetimeHours: number): Promise<IssuedCertificate> {
  const der = await issueTestCertificate(subject, key, profile, issuer, {
    lifetimeHours,
    crlDistributionPoints: ['http://ccm.example.com/v1/crl/issuer.crl'],
    ocspUrls: ['http://ccm.example.com/v1/ocsp'],
  });
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
        const root = await issue([{ attribute: 'O', value: 'ccm' }, { attribute: 'CN', value: `Platform CA ${platform}` }], await newTestKey(platform), { kind: 'ca', pathLenConstraint: 2 }, null, 24 * 365 * 10);
        const tenantRoot = await issue([{ attribute: 'O', value: 'Tenant A' }, { attribute: 'CN', value: `Tenant A Root ${tenant}` }], await newTestKey(tenant), { kind: 'ca', pathLenConstraint: 1 }, root, 24 * 365 * 5);
        const leaf = await issue([{ attribute: 'O', value: 'Tenant A' }, { attribute: 'CN', value: 'Gerät-Ω 1' }], await newTestKey(leafAlgorithm), { kind: 'client' }, tenantRoot, 24);

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
    const root = await issue([{ attribute: 'CN', value: 'Platform CA' }], await newTestKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 2 }, null, 24 * 365);
    const tenantA = await issue([{ attribute: 'CN', value: 'Tenant A Root' }], await newTestKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 1 }, root, 24 * 365);
    const tenantB = await issue([{ attribute: 'CN', value: 'Tenant B Root' }], await newTestKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 1 }, root, 24 * 365);
    // Issuer name and AKI of tenant A, signature by tenant B's key.
    const impostorIssuer: IssuedCertificate = { der: tenantA.der, key: { spki: tenantA.key.spki, signer: tenantB.key.signer }, subject: tenantA.subject };
    const forged = await issue([{ attribute: 'CN', value: 'device-x' }], await newTestKey('ecdsa-p256'), { kind: 'client' }, impostorIssuer, 24);
    const result = verifyClient(root, [tenantA], forged, 'forged');
    assert.notEqual(result.status, 0);
    assert.match(result.output, /certificate signature failure/);

    // A genuine tenant B leaf presented with only tenant A's certificate has no path to the root.
    const other = await issue([{ attribute: 'CN', value: 'device-b' }], await newTestKey('ecdsa-p256'), { kind: 'client' }, tenantB, 24);
    const unrelated = verifyClient(root, [tenantA], other, 'unrelated');
    assert.notEqual(unrelated.status, 0);
    assert.match(unrelated.output, /unable to get local issuer certificate/);
  });

  it('openssl enforces the path lengths: a delegated CA (pathLen 0) may issue clients but no further CA', async () => {
    const root = await issue([{ attribute: 'CN', value: 'Platform CA' }], await newTestKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 2 }, null, 24 * 365);
    const tenantRoot = await issue([{ attribute: 'CN', value: 'Tenant A Root' }], await newTestKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 1 }, root, 24 * 365);
    const delegated = await issue([{ attribute: 'CN', value: 'Tenant A Developer CA' }], await newTestKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 0 }, tenantRoot, 24 * 365);
    const device = await issue([{ attribute: 'CN', value: 'device-d' }], await newTestKey('ed25519'), { kind: 'client' }, delegated, 24);
    const accepted = verifyClient(root, [tenantRoot, delegated], device, 'delegated');
    assert.equal(accepted.status, 0, accepted.output);

    const tooDeep = await issue([{ attribute: 'CN', value: 'Sub-sub CA' }], await newTestKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: null }, delegated, 24 * 365);
    const deviceTooDeep = await issue([{ attribute: 'CN', value: 'device-e' }], await newTestKey('ecdsa-p256'), { kind: 'client' }, tooDeep, 24);
    const refused = verifyClient(root, [tenantRoot, delegated, tooDeep], deviceTooDeep, 'too-deep');
    assert.notEqual(refused.status, 0);
    assert.match(refused.output, /path length constraint exceeded/);
  });
});
