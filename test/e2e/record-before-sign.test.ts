/**
 * Record before sign, on every path that signs a certificate: the platform
 * CA, a tenant root, a device certificate, a delegated intermediate and a
 * delegated OCSP responder. Vault custody with a token whose policy lets
 * ccm create keys but not sign with them (as a mis-scoped Vault policy
 * does) fails each between the committed record and the signature;
 * afterwards no certificate exists that has no row, the pending row is
 * marked failed, and it is harmless: nothing lists it, a tenant name or CA
 * name it held is free again, and asking again succeeds. Last, a ccm
 * process killed while custody holds its signing request leaves a pending
 * row that the next start marks failed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { ABANDONED_AFTER_MS } from '../../src/ca/abandoned-issuances.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';
import { ServerProcess } from '../support/server-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const PROBLEM = 'urn:ccm:problem:';
/** Everything but signing with the platform CA's key. */
const PLATFORM_CANNOT_SIGN = ['auth/*', 'sys/*', 'transit/keys/*', 'transit/sign/ccm-tenant-*', 'transit/sign/ccm-ocsp-*'];
/** Everything but signing with tenant root keys (device certificates, delegated CAs, OCSP responders are theirs to sign). */
const TENANT_ROOTS_CANNOT_SIGN = ['auth/*', 'sys/*', 'transit/keys/*', 'transit/sign/ccm-platform-ca*', 'transit/sign/ccm-ocsp-*'];

for (const database of ['sqlite', 'postgres'] as const) {
  describe(`record before sign (${database} + Vault custody)`, () => {
    let installation: TestInstallation;
    let scratch: Scratch;
    let ccm: CcmUnderTest | null = null;
    let tenantId = '';
    let rootAuthorityId = '';

    const tokenEnv = (policyPaths?: readonly string[]) => ({ CCM_VAULT_TOKEN: installation.vault!.createToken(policyPaths ? { policyPaths } : {}) });
    /** Replaces the running ccm with one whose Vault token allows `policyPaths` (every path when omitted). */
    const restart = async (policyPaths?: readonly string[]): Promise<CcmUnderTest> => {
      await ccm?.close();
      ccm = await installation.start({ env: tokenEnv(policyPaths) });
      return ccm;
    };
    const query = <T>(sql: string) => installation.database.query<T>(sql);
    const signRequests = () => installation.vault!.stats.signRequests;

    before(async () => {
      installation = await TestInstallation.create({ database, custody: 'vault' }, { CCM_OCSP_RESPONDER: 'delegated' });
      scratch = await Scratch.create();
    });

    after(async () => {
      await ccm?.close();
      await installation?.destroy();
      await scratch?.cleanup();
    });

    test('the platform CA: a start that cannot sign leaves it pending with its serial recorded; the next start certifies it', async () => {
      const failing = await ServerProcess.ccm({ ...installation.env, ...tokenEnv(PLATFORM_CANNOT_SIGN) }).then(
        () => assert.fail('ccm started without a platform CA'),
        (error: unknown) => error,
      );
      assert.match(String(failing), /exit|exited|stopped/i, String(failing));
      const [claimed, ...others] = await query<{ status: string; serial_number: string | null; certificate_pem: string | null }>("SELECT status, serial_number, certificate_pem FROM authorities WHERE kind = 'platform'");
      assert.equal(others.length, 0);
      assert.equal(claimed!.status, 'pending');
      assert.match(claimed!.serial_number ?? '', /^[0-9a-f]+$/, 'the serial was recorded before custody was asked to sign');
      assert.equal(claimed!.certificate_pem, null);

      await restart();
      const [platform] = await query<{ status: string; serial_number: string; certificate_pem: string }>("SELECT status, serial_number, certificate_pem FROM authorities WHERE kind = 'platform'");
      assert.equal(platform!.status, 'active');
      const text = (await openssl(['x509', '-noout', '-serial'], { input: platform!.certificate_pem })).stdout;
      assert.equal(text.trim().toLowerCase(), `serial=${platform!.serial_number}`, 'the certificate carries the serial its row records');
    });

    test('a tenant root: the tenant and its root record stay, the root failed; the same request again finishes the tenant', async () => {
      await restart(PLATFORM_CANNOT_SIGN);
      const refused = await ccm!.api().post('/v1/tenants').send({ name: 'interrupted' });
      assert.equal(refused.status, 502, refused.text);
      assert.equal(refused.body.type, `${PROBLEM}custody-error`);
      const [tenant] = await query<{ id: string }>("SELECT id FROM tenants WHERE name = 'interrupted'");
      assert.ok(installation.vault!.keyNames().includes(`ccm-tenant-${tenant!.id}-root-1`), 'the key was made after the record, and only the signature failed');
      const roots = await query<{ status: string; serial_number: string | null; certificate_pem: string | null }>(`SELECT status, serial_number, certificate_pem FROM authorities WHERE tenant_id = '${tenant!.id}'`);
      assert.deepEqual(roots.map((root) => [root.status, root.certificate_pem]), [['failed', null]]);
      assert.match(roots[0]!.serial_number ?? '', /^[0-9a-f]+$/);
      assert.equal((await ccm!.api().post(`/v1/tenants/${tenant!.id}/certificates`).send({ commonName: 'too-soon' })).status, 409, 'a tenant without a root issues nothing');

      await restart();
      const finished = await ccm!.api().post('/v1/tenants').send({ name: 'interrupted' }).expect(201);
      assert.equal(finished.body.id, tenant!.id, 'the same tenant, finished');
      tenantId = finished.body.id;
      rootAuthorityId = finished.body.rootAuthority.id;
      const after = await query<{ status: string }>(`SELECT status FROM authorities WHERE tenant_id = '${tenantId}' ORDER BY created_at`);
      assert.deepEqual(after.map((root) => root.status).sort(), ['active', 'failed']);
      assert.equal((await ccm!.api().post('/v1/tenants').send({ name: 'interrupted' })).status, 409, 'a finished tenant is not created twice');
    });

    test('a device certificate: the row is failed, listed nowhere, and the next issuance works', async () => {
      await restart(TENANT_ROOTS_CANNOT_SIGN);
      const refused = await ccm!.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName: 'device-1', ttlSeconds: 3600 });
      assert.equal(refused.status, 502, refused.text);
      const rows = await query<{ state: string; serial_number: string; fingerprint_sha256: string | null }>(`SELECT state, serial_number, fingerprint_sha256 FROM certificates WHERE tenant_id = '${tenantId}'`);
      assert.deepEqual(rows.map((row) => [row.state, row.fingerprint_sha256]), [['failed', null]]);
      assert.equal((await ccm!.api().get(`/v1/tenants/${tenantId}/certificates`).expect(200)).body.items.length, 0);
      assert.equal((await ccm!.api().get(`/v1/tenants/${tenantId}/certificates`).query({ serialNumber: rows[0]!.serial_number })).body.items?.length ?? 0, 0);

      await restart();
      const issued = (await ccm!.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName: 'device-1', ttlSeconds: 3600 }).expect(201)).body;
      const chain = (await ccm!.api().get(`/v1/tenants/${tenantId}/ca-chain`).expect(200)).text;
      const chainPath = await scratch.write('chain.pem', chain);
      await openssl(['verify', '-CAfile', chainPath, await scratch.write('device-1.pem', issued.certificatePem)]);
    });

    test('a delegated intermediate: failed, its name free again, and the same request then succeeds', async () => {
      const key = await scratch.write('intermediate.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
      const csrPem = (await openssl(['req', '-new', '-key', key, '-subj', '/O=Acme/CN=Acme interrupted CA'])).stdout;
      await restart(TENANT_ROOTS_CANNOT_SIGN);
      const refused = await ccm!.api().post(`/v1/tenants/${tenantId}/authorities/intermediate`).send({ name: 'line 1', csrPem });
      assert.equal(refused.status, 502, refused.text);
      const rows = await query<{ status: string; certificate_pem: string | null }>(`SELECT status, certificate_pem FROM authorities WHERE tenant_id = '${tenantId}' AND kind = 'intermediate'`);
      assert.deepEqual(rows.map((row) => [row.status, row.certificate_pem]), [['failed', null]]);
      assert.equal((await ccm!.api().get(`/v1/tenants/${tenantId}/authorities`).expect(200)).body.items.filter((a: { kind: string }) => a.kind === 'intermediate').length, 0);

      await restart();
      await ccm!.api().post(`/v1/tenants/${tenantId}/authorities/intermediate`).send({ name: 'line 1', csrPem }).expect(201);
    });

    test('a delegated OCSP responder: failed when it cannot be signed, and a new one answers once custody signs again', async () => {
      const device = (await ccm!.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName: 'ocsp-device', ttlSeconds: 3600 }).expect(201)).body;
      const chain = (await ccm!.api().get(`/v1/tenants/${tenantId}/ca-chain`).expect(200)).text;
      const requestPath = scratch.path('ocsp-request.der');
      await openssl(['ocsp', '-issuer', await scratch.write('root.pem', pemBlocks(chain)[0]!), '-cert', await scratch.write('ocsp-device.pem', device.certificatePem), '-reqout', requestPath]);
      const ask = async () => {
        const response = await fetch(`${ccm!.url}/ocsp/${rootAuthorityId}`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: await readFile(requestPath) });
        return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
      };
      /** OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, ... } (RFC 6960 §4.2.1): 0 successful, 3 tryLater. */
      const responseStatusOf = (body: Buffer) => body[2 + (body[1]! & 0x80 ? body[1]! & 0x7f : 0) + 2];

      await restart(TENANT_ROOTS_CANNOT_SIGN);
      const refused = await ask();
      assert.equal(refused.status, 200);
      assert.equal(responseStatusOf(refused.body), 3, 'tryLater: no answer without a responder');
      const responders = () => query<{ status: string; certificate_pem: string | null }>(`SELECT status, certificate_pem FROM authorities WHERE issuer_authority_id = '${rootAuthorityId}' AND kind = 'ocsp-responder' ORDER BY created_at`);
      assert.deepEqual((await responders()).map((row) => [row.status, row.certificate_pem]), [['failed', null]]);

      await restart();
      const answered = await ask();
      assert.equal(answered.status, 200);
      assert.equal(responseStatusOf(answered.body), 0, 'successful');
      assert.deepEqual((await responders()).map((row) => row.status), ['failed', 'active']);
    });

    test('a rollover whose new root cannot be signed: its record failed, the old root still active; the next rollover takes a new generation and key', async () => {
      await restart();
      const tenant = (await ccm!.api().post('/v1/tenants').send({ name: `rolled-${database}` }).expect(201)).body as { id: string; rootAuthority: { id: string } };
      await restart(PLATFORM_CANNOT_SIGN);
      const refused = await ccm!.api().post(`/v1/tenants/${tenant.id}/ca/rollover`).send({});
      assert.equal(refused.status, 502, refused.text);
      assert.equal(refused.body.type, `${PROBLEM}custody-error`);
      const roots = async () => query<{ id: string; status: string; subject: string }>(`SELECT id, status, subject FROM authorities WHERE tenant_id = '${tenant.id}' AND kind = 'tenant-root' ORDER BY created_at`);
      assert.deepEqual((await roots()).map((root) => root.status), ['active', 'failed']);
      assert.ok(installation.vault!.keyNames().includes(`ccm-tenant-${tenant.id}-root-2`), 'the record came first, then the key; only the signature failed');
      assert.equal((await ccm!.api().get(`/v1/tenants/${tenant.id}`).expect(200)).body.rootAuthority.id, tenant.rootAuthority.id);

      await restart();
      const rolled = (await ccm!.api().post(`/v1/tenants/${tenant.id}/ca/rollover`).send({}).expect(201)).body as { rootAuthority: { id: string; subject: string } };
      assert.match(rolled.rootAuthority.subject, /root CA G3,/, 'a generation of its own: the failed attempt\'s key is not taken up again');
      assert.ok(installation.vault!.keyNames().includes(`ccm-tenant-${tenant.id}-root-3`));
      assert.deepEqual((await roots()).map((root) => root.status), ['retiring', 'failed', 'active']);
    });

    test('a process killed between the record and the signature leaves a pending row, which a later start marks failed', async () => {
      await ccm?.close();
      ccm = null;
      const vaultPort = Number(new URL(installation.vault!.address).port);
      const proxy = new TcpProxy('127.0.0.1', vaultPort);
      await proxy.start();
      const child = await ServerProcess.ccm({ ...installation.env, CCM_VAULT_ADDR: `http://${proxy.address}` });
      try {
        const api = (path: string) => fetch(`${child.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${installation.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ commonName: 'killed', ttlSeconds: 3600 }) });
        assert.equal((await api(`/v1/tenants/${tenantId}/certificates`)).status, 201, 'the proxied custody works');
        const signsBefore = signRequests();
        proxy.freeze();
        const inFlight = api(`/v1/tenants/${tenantId}/certificates`).catch(() => null);
        let pending: { id: string }[] = [];
        for (let attempt = 0; attempt < 100 && pending.length === 0; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          pending = await query<{ id: string }>(`SELECT id FROM certificates WHERE tenant_id = '${tenantId}' AND state = 'pending'`);
        }
        assert.equal(pending.length, 1, 'the record is committed while custody holds the signature');
        child.signal('SIGKILL');
        await child.exited();
        await inFlight;
        proxy.thaw();
        assert.equal(signRequests(), signsBefore, 'custody never signed it');

        // Ten minutes on, as far as the record knows: no issuance takes that long, so it was abandoned.
        const createdAt = new Date(Date.now() - ABANDONED_AFTER_MS - 60_000).toISOString();
        await installation.database.execute(`UPDATE certificates SET created_at = '${createdAt}' WHERE id = '${pending[0]!.id}'`);
        await restart();
        const [row] = await query<{ state: string }>(`SELECT state FROM certificates WHERE id = '${pending[0]!.id}'`);
        assert.equal(row!.state, 'failed');
        assert.ok(!(await ccm!.api().get(`/v1/tenants/${tenantId}/certificates`).expect(200)).body.items.some((item: { id: string }) => item.id === pending[0]!.id));
      } finally {
        await child.stop().catch(() => undefined);
        await proxy.stop();
      }
    });
  });
}
