/**
 * The look-alike CA attack, step by step, as an attacker holding tenant A's
 * key would try it against tenant B, for every kind of CA ccm knows (the
 * platform CA, tenant roots, delegated intermediates, external CAs, OCSP
 * responders): a CA of A's named like B's (byte for byte, or differing only
 * in case and spacing, which verifiers ignore) is refused at creation, so no
 * certificate of A's can chain as B's in `openssl verify` or authenticate as
 * B's device; the short form refuses a name that older records share unless
 * the authority key identifier settles it; two tenants racing for one name
 * cannot both win. Real openssl on the attacker's side; PostgreSQL, then
 * SQLite; local custody; delegated OCSP so that a responder exists.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { TestInstallation, backendName, type Backend, type CcmUnderTest } from '../support/ccm-under-test.js';
import { storedContent } from '../support/databases.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';
const SUITE_BACKENDS: readonly Backend[] = [
  { database: 'postgres', custody: 'local' },
  { database: 'sqlite', custody: 'local' },
];
const CA_EXTENSIONS = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash'];

interface Tenant {
  readonly id: string;
  readonly key: string;
  readonly rootId: string;
}

interface KeyPair {
  readonly keyPath: string;
  readonly certPath: string;
  readonly pem: string;
}

/** ccm prints RFC 4514 (most specific first); openssl -subj takes "/type=value" in encoding order. Enough for the names here, which hold no escapes. */
function opensslSubject(rfc4514: string): string {
  assert.doesNotMatch(rfc4514, /[\\/+]/, 'the names of this test need no escaping');
  return `/${rfc4514.split(',').reverse().join('/')}`;
}

/** The same name as verifiers compare names: another case and more spaces. */
function lookAlike(rfc4514: string): string {
  return rfc4514
    .split(',')
    .map((entry) => {
      const [type, value] = entry.split('=') as [string, string];
      return `${type}=${value.replace(/ /g, '  ').replace(/[a-z]/g, (c) => c.toUpperCase())}`;
    })
    .join(',');
}

for (const backend of SUITE_BACKENDS) {
  describe(`look-alike CA names on ${backendName(backend)}`, () => {
    let installation: TestInstallation;
    let ccm: CcmUnderTest;
    let scratch: Scratch;
    let a: Tenant;
    let b: Tenant;
    let brokerKey: string;
    let counter = 0;
    /** Every CA ccm knows, by kind, with its subject as ccm prints it. */
    const targets: { kind: string; id: string; subject: string }[] = [];
    let bDevice: { id: string; serialNumber: string; certificatePem: string };
    let trustAnchors: string;

    const unique = (label: string) => `${label}-${++counter}`;
    const authenticate = (body: object) => ccm.api(brokerKey).post('/v1/authentications').send(body);

    async function ecKey(): Promise<string> {
      return scratch.write(`${unique('key')}.key`, (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    }

    async function selfSignedCa(subject: string): Promise<KeyPair> {
      const keyPath = await ecKey();
      const result = await openssl(['req', '-x509', '-new', '-key', keyPath, '-subj', opensslSubject(subject), '-days', '2', ...CA_EXTENSIONS.flatMap((e) => ['-addext', e])]);
      assert.equal(result.code, 0, result.stderr);
      return { keyPath, certPath: await scratch.write(`${unique('ca')}.pem`, result.stdout), pem: result.stdout };
    }

    async function csrFor(subject: string): Promise<string> {
      const result = await openssl(['req', '-new', '-key', await ecKey(), '-subj', opensslSubject(subject)]);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout;
    }

    /** A device certificate `issuer` signs with the serial number given (B's device's, in the attack). */
    async function forgedDevice(issuer: KeyPair, serialHex: string): Promise<KeyPair> {
      const keyPath = await ecKey();
      const csrPath = await scratch.write(`${unique('csr')}.csr`, (await openssl(['req', '-new', '-key', keyPath, '-subj', '/CN=b-meter-1'])).stdout);
      const extPath = await scratch.write(`${unique('ext')}.ext`, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
      const result = await openssl(['x509', '-req', '-in', csrPath, '-CA', issuer.certPath, '-CAkey', issuer.keyPath, '-set_serial', `0x${serialHex}`, '-days', '1', '-extfile', extPath]);
      assert.equal(result.code, 0, result.stderr);
      return { keyPath, certPath: await scratch.write(`${unique('forged')}.pem`, result.stdout), pem: result.stdout };
    }

    async function createTenant(label: string): Promise<Tenant> {
      const created = (await ccm.api().post('/v1/tenants').send({ name: `${label}-${Date.now()}` }).expect(201)).body;
      return { id: created.id, key: await ccm.createApiKey('tenant', created.id), rootId: created.rootAuthority.id };
    }

    before(async () => {
      installation = await TestInstallation.create(backend);
      ccm = await installation.start({ env: { CCM_OCSP_RESPONDER: 'delegated' } });
      scratch = await Scratch.create();
      brokerKey = await ccm.createApiKey('broker');
      a = await createTenant('tenant-a');
      b = await createTenant('tenant-b');

      bDevice = (await ccm.api(b.key).post(`/v1/tenants/${b.id}/certificates`).send({ commonName: 'b-meter-1' }).expect(201)).body;
      const aExternal = await selfSignedCa('CN=Tenant A field CA,O=Tenant A');
      await ccm.api(a.key).post(`/v1/tenants/${a.id}/authorities/external`).send({ name: 'field', certificatePem: aExternal.pem, registration: 'self' }).expect(201);
      const bExternal = await selfSignedCa('CN=Tenant B field CA,O=Tenant B');
      await ccm.api(b.key).post(`/v1/tenants/${b.id}/authorities/external`).send({ name: 'field', certificatePem: bExternal.pem, registration: 'self' }).expect(201);
      await ccm.api(b.key).post(`/v1/tenants/${b.id}/authorities/intermediate`).send({ name: 'line 1', csrPem: await csrFor('CN=Tenant B line 1 CA,O=Tenant B') }).expect(201);
      // An OCSP request for B's device brings B's root a delegated responder.
      const chain = pemBlocks((await ccm.api(b.key).get(`/v1/tenants/${b.id}/ca-chain`).expect(200)).text);
      const leaf = await scratch.write('b-device.pem', bDevice.certificatePem);
      const root = await scratch.write('b-root.pem', chain[0]!);
      const ocsp = await openssl(['ocsp', '-issuer', root, '-cert', leaf, '-url', `${ccm.url}/ocsp/${b.rootId}`, '-noverify']);
      assert.match(ocsp.stdout, /good/, ocsp.stdout + ocsp.stderr);

      targets.push(...(await installation.database.query<{ kind: string; id: string; subject: string }>("SELECT kind, id, subject FROM authorities WHERE status = 'active' ORDER BY kind, id")));
      assert.deepEqual([...new Set(targets.map((t) => t.kind))].sort(), ['external', 'intermediate', 'ocsp-responder', 'platform', 'tenant-root']);
      const aChain = pemBlocks((await ccm.api(a.key).get(`/v1/tenants/${a.id}/ca-chain`).expect(200)).text);
      // What a broker of the platform trusts: the platform CA and every tenant root.
      trustAnchors = await scratch.write('anchors.pem', [chain[0]!, aChain[0]!, chain[1]!].join(''));
    });

    after(async () => {
      await ccm?.close();
      await installation?.destroy();
      await scratch?.cleanup();
    });

    test('A cannot name a CA of its own like any CA ccm knows, byte for byte or as a look-alike; then nothing of A\'s passes for B\'s', async () => {
      const before = await storedContent(installation.database);
      for (const target of targets) {
        const about = `${target.kind} ${target.subject}`;
        for (const subject of [target.subject, lookAlike(target.subject)]) {
          // Step 1: a delegated intermediate under A's root named like the target.
          const intermediate = await ccm.api(a.key).post(`/v1/tenants/${a.id}/authorities/intermediate`).send({ name: 'look-alike', csrPem: await csrFor(subject) });
          assert.equal(intermediate.status, 409, `${about}: ${intermediate.text}`);
          assert.equal(intermediate.body.type, `${PROBLEM}authority-name-taken`, about);
          assert.equal(intermediate.headers['content-type'], 'application/problem+json; charset=utf-8');
          assert.doesNotMatch(intermediate.text, new RegExp(b.id), 'the refusal tells nothing of the other tenant');
          // The same name on an external CA A uploads.
          const external = await ccm.api(a.key).post(`/v1/tenants/${a.id}/authorities/external`).send({ name: 'look-alike', certificatePem: (await selfSignedCa(subject)).pem, registration: 'self' });
          assert.equal(external.status, 409, `${about}: ${external.text}`);
          assert.equal(external.body.type, `${PROBLEM}authority-name-taken`, about);
        }

        // Step 2: without a certificate from ccm, A's look-alike is a CA nobody trusts. A signs a device certificate with
        // the target's name as issuer and B's device's serial number.
        const lookAlikeCa = await selfSignedCa(target.subject);
        const forged = await forgedDevice(lookAlikeCa, bDevice.serialNumber);
        const untrusted = await scratch.write(`${unique('untrusted')}.pem`, lookAlikeCa.pem);
        // Step 3: a broker's verification refuses it.
        const verify = await openssl(['verify', '-CAfile', trustAnchors, '-untrusted', untrusted, '-purpose', 'sslclient', forged.certPath]);
        assert.notEqual(verify.code, 0, `${about}: openssl verify must refuse: ${verify.stdout}`);
        // Step 4: so does ccm: the signature is checked against the stored CA of that name, never the caller's chain.
        const refused = await authenticate({ certificatePem: `${forged.pem}${lookAlikeCa.pem}` });
        assert.equal(refused.status, 403, `${about}: ${refused.text}`);
        const deviceIssuing = ['tenant-root', 'intermediate', 'external'].includes(target.kind);
        assert.equal(refused.body.type, `${PROBLEM}${deviceIssuing ? 'certificate-signature-invalid' : 'untrusted-issuer'}`, about);
      }
      assert.equal(await storedContent(installation.database), before, 'nothing stored, no event');
      assert.equal((await ccm.api(b.key).get(`/v1/tenants/${b.id}/certificates/${bDevice.id}`).expect(200)).body.state, 'inactive', 'B\'s device was not activated');
    });

    test('A cannot take a name of the shape ccm gives its own CAs, even one no CA has yet', async () => {
      const before = await storedContent(installation.database);
      for (const subject of [`CN=acme root CA,OU=${randomUUID()}`, `CN=OCSP responder ${randomUUID()},OU=${randomUUID()}`, `CN=OCSP responder ${randomUUID()}`]) {
        const res = await ccm.api(a.key).post(`/v1/tenants/${a.id}/authorities/intermediate`).send({ name: 'reserved', csrPem: await csrFor(subject) });
        assert.equal(res.status, 409, res.text);
        assert.equal(res.body.type, `${PROBLEM}authority-name-taken`);
        assert.equal(res.body.reason, 'reserved');
      }
      assert.equal(await storedContent(installation.database), before);
    });

    test('two tenants racing for one new name: one CA gets it, the other a 409', async () => {
      const subject = `CN=contested CA ${randomBytes(4).toString('hex')}`;
      const [first, second] = await Promise.all([selfSignedCa(subject), selfSignedCa(subject)]);
      const answers = await Promise.all([
        ccm.api(a.key).post(`/v1/tenants/${a.id}/authorities/external`).send({ name: 'contested', certificatePem: first!.pem, registration: 'self' }),
        ccm.api(b.key).post(`/v1/tenants/${b.id}/authorities/external`).send({ name: 'contested', certificatePem: second!.pem, registration: 'self' }),
      ]);
      assert.deepEqual(answers.map((answer) => answer.status).sort(), [201, 409], answers.map((answer) => answer.text).join('\n'));
      assert.equal(answers.find((answer) => answer.status === 409)!.body.type, `${PROBLEM}authority-name-taken`);
      const holders = await installation.database.query(`SELECT id FROM authorities WHERE subject = '${subject}'`);
      assert.equal(holders.length, 1);
    });

    test('a tenant may trust its own removed CA again; no other tenant may take the removed CA\'s name', async () => {
      const ca = await selfSignedCa(`CN=retired CA ${randomBytes(4).toString('hex')}`);
      const first = (await ccm.api(a.key).post(`/v1/tenants/${a.id}/authorities/external`).send({ name: 'retired', certificatePem: ca.pem, registration: 'self' }).expect(201)).body;
      await ccm.api(a.key).delete(`/v1/tenants/${a.id}/authorities/${first.id}`).expect(200);
      const taken = await ccm.api(b.key).post(`/v1/tenants/${b.id}/authorities/external`).send({ name: 'retired', certificatePem: ca.pem, registration: 'self' });
      assert.equal(taken.status, 409, taken.text);
      assert.equal(taken.body.type, `${PROBLEM}authority-name-taken`);
      const otherKey = await selfSignedCa(await subjectOf(ca.certPath));
      assert.equal((await ccm.api(a.key).post(`/v1/tenants/${a.id}/authorities/external`).send({ name: 'retired', certificatePem: otherKey.pem, registration: 'self' }).expect(409)).body.type, `${PROBLEM}authority-name-taken`, 'another key under the removed CA\'s name is another CA');
      await ccm.api(a.key).post(`/v1/tenants/${a.id}/authorities/external`).send({ name: 'retired again', certificatePem: ca.pem, registration: 'self' }).expect(201);
    });

    test('short form: the issuer as openssl prints it, in any case; a name older records share is refused unless the key identifier settles it', async () => {
      const device = await scratch.write('b-device-short.pem', bDevice.certificatePem);
      const issuer = (await openssl(['x509', '-in', device, '-noout', '-issuer', '-nameopt', 'RFC2253'])).stdout.trim().replace(/^issuer=/, '');
      const accepted = (await authenticate({ issuer: lookAlike(issuer), serialNumber: bDevice.serialNumber }).expect(200)).body;
      assert.equal(accepted.tenantId, b.id);

      // A CA of A's recorded under B's root's name before names were unique (the index holds the CAs in force; a removed one
      // is outside it, as a record restored from such a time would be).
      const bRoot = targets.find((target) => target.id === b.rootId)!;
      const lookAlikeCa = await selfSignedCa(bRoot.subject);
      const [row] = await installation.database.query<{ subject_key: string; created_at: string }>(`SELECT subject_key, created_at FROM authorities WHERE id = '${b.rootId}'`);
      const legacyId = randomUUID();
      const inspected = (await openssl(['x509', '-in', lookAlikeCa.certPath, '-noout', '-serial', '-fingerprint', '-sha256'])).stdout;
      const serial = /serial=([0-9A-F]+)/.exec(inspected)![1]!.toLowerCase();
      const fingerprint = /Fingerprint=([0-9A-F:]+)/.exec(inspected)![1]!.replace(/:/g, '').toLowerCase();
      await installation.database.execute(
        `INSERT INTO authorities (id, tenant_id, kind, status, custody_key_name, key_algorithm, subject, subject_key, serial_number, certificate_pem, fingerprint_sha256, not_before, not_after, revoked_at, revocation_reason, revocation_version, registration, name, created_at, updated_at) ` +
          `VALUES ('${legacyId}', '${a.id}', 'external', 'revoked', '', 'ecdsa-p256', '${bRoot.subject}', '${row!.subject_key}', '${serial}', '${lookAlikeCa.pem}', '${fingerprint}', '${row!.created_at}', '2999-01-01T00:00:00.000Z', '${row!.created_at}', 'cessationOfOperation', 0, 'self', 'legacy', '${row!.created_at}', '${row!.created_at}')`,
      );
      try {
        const before = await storedContent(installation.database);
        const ambiguous = await authenticate({ issuer, serialNumber: bDevice.serialNumber });
        assert.equal(ambiguous.status, 403, ambiguous.text);
        assert.equal(ambiguous.body.type, `${PROBLEM}issuer-ambiguous`);
        assert.equal(await storedContent(installation.database), before, 'refused: nothing changed');

        const keyIdentifier = await keyIdentifierOf(device, 'authorityKeyIdentifier');
        const settled = (await authenticate({ issuer, serialNumber: bDevice.serialNumber, authorityKeyIdentifier: keyIdentifier }).expect(200)).body;
        assert.equal(settled.tenantId, b.id);
        assert.equal(settled.authorityId, b.rootId);
        // The look-alike's own key identifier names A's revoked record, which authenticates nothing of B's.
        const lookAlikeKeyId = await keyIdentifierOf(lookAlikeCa.certPath, 'subjectKeyIdentifier');
        const other = await authenticate({ issuer, serialNumber: bDevice.serialNumber, authorityKeyIdentifier: lookAlikeKeyId });
        assert.equal(other.status, 403, other.text);
        assert.notEqual(other.body.tenantId, b.id);
        // With the certificate, the signature decides, whatever the records.
        assert.equal((await authenticate({ certificatePem: bDevice.certificatePem }).expect(200)).body.tenantId, b.id);
        const malformed = await authenticate({ issuer, serialNumber: bDevice.serialNumber, authorityKeyIdentifier: 'not hex' });
        assert.equal(malformed.status, 400, malformed.text);
      } finally {
        await installation.database.execute(`DELETE FROM authorities WHERE id = '${legacyId}'`);
      }
    });

    /** A key identifier extension as openssl prints it ("keyid:" before it in some versions), colons and all. */
    async function keyIdentifierOf(certPath: string, extension: 'authorityKeyIdentifier' | 'subjectKeyIdentifier'): Promise<string> {
      const printed = (await openssl(['x509', '-in', certPath, '-noout', '-ext', extension])).stdout;
      const match = /((?:[0-9A-F]{2}:)+[0-9A-F]{2})/.exec(printed);
      assert.ok(match, printed);
      return match[1]!;
    }

    async function subjectOf(certPath: string): Promise<string> {
      return (await openssl(['x509', '-in', certPath, '-noout', '-subject', '-nameopt', 'RFC2253'])).stdout.trim().replace(/^subject=/, '');
    }
  });
}
