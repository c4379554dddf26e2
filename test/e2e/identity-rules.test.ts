/**
 * Identity rules and the CSR subject policy end to end, on PostgreSQL with
 * local custody: rules set and read over HTTP (bad rules refused naming the
 * field, another tenant's CA not found), CSRs written by openssl req checked
 * against the policy at issuance and renewal (each refusal names the
 * attribute and stores nothing), and a compliant subject as openssl prints it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { dumpAllRows } from '../support/databases.js';
import { openssl, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';

interface Tenant {
  readonly id: string;
  readonly rootAuthorityId: string;
}

describe('identity rules and the CSR subject policy (PostgreSQL + local custody)', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let scratch: Scratch;
  let tenantA: Tenant;
  let tenantB: Tenant;
  let tenantAKey: string;
  let tenantBKey: string;
  let deviceKeyPath: string;

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' });
    ccm = await installation.start();
    scratch = await Scratch.create();
    tenantA = await createTenant(ccm, `rules-a-${Date.now()}`);
    tenantB = await createTenant(ccm, `rules-b-${Date.now()}`);
    tenantAKey = await ccm.createApiKey('tenant', tenantA.id, 'tenant-a');
    tenantBKey = await ccm.createApiKey('tenant', tenantB.id, 'tenant-b');
    deviceKeyPath = await scratch.write('device.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  const rulesPath = (tenant: Tenant, authorityId = tenant.rootAuthorityId): string => `/v1/tenants/${tenant.id}/authorities/${authorityId}/identity-rules`;

  /**
   * A CSR by openssl req for `subject` (-utf8: the subject text is UTF-8), with
   * the given string_mask: utf8only writes UTF8String; pkix writes BMPString
   * and default T61String for values PrintableString cannot hold.
   */
  async function csrFor(subject: string, stringMask: 'utf8only' | 'pkix' | 'default' = 'utf8only'): Promise<string> {
    const config = await scratch.write(`req-${stringMask}.cnf`, `[req]\ndistinguished_name = dn\nstring_mask = ${stringMask}\n[dn]\n`);
    const csr = await openssl(['req', '-new', '-key', deviceKeyPath, '-config', config, '-utf8', '-subj', subject]);
    assert.equal(csr.code, 0, csr.stderr);
    return csr.stdout;
  }

  /** Every row of every table but the audit log, which records refused requests on purpose. */
  async function storedState(): Promise<string> {
    return JSON.stringify((await dumpAllRows(installation.database)).filter(({ table }) => table !== 'audit_log').sort((a, b) => a.table.localeCompare(b.table)));
  }

  test('GET answers the defaults before any rules are set: identity from CN, no type, no policy', async () => {
    const res = await ccm.api(tenantAKey).get(rulesPath(tenantA)).expect(200);
    assert.deepEqual(res.body, { authorityId: tenantA.rootAuthorityId, identityAttribute: 'CN', deviceTypeAttribute: null, subjectPolicy: [] });
  });

  test('PUT by the tenant stores the rules, answers them, and GET reads them back; absent members take the defaults', async () => {
    const rules = {
      deviceTypeAttribute: null,
      subjectPolicy: [
        { attribute: 'O', equals: 'supplier' },
        { attribute: 'OU', equals: '{tenantId}' },
        { attribute: 'CN', pattern: '[\\p{L}\\p{N}-]{1,32}' },
      ],
    };
    const put = await ccm.api(tenantAKey).put(rulesPath(tenantA)).send(rules).expect(200);
    const expected = { authorityId: tenantA.rootAuthorityId, identityAttribute: 'CN', ...rules };
    assert.deepEqual(put.body, expected);
    assert.deepEqual((await ccm.api().get(rulesPath(tenantA)).expect(200)).body, expected);
    const [row] = await installation.database.query<{ identity_rules: string }>(`SELECT identity_rules FROM authorities WHERE id = '${tenantA.rootAuthorityId}'`);
    assert.deepEqual(JSON.parse(row!.identity_rules), { identityAttribute: 'CN', ...rules });

    // Replacing is whole: without a type or policy, those go back to the defaults.
    const reset = await ccm.api(tenantBKey).put(rulesPath(tenantB)).send({ deviceTypeAttribute: 'OU' }).expect(200);
    assert.deepEqual(reset.body.subjectPolicy, []);
    const cleared = await ccm.api(tenantBKey).put(rulesPath(tenantB)).send({}).expect(200);
    assert.deepEqual(cleared.body, { authorityId: tenantB.rootAuthorityId, identityAttribute: 'CN', deviceTypeAttribute: null, subjectPolicy: [] });
  });

  test('PUT with bad rules gets 400 naming the field, and changes nothing', async () => {
    const before = (await ccm.api().get(rulesPath(tenantA)).expect(200)).body;
    const cases: { body: unknown; field?: string; mentions?: RegExp }[] = [
      { body: { identityAttribute: 'commonName' }, field: 'identityAttribute' },
      { body: { identityAttribute: 'UID' }, field: 'identityAttribute' },
      { body: { identityAttribute: 'OU', deviceTypeAttribute: 'OU' }, field: 'deviceTypeAttribute' },
      { body: { subjectPolicy: [{ attribute: 'O', pattern: '[a-z' }] }, field: 'subjectPolicy[0].pattern' },
      { body: { subjectPolicy: [{ attribute: 'O' }, { attribute: 'OU', pattern: 'x'.repeat(257) }] }, field: 'subjectPolicy[1].pattern' },
      { body: { subjectPolicy: [{ attribute: 'O', equals: 's'.repeat(65) }] }, field: 'subjectPolicy[0].equals' },
      { body: { subjectPolicy: [{ attribute: 'OU', equals: '{tenant}' }] }, field: 'subjectPolicy[0].equals' },
      { body: { subjectPolicy: [{ attribute: 'emailAddress' }] }, field: 'subjectPolicy[0].attribute' },
      { body: { subjectPolicy: Array.from({ length: 8 }, () => ({ attribute: 'O' })) }, field: 'subjectPolicy' },
      { body: { subjectPolicy: [{ attribute: 'O', regex: 'x' }] }, mentions: /subjectPolicy\.0\.regex: property regex should not exist/ },
      { body: { identityAttribute: 7 }, mentions: /identityAttribute must be a string/ },
      { body: { subjectPolicy: 'O=supplier' }, mentions: /subjectPolicy must be an array/ },
    ];
    for (const c of cases) {
      const res = await ccm.api().put(rulesPath(tenantA)).send(c.body as object);
      assert.equal(res.status, 400, `${JSON.stringify(c.body).slice(0, 80)} → ${res.status} ${res.text}`);
      assert.match(res.headers['content-type'] ?? '', /application\/problem\+json/);
      assert.equal(res.body.type, `${PROBLEM}invalid-request`, res.text);
      if (c.field !== undefined) assert.equal(res.body.field, c.field, res.text);
      if (c.mentions !== undefined) assert.match(res.body.detail ?? '', c.mentions, res.text);
    }
    assert.deepEqual((await ccm.api().get(rulesPath(tenantA)).expect(200)).body, before);
  });

  test('another tenant\'s key, or another tenant\'s CA under one\'s own tenant, gets 404 on both routes; a broker key gets 403', async () => {
    const before = (await ccm.api().get(rulesPath(tenantA)).expect(200)).body;
    const attempts = [
      { key: tenantBKey, path: rulesPath(tenantA) },
      { key: tenantBKey, path: rulesPath(tenantB, tenantA.rootAuthorityId) },
      { key: ccm.adminKey, path: rulesPath(tenantB, tenantA.rootAuthorityId) },
      { key: ccm.adminKey, path: rulesPath(tenantA, '00000000-0000-7000-8000-000000000000') },
      { key: ccm.adminKey, path: rulesPath(tenantA, 'not-an-id') },
    ];
    for (const { key, path } of attempts) {
      for (const method of ['get', 'put'] as const) {
        const req = ccm.api(key)[method](path);
        const res = method === 'put' ? await req.send({}) : await req;
        assert.equal(res.status, 404, `${method.toUpperCase()} ${path} → ${res.status} ${res.text}`);
        assert.equal(res.body.type, `${PROBLEM}not-found`);
      }
    }
    const platform = (await ccm.api().get('/v1/platform-ca').expect(200)).body;
    await ccm.api().get(rulesPath(tenantA, platform.id)).expect(404);
    const brokerKey = await ccm.createApiKey('broker', undefined, 'broker');
    const forbidden = await ccm.api(brokerKey).put(rulesPath(tenantA)).send({});
    assert.equal(forbidden.status, 403, forbidden.text);
    assert.deepEqual((await ccm.api().get(rulesPath(tenantA)).expect(200)).body, before, 'no refused PUT changed the rules');
  });

  test('a compliant CSR is issued, and openssl prints the subject it asked for', async () => {
    const csr = await csrFor(`/O=supplier/OU=${tenantA.id}/CN=zähler-1`);
    const res = await ccm.api(tenantAKey).post(`/v1/tenants/${tenantA.id}/certificates`).send({ csr, ttlSeconds: 600 });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.commonName, 'zähler-1');
    const printed = await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253,-esc_msb,utf8'], { input: res.body.certificatePem });
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout.trim(), `subject=CN=zähler-1,OU=${tenantA.id},O=supplier`);
    const parsed = await openssl(['asn1parse'], { input: res.body.certificatePem });
    assert.doesNotMatch(parsed.stdout, /BMPSTRING|T61STRING/);
  });

  test('CSRs that break the policy get 400 policy-violation naming the attribute, at issuance and renewal, and store nothing', async () => {
    const compliant = (await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ csr: await csrFor(`/O=supplier/OU=${tenantA.id}/CN=meter-2`), ttlSeconds: 600 }).expect(201)).body;
    const bmp = await csrFor(`/O=supplier/OU=${tenantA.id}/CN=zähler-3`, 'pkix');
    assert.match((await openssl(['asn1parse'], { input: bmp })).stdout, /BMPSTRING/, 'openssl wrote the CN as a BMPString');
    const t61 = await csrFor(`/O=supplier/OU=${tenantA.id}/CN=zähler-4`, 'default');
    assert.match((await openssl(['asn1parse'], { input: t61 })).stdout, /T61STRING/, 'openssl wrote the CN as a T61String');

    const stateBefore = await storedState();
    const cases: { name: string; body: Record<string, unknown>; attribute: string; renew?: boolean }[] = [
      { name: 'BMPString CN', body: { csr: bmp }, attribute: 'CN' },
      { name: 'T61String CN', body: { csr: t61 }, attribute: 'CN' },
      { name: 'O other than "supplier"', body: { csr: await csrFor(`/O=acme/OU=${tenantA.id}/CN=meter-5`) }, attribute: 'O' },
      { name: 'OU of another tenant', body: { csr: await csrFor(`/O=supplier/OU=${tenantB.id}/CN=meter-6`) }, attribute: 'OU' },
      { name: 'no OU', body: { csr: await csrFor('/O=supplier/CN=meter-7') }, attribute: 'OU' },
      { name: 'two O', body: { csr: await csrFor(`/O=supplier/O=supplier/OU=${tenantA.id}/CN=meter-8`) }, attribute: 'O' },
      { name: 'CN not matching the pattern', body: { csr: await csrFor(`/O=supplier/OU=${tenantA.id}/CN=meter 9!`) }, attribute: 'CN' },
      { name: 'server-side key: the policy needs attributes only a CSR carries', body: { commonName: 'meter-10' }, attribute: 'O' },
      { name: 'renewal with a CSR of another subject', body: { csr: await csrFor(`/O=acme/OU=${tenantA.id}/CN=meter-2`) }, attribute: 'O', renew: true },
    ];
    for (const c of cases) {
      const path = c.renew ? `/v1/tenants/${tenantA.id}/certificates/${compliant.id}/renew` : `/v1/tenants/${tenantA.id}/certificates`;
      const res = await ccm.api().post(path).send({ ttlSeconds: 600, ...c.body });
      assert.equal(res.status, 400, `${c.name} → ${res.status} ${res.text}`);
      assert.match(res.headers['content-type'] ?? '', /application\/problem\+json/);
      assert.equal(res.body.type, `${PROBLEM}policy-violation`, `${c.name}: ${res.text}`);
      if (c.renew) assert.ok(res.body.attribute === c.attribute || res.body.field === 'csr', `${c.name}: ${res.text}`);
      else assert.equal(res.body.attribute, c.attribute, `${c.name}: ${res.text}`);
    }
    assert.equal(await storedState(), stateBefore, 'a refused request stored nothing: no pending certificate, no event');

    // The same renewal with a compliant CSR goes through: the policy refused the subject, not the renewal.
    const renewed = await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates/${compliant.id}/renew`).send({ csr: await csrFor(`/O=supplier/OU=${tenantA.id}/CN=meter-2`), ttlSeconds: 600 });
    assert.equal(renewed.status, 201, renewed.text);
  });

  test('a tenant without a policy still refuses BMPString subjects but issues UTF-8 ones, also with a server-side key', async () => {
    const bmp = await csrFor('/O=Grüne Zähler/CN=meter-b1', 'pkix');
    const refused = await ccm.api(tenantBKey).post(`/v1/tenants/${tenantB.id}/certificates`).send({ csr: bmp, ttlSeconds: 600 });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.body.type, `${PROBLEM}policy-violation`);
    assert.equal(refused.body.attribute, 'O');
    await ccm.api(tenantBKey).post(`/v1/tenants/${tenantB.id}/certificates`).send({ csr: await csrFor('/O=Grüne Zähler/CN=meter-b1'), ttlSeconds: 600 }).expect(201);
    await ccm.api(tenantBKey).post(`/v1/tenants/${tenantB.id}/certificates`).send({ commonName: 'meter-b2', ttlSeconds: 600 }).expect(201);
  });

  test('with OU as the device type, a subject without exactly one OU is refused naming OU: its certificate could never authenticate', async () => {
    await ccm.api(tenantBKey).put(rulesPath(tenantB)).send({ deviceTypeAttribute: 'OU' }).expect(200);
    const issue = (body: object) => ccm.api(tenantBKey).post(`/v1/tenants/${tenantB.id}/certificates`).send({ ttlSeconds: 600, ...body });
    for (const body of [{ csr: await csrFor('/O=Acme/CN=meter-b3') }, { csr: await csrFor('/OU=meter/OU=valve/CN=meter-b4') }, { commonName: 'meter-b5' }]) {
      const res = await issue(body);
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.type, `${PROBLEM}policy-violation`);
      assert.equal(res.body.attribute, 'OU', res.text);
    }
    const issued = await issue({ csr: await csrFor('/OU=smart-meter/CN=meter-b6') });
    assert.equal(issued.status, 201, issued.text);
    assert.equal(issued.body.subject, 'CN=meter-b6,OU=smart-meter');
    await ccm.api(tenantBKey).put(rulesPath(tenantB)).send({}).expect(200);
  });
});

async function createTenant(ccm: CcmUnderTest, name: string): Promise<Tenant> {
  const created = (await ccm.api().post('/v1/tenants').send({ name }).expect(201)).body;
  const read = (await ccm.api().get(`/v1/tenants/${created.id}`).expect(200)).body;
  return { id: created.id, rootAuthorityId: read.rootAuthority.id };
}
