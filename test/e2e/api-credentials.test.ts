/**
 * API credentials over HTTP on PostgreSQL: the bootstrap administrator key,
 * keys created through the API and shown once, stored only as a SHA-256 of
 * their secret, refused once revoked; what a tenant key may create and see.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { dumpAllRows } from '../support/databases.js';

const PROBLEM = 'urn:ccm:problem:';

describe('API credentials on PostgreSQL', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let tenantA: string;
  let tenantB: string;

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' });
    ccm = await installation.start();
    tenantA = (await ccm.api().post('/v1/tenants').send({ name: `keys-a-${Date.now()}` }).expect(201)).body.id;
    tenantB = (await ccm.api().post('/v1/tenants').send({ name: `keys-b-${Date.now()}` }).expect(201)).body.id;
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
  });

  test('no key, a malformed key, a wrong bootstrap key and an unknown ccm key are the same 401 with a Bearer challenge', async () => {
    const unknownCcmKey = `ccm_${'0190f0c2-0000-7000-8000-000000000000'}_${'A'.repeat(43)}`;
    for (const header of [undefined, 'Basic Zm9vOmJhcg==', 'Bearer', `Bearer ${ccm.adminKey}x`, `Bearer ${unknownCcmKey}`, `Bearer ${'x'.repeat(5000)}`]) {
      const request = ccm.api('unused').get('/v1/tenants');
      if (header === undefined) request.unset('authorization');
      else request.set('authorization', header);
      const response = await request;
      assert.equal(response.status, 401, String(header));
      assert.equal(response.headers['www-authenticate'], 'Bearer realm="ccm"');
      assert.equal(response.body.type, `${PROBLEM}unauthorized`);
      assert.equal(response.body.detail.includes(ccm.adminKey), false);
    }
  });

  test('a created key is shown once, works at once, is stored only as the SHA-256 of its secret, and is refused once revoked', async () => {
    const created = await ccm.api().post('/v1/api-credentials').send({ name: 'broker-eu', role: 'broker' }).expect(201);
    assert.equal(created.headers['cache-control'], 'no-store');
    const { id, key } = created.body as { id: string; key: string };
    assert.match(key, new RegExp(`^ccm_${id}_[A-Za-z0-9_-]{43}$`));
    assert.equal(created.body.role, 'broker');
    assert.equal(created.body.tenantId, null);
    assert.equal(created.body.createdBy, null, 'made with the bootstrap key');

    const read = await ccm.api().get(`/v1/api-credentials/${id}`).expect(200);
    assert.equal(read.body.key, undefined, 'the key is never shown again');
    assert.equal(read.body.lastUsedAt, null);

    await ccm.api(key).get(`/v1/tenants/${tenantA}/ca-chain`).expect(200);
    assert.notEqual((await ccm.api().get(`/v1/api-credentials/${id}`).expect(200)).body.lastUsedAt, null, 'use is recorded');

    const secret = key.slice(`ccm_${id}_`.length);
    const rows = await installation.database.query<{ secret_hash: string }>(`SELECT secret_hash FROM api_credentials WHERE id = '${id}'`);
    assert.equal(rows[0]!.secret_hash, createHash('sha256').update(secret).digest('hex'));
    await ccm.auditWritten();
    const everything = JSON.stringify(await dumpAllRows(installation.database));
    assert.equal(everything.includes(secret), false, 'the secret is nowhere in the database');
    assert.equal(everything.includes(ccm.adminKey), false, 'nor is the bootstrap key');

    const revoked = await ccm.api().delete(`/v1/api-credentials/${id}`).expect(200);
    assert.notEqual(revoked.body.revokedAt, null);
    const refused = await ccm.api(key).get(`/v1/tenants/${tenantA}/ca-chain`).expect(401);
    assert.equal(refused.body.type, `${PROBLEM}unauthorized`);
    assert.equal((await ccm.api().delete(`/v1/api-credentials/${id}`).expect(404)).body.type, `${PROBLEM}not-found`, 'revoking twice');
  });

  test('a key whose secret is altered in one character is refused', async () => {
    const { key } = (await ccm.api().post('/v1/api-credentials').send({ name: 'altered', role: 'admin' }).expect(201)).body as { key: string };
    await ccm.api(key).get('/v1/tenants').expect(200);
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    await ccm.api(`${key.slice(0, -1)}${last}`).get('/v1/tenants').expect(401);
  });

  test('roles: a broker key may authenticate devices but not create tenants; a tenant key only its own tenant', async () => {
    const broker = await ccm.createApiKey('broker');
    const tenantKey = await ccm.createApiKey('tenant', tenantA);
    assert.equal((await ccm.api(broker).post('/v1/tenants').send({ name: 'nope' }).expect(403)).body.type, `${PROBLEM}forbidden`);
    assert.equal((await ccm.api(broker).post('/v1/authentications').send({}).expect(400)).body.type, `${PROBLEM}invalid-request`, 'past the guard');
    assert.equal((await ccm.api(tenantKey).post('/v1/tenants').send({ name: 'nope' }).expect(403)).body.type, `${PROBLEM}forbidden`);
    await ccm.api(tenantKey).get(`/v1/tenants/${tenantA}`).expect(200);
    const foreign = await ccm.api(tenantKey).get(`/v1/tenants/${tenantB}`).expect(404);
    assert.equal(foreign.body.type, `${PROBLEM}not-found`);
    assert.equal(foreign.body.detail, 'tenant not found');
    // The same answer as for a tenant that does not exist at all: a tenant key learns nothing about other tenants.
    const missing = await ccm.api(tenantKey).get('/v1/tenants/0190f0c2-0000-7000-8000-000000000000').expect(404);
    assert.deepEqual({ ...missing.body, instance: undefined, requestId: undefined }, { ...foreign.body, instance: undefined, requestId: undefined });
  });

  test('a tenant key creates tenant keys for its own tenant only, never administrator or broker keys, and sees only its tenant\'s keys', async () => {
    const tenantKey = await ccm.createApiKey('tenant', tenantA, 'a-admin');
    const otherTenantKey = await ccm.createApiKey('tenant', tenantB, 'b-admin');
    const before = (await ccm.api().get('/v1/api-credentials').expect(200)).body.length;

    const own = await ccm.api(tenantKey).post('/v1/api-credentials').send({ name: 'a-device-service', role: 'tenant' }).expect(201);
    assert.equal(own.body.tenantId, tenantA);
    assert.equal(own.body.createdBy, tenantKey.slice(4, 40));
    await ccm.api(own.body.key).get(`/v1/tenants/${tenantA}/certificates`).expect(200);

    for (const role of ['admin', 'broker']) {
      assert.equal((await ccm.api(tenantKey).post('/v1/api-credentials').send({ name: 'escalate', role }).expect(403)).body.type, `${PROBLEM}forbidden`);
    }
    assert.equal((await ccm.api(tenantKey).post('/v1/api-credentials').send({ name: 'cross', role: 'tenant', tenantId: tenantB }).expect(404)).body.detail, 'tenant not found');

    const listed = (await ccm.api(tenantKey).get('/v1/api-credentials').expect(200)).body as { tenantId: string }[];
    assert.ok(listed.length >= 2);
    assert.ok(listed.every((c) => c.tenantId === tenantA));
    await ccm.api(tenantKey).get('/v1/api-credentials').query({ tenantId: tenantB }).expect(404);

    const bKeyId = otherTenantKey.slice(4, 40);
    await ccm.api(tenantKey).get(`/v1/api-credentials/${bKeyId}`).expect(404);
    await ccm.api(tenantKey).delete(`/v1/api-credentials/${bKeyId}`).expect(404);
    await ccm.api(otherTenantKey).get(`/v1/tenants/${tenantB}`).expect(200);
    assert.equal((await ccm.api().get('/v1/api-credentials').expect(200)).body.length, before + 1, 'only the one allowed key was added');
  });

  test('bad requests store nothing: unknown role, a tenant key without a tenant, an admin key with one, an unknown tenant', async () => {
    const before = await installation.database.query<{ n: string }>('SELECT count(*) AS n FROM api_credentials');
    const cases: [object, number, string][] = [
      [{ name: 'x', role: 'root' }, 400, 'invalid-request'],
      [{ name: 'x', role: 'tenant' }, 400, 'invalid-request'],
      [{ name: 'x', role: 'admin', tenantId: tenantA }, 400, 'invalid-request'],
      [{ name: 'x', role: 'tenant', tenantId: '0190f0c2-0000-7000-8000-000000000000' }, 404, 'not-found'],
      [{ name: '', role: 'broker' }, 400, 'invalid-request'],
      [{ name: 'x', role: 'broker', extra: 1 }, 400, 'invalid-request'],
    ];
    for (const [body, status, type] of cases) {
      const response = await ccm.api().post('/v1/api-credentials').send(body);
      assert.equal(response.status, status, JSON.stringify(body));
      assert.equal(response.body.type, `${PROBLEM}${type}`);
    }
    assert.deepEqual(await installation.database.query('SELECT count(*) AS n FROM api_credentials'), before);
  });

  test('a configured bootstrap key shorter than 32 characters stops the service naming the variable', async () => {
    await assert.rejects(installation.start({ env: { CCM_ADMIN_API_KEY: 'short' } }), /CCM_ADMIN_API_KEY must be at least 32 characters/);
  });
});
