/**
 * The platform CA: concurrent first starts of two replicas create exactly
 * one; an operator with an offline root gets a CSR, signs it with openssl and
 * imports the certificate, which must match the platform key and be a CA.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { backendName, TestInstallation, type Backend, type CcmUnderTest } from '../support/ccm-under-test.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';

const RACE_BACKENDS: Backend[] = [
  { database: 'postgres', custody: 'local' },
  { database: 'postgres', custody: 'vault' },
  { database: 'sqlite', custody: 'local' },
];

for (const backend of RACE_BACKENDS) {
  test(`two replicas starting at once on ${backendName(backend)} create exactly one platform CA`, async () => {
    const installation = await TestInstallation.create(backend);
    const replicas: CcmUnderTest[] = [];
    try {
      replicas.push(...(await Promise.all([installation.start(), installation.start(), installation.start()])));
      const rows = await installation.database.query<{ id: string; status: string; fingerprint_sha256: string }>("SELECT id, status, fingerprint_sha256 FROM authorities WHERE kind = 'platform'");
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.status, 'active');
      const seen = await Promise.all(replicas.map(async (r) => (await r.api().get('/v1/platform-ca').expect(200)).body.fingerprintSha256));
      assert.deepEqual(new Set(seen), new Set([rows[0]!.fingerprint_sha256]));
      // A tenant created through one replica chains to the CA every replica reports.
      const tenant = (await replicas[1]!.api().post('/v1/tenants').send({ name: 'race' }).expect(201)).body;
      const chain = (await replicas[2]!.api().get(`/v1/tenants/${tenant.id}/ca-chain`).expect(200)).text;
      const [root, platform] = pemBlocks(chain).map((pem) => new X509Certificate(pem));
      assert.ok(root!.verify(platform!.publicKey));
      if (installation.vault) assert.equal(installation.vault.keyNames().filter((n: string) => n.endsWith('platform-ca')).length, 1);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
      await installation.destroy();
    }
  });
}

test('a restart finds the platform CA it created and does not make another', async () => {
  const installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' });
  try {
    const first = await installation.start();
    const before = (await first.api().get('/v1/platform-ca').expect(200)).body;
    await first.close();
    const second = await installation.start();
    const after = (await second.api().get('/v1/platform-ca').expect(200)).body;
    await second.close();
    assert.equal(after.fingerprintSha256, before.fingerprintSha256);
  } finally {
    await installation.destroy();
  }
});

describe('platform CA signed by an offline root', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let scratch: Scratch;
  let rootKeyPath: string;
  let rootPath: string;
  let rootPem: string;

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'vault' }, { CCM_PLATFORM_CA_MODE: 'external', CCM_PLATFORM_CA_SUBJECT: 'CN=Acme IoT platform CA,O=Acme' });
    ccm = await installation.start();
    scratch = await Scratch.create();
    rootKeyPath = await scratch.write('offline-root.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'])).stdout);
    rootPem = (await openssl(['req', '-x509', '-new', '-key', rootKeyPath, '-subj', '/O=Acme/CN=Acme offline root', '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])).stdout;
    rootPath = await scratch.write('offline-root.pem', rootPem);
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  /** `subject`: the subject the root signs instead of the CSR's (openssl -subj form). */
  async function signWithRoot(csrPem: string, extensions: string, subject?: string): Promise<string> {
    const csrPath = await scratch.write(`req-${Math.random()}.csr`, csrPem);
    const extPath = await scratch.write(`ext-${Math.random()}.cnf`, extensions);
    const overridden = subject === undefined ? [] : ['-subj', subject];
    const signed = await openssl(['x509', '-req', '-in', csrPath, '-CA', rootPath, '-CAkey', rootKeyPath, '-set_serial', `0x${Date.now().toString(16)}`, '-days', '1825', '-extfile', extPath, ...overridden]);
    assert.equal(signed.code, 0, signed.stderr);
    return signed.stdout;
  }

  test('until the certificate is imported the platform CA is pending and tenants cannot be created', async () => {
    const platform = (await ccm.api().get('/v1/platform-ca').expect(200)).body;
    assert.equal(platform.status, 'pending');
    assert.equal(platform.certificatePem, null);
    const refused = await ccm.api().post('/v1/tenants').send({ name: 'too-early' }).expect(503);
    assert.equal(refused.body.type, `${PROBLEM}platform-ca-not-ready`);
  });

  test('the platform CSR carries the configured subject and a valid self-signature', async () => {
    const { csrPem } = (await ccm.api().get('/v1/platform-ca/csr').expect(200)).body;
    const checked = await openssl(['req', '-verify', '-noout', '-subject'], { input: csrPem });
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout + checked.stderr, /CN ?= ?Acme IoT platform CA/);
    assert.match(checked.stdout + checked.stderr, /verify OK|Certificate request self-signature verify OK/);
  });

  test('a certificate for another key is refused with certificate-key-mismatch, a non-CA one with not-a-ca, one whose subject holds a control character with invalid-request', async () => {
    const otherKey = await scratch.write('other.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const otherCsr = (await openssl(['req', '-new', '-key', otherKey, '-subj', '/O=Acme/CN=Acme IoT platform CA'])).stdout;
    const wrongKey = await signWithRoot(otherCsr, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
    const mismatch = await ccm.api().put('/v1/platform-ca/certificate').send({ certificatePem: wrongKey, issuerChainPem: rootPem }).expect(400);
    assert.equal(mismatch.body.type, `${PROBLEM}certificate-key-mismatch`);

    const { csrPem } = (await ccm.api().get('/v1/platform-ca/csr').expect(200)).body;
    const notCa = await signWithRoot(csrPem, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n');
    const refused = await ccm.api().put('/v1/platform-ca/certificate').send({ certificatePem: notCa, issuerChainPem: rootPem }).expect(400);
    assert.equal(refused.body.type, `${PROBLEM}not-a-ca`);

    const escaped = await signWithRoot(csrPem, 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n', '/O=Acme/CN=Acme\u001b[8m IoT platform CA');
    const escape = await ccm.api().put('/v1/platform-ca/certificate').send({ certificatePem: escaped, issuerChainPem: rootPem }).expect(400);
    assert.equal(escape.body.type, `${PROBLEM}invalid-request`);
    assert.match(escape.body.detail, /the platform certificate's subject CN contains U\+001B, a control character/);

    const garbage = await ccm.api().put('/v1/platform-ca/certificate').send({ certificatePem: 'nope' }).expect(400);
    assert.equal(garbage.body.type, `${PROBLEM}malformed-pem`);
    assert.equal((await ccm.api().get('/v1/platform-ca').expect(200)).body.status, 'pending');
  });

  test('after import, tenant certificates verify up to the offline root', async () => {
    const { csrPem } = (await ccm.api().get('/v1/platform-ca/csr').expect(200)).body;
    const signed = await signWithRoot(csrPem, 'basicConstraints=critical,CA:TRUE,pathlen:2\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    const imported = (await ccm.api().put('/v1/platform-ca/certificate').send({ certificatePem: signed, issuerChainPem: rootPem }).expect(200)).body;
    assert.equal(imported.status, 'active');
    assert.equal(imported.subject, 'CN=Acme IoT platform CA,O=Acme');

    const tenant = (await ccm.api().post('/v1/tenants').send({ name: 'offline-rooted' }).expect(201)).body;
    const issued = (await ccm.api().post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: 'device-1', ttlSeconds: 3600 }).expect(201)).body;
    assert.equal(pemBlocks(issued.chainPem).length, 3, 'tenant root, platform CA, offline root');
    const leaf = await scratch.write('leaf.pem', issued.certificatePem);
    const untrusted = await scratch.write('untrusted.pem', pemBlocks(issued.chainPem).slice(0, 2).join(''));
    const verified = await openssl(['verify', '-CAfile', rootPath, '-untrusted', untrusted, '-purpose', 'sslclient', leaf]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });
});
