/**
 * The audit log over HTTP on PostgreSQL: every issuance, state change, CA
 * and credential change and authentication decision leaves an entry with
 * actor, time and target; refusals (by the use case, and by the access guard
 * before any handler runs) are recorded with their problem type; a tenant key
 * lists its own tenant's entries only; the filters and the cursor work; and
 * the table holds no key material, API key or enrollment secret.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FixedClock } from '../../src/shared/clock.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { dumpAllRows } from '../support/databases.js';
import { openssl, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';

interface Entry {
  position: string;
  id: string;
  occurredAt: string;
  tenantId: string | null;
  actor: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  outcome: string;
  reason: string | null;
  details: Record<string, unknown> | null;
}

interface Issued {
  id: string;
  serialNumber: string;
  certificatePem: string;
  privateKeyPem: string | null;
}

/** The credential id inside an API key (ccm_<id>_<secret>): how the key's actor is named. */
const credentialIdOf = (key: string): string => key.split('_')[1]!;

describe('audit log on PostgreSQL', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let scratch: Scratch;
  const clock = new FixedClock(new Date());
  let tenantA: string;
  let tenantB: string;
  let tenantKeyA: string;
  let brokerKey: string;
  /** Every key and secret the tests were given: none may appear in the audit table. */
  const secrets: string[] = [];

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' });
    ccm = await installation.start({ clock });
    scratch = await Scratch.create();
    tenantA = (await ccm.api().post('/v1/tenants').send({ name: `audit-a-${Date.now()}` }).expect(201)).body.id;
    tenantB = (await ccm.api().post('/v1/tenants').send({ name: `audit-b-${Date.now()}` }).expect(201)).body.id;
    tenantKeyA = await ccm.createApiKey('tenant', tenantA);
    brokerKey = await ccm.createApiKey('broker');
    secrets.push(ccm.adminKey, tenantKeyA, brokerKey);
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  /** Entries as the administrator lists them, every page. */
  const entries = async (query: Record<string, string> = {}, key = ccm.adminKey): Promise<Entry[]> => {
    const all: Entry[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = (await ccm.api(key).get('/v1/audit-log').query({ ...query, limit: '1000', ...(cursor ? { after: cursor } : {}) }).expect(200)).body as { items: Entry[]; nextCursor: string | null };
      all.push(...page.items);
      if (page.items.length < 1000) return all;
      cursor = page.nextCursor!;
    }
  };
  /** The one entry of this action about this target (the latest when several). */
  const entryOf = async (action: string, targetId: string | null, outcome = 'succeeded'): Promise<Entry> => {
    const found = (await entries({ action, outcome })).filter((e) => e.targetId === targetId);
    assert.ok(found.length > 0, `an entry ${action} ${outcome} for ${targetId}`);
    return found.at(-1)!;
  };
  const issue = async (tenantId: string, commonName: string): Promise<Issued> =>
    (await ccm.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName, ttlSeconds: 3600 }).expect(201)).body;

  test('every route of the OpenAPI document that can change something names the action it records (x-ccm-audit)', async () => {
    const spec = (await ccm.api().get('/docs/openapi.json').expect(200)).body as { paths: Record<string, Record<string, { 'x-ccm-audit'?: string }>> };
    // An OCSP request travels in a POST body but asks a question; it changes nothing.
    const questions = new Set(['POST /ocsp/{authorityId}']);
    const changing = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([method]) => method !== 'get' && !questions.has(`${method.toUpperCase()} ${path}`))
        .map(([method, operation]) => ({ route: `${method.toUpperCase()} ${path}`, action: operation['x-ccm-audit'] })),
    );
    assert.ok(changing.length >= 17, `the document has the changing routes (${changing.length})`);
    assert.deepEqual(changing.filter((c) => c.action === undefined).map((c) => c.route), [], 'changing routes without an audit action');
    const actionOf = Object.fromEntries(changing.map((c) => [c.route, c.action]));
    assert.equal(actionOf['POST /v1/authentications'], 'device.authenticate');
    assert.equal(actionOf['POST /v1/tenants/{tenantId}/certificates'], 'certificate.issue');
    assert.equal(actionOf['POST /.well-known/est/{tenantId}/simpleenroll'], 'est.enroll');
    assert.equal(Object.values(spec.paths['/v1/audit-log'] ?? {})[0]?.['x-ccm-audit'], undefined, 'reading the log is not itself recorded');
  });

  test('tenant creation, issuance, suspension, reactivation, revocation and renewal each leave an entry with actor, time and target', async () => {
    const tenant = await entryOf('tenant.create', tenantA);
    assert.equal(tenant.actor, 'bootstrap-admin');
    assert.equal(tenant.tenantId, tenantA);
    assert.equal(tenant.targetType, 'tenant');

    const certificate = await issue(tenantA, 'audited-device');
    secrets.push(certificate.privateKeyPem!);
    const issued = await entryOf('certificate.issue', certificate.id);
    assert.deepEqual(
      { actor: issued.actor, tenantId: issued.tenantId, targetType: issued.targetType, occurredAt: issued.occurredAt, reason: issued.reason },
      { actor: 'bootstrap-admin', tenantId: tenantA, targetType: 'certificate', occurredAt: clock.now().toISOString(), reason: null },
    );
    assert.equal(issued.details?.['serialNumber'], certificate.serialNumber);
    assert.equal(issued.details?.['keySource'], 'server');

    clock.advance(1000);
    await ccm.api(tenantKeyA).post(`/v1/tenants/${tenantA}/certificates/${certificate.id}/suspend`).expect(200);
    const suspended = await entryOf('certificate.suspend', certificate.id);
    assert.equal(suspended.actor, `tenant:${credentialIdOf(tenantKeyA)}`, 'the tenant key that did it, by credential id');
    assert.equal(suspended.occurredAt, clock.now().toISOString(), 'the time comes from the injected clock');
    assert.equal(suspended.details?.['state'], 'suspended');
    assert.equal(suspended.details?.['serialNumber'], certificate.serialNumber);

    await ccm.api().post(`/v1/tenants/${tenantA}/certificates/${certificate.id}/reactivate`).expect(200);
    assert.equal((await entryOf('certificate.reactivate', certificate.id)).details?.['state'], 'inactive');

    const renewed = (await ccm.api().post(`/v1/tenants/${tenantA}/certificates/${certificate.id}/renew`).send({}).expect(201)).body as Issued;
    secrets.push(renewed.privateKeyPem!);
    const renewal = await entryOf('certificate.renew', certificate.id);
    assert.equal(renewal.details?.['issuedCertificateId'], renewed.id);
    assert.equal(renewal.details?.['serialNumber'], renewed.serialNumber);

    await ccm.api().post(`/v1/tenants/${tenantA}/certificates/${certificate.id}/revoke`).send({ reason: 'keyCompromise' }).expect(200);
    const revoked = await entryOf('certificate.revoke', certificate.id);
    assert.equal(revoked.details?.['state'], 'revoked');
    assert.equal(revoked.details?.['revocationReason'], 'keyCompromise');

    // A refused change is recorded with its problem type, and what the problem said.
    assert.equal((await ccm.api().post(`/v1/tenants/${tenantA}/certificates/${certificate.id}/suspend`).expect(409)).body.type, `${PROBLEM}illegal-transition`);
    const illegal = await entryOf('certificate.suspend', certificate.id, 'refused');
    assert.equal(illegal.reason, 'illegal-transition');
    assert.equal(illegal.details?.['state'], 'revoked');
  });

  test('CA revocation, API, enrollment credential and subscriber changes each leave an entry; platform-wide ones have no tenant', async () => {
    const doomed = (await ccm.api().post('/v1/tenants').send({ name: `audit-doomed-${Date.now()}` }).expect(201)).body as { id: string; rootAuthority: { id: string } };
    await issue(doomed.id, 'goes-with-its-ca');
    await ccm.api().post(`/v1/tenants/${doomed.id}/ca/revoke`).send({ reason: 'cACompromise' }).expect(200);
    const caRevoked = await entryOf('authority.revoke', doomed.rootAuthority.id);
    assert.deepEqual(
      { actor: caRevoked.actor, tenantId: caRevoked.tenantId, targetType: caRevoked.targetType, revokedCertificates: caRevoked.details?.['revokedCertificates'] },
      { actor: 'bootstrap-admin', tenantId: doomed.id, targetType: 'authority', revokedCertificates: 1 },
    );

    const apiKey = (await ccm.api(tenantKeyA).post('/v1/api-credentials').send({ name: 'second', role: 'tenant' }).expect(201)).body as { id: string; key: string };
    secrets.push(apiKey.key);
    const keyCreated = await entryOf('api-credential.create', apiKey.id);
    assert.deepEqual(
      { actor: keyCreated.actor, tenantId: keyCreated.tenantId, targetType: keyCreated.targetType, role: keyCreated.details?.['role'] },
      { actor: `tenant:${credentialIdOf(tenantKeyA)}`, tenantId: tenantA, targetType: 'api-credential', role: 'tenant' },
    );
    await ccm.api().delete(`/v1/api-credentials/${apiKey.id}`).expect(200);
    const keyRevoked = await entryOf('api-credential.revoke', apiKey.id);
    assert.equal(keyRevoked.tenantId, tenantA, 'the tenant of the key, though an administrator revoked it');
    assert.equal((await entryOf('api-credential.create', credentialIdOf(brokerKey))).tenantId, null, 'a broker key is platform-wide');

    const enrollment = (await ccm.api(tenantKeyA).post(`/v1/tenants/${tenantA}/enrollment-credentials`).send({ name: 'factory' }).expect(201)).body as { id: string; secret: string };
    secrets.push(enrollment.secret);
    const enrollmentCreated = await entryOf('enrollment-credential.create', enrollment.id);
    assert.equal(enrollmentCreated.tenantId, tenantA);
    assert.equal(enrollmentCreated.details?.['name'], 'factory');
    await ccm.api(tenantKeyA).delete(`/v1/tenants/${tenantA}/enrollment-credentials/${enrollment.id}`).expect(204);
    assert.equal((await entryOf('enrollment-credential.revoke', enrollment.id)).actor, `tenant:${credentialIdOf(tenantKeyA)}`);

    const subscriber = (await ccm.api().post('/v1/event-subscribers').send({ name: `audit-${Date.now()}`, tenantIds: [tenantA] }).expect(201)).body as { id: string };
    const subscribed = await entryOf('event-subscriber.create', subscriber.id);
    assert.equal(subscribed.tenantId, null);
    assert.deepEqual(subscribed.details?.['tenantIds'], [tenantA]);
    await ccm.api().delete(`/v1/event-subscribers/${subscriber.id}`).expect(204);
    await entryOf('event-subscriber.delete', subscriber.id);
  });

  test('EST enrollment is recorded under the enrollment credential it named, refused or not', async () => {
    const credential = (await ccm.api().post(`/v1/tenants/${tenantA}/enrollment-credentials`).send({ name: 'est-line' }).expect(201)).body as { id: string; secret: string };
    secrets.push(credential.secret);
    const key = await scratch.write('est.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const csrPem = (await openssl(['req', '-new', '-key', key, '-subj', '/CN=est-audited'])).stdout;
    const csrBase64 = csrPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    const enroll = (secret: string) =>
      ccm
        .api()
        .post(`/.well-known/est/${tenantA}/simpleenroll`)
        .set('authorization', `Basic ${Buffer.from(`${credential.id}:${secret}`).toString('base64')}`)
        .set('content-type', 'application/pkcs10')
        .send(csrBase64);

    await enroll(credential.secret).expect(200);
    const enrolled = (await entries({ action: 'est.enroll', outcome: 'succeeded' })).at(-1)!;
    assert.equal(enrolled.actor, `enrollment:${credential.id}`);
    assert.equal(enrolled.tenantId, tenantA);
    const certificate = (await ccm.api().get(`/v1/tenants/${tenantA}/certificates/${enrolled.targetId}`).expect(200)).body as { commonName: string; serialNumber: string };
    assert.equal(certificate.commonName, 'est-audited', 'the target is the certificate enrollment issued');
    assert.equal(enrolled.details?.['serialNumber'], certificate.serialNumber);

    const wrongSecret = `${credential.secret.slice(0, -1)}${credential.secret.endsWith('A') ? 'B' : 'A'}`;
    secrets.push(wrongSecret);
    await enroll(wrongSecret).expect(401);
    const refused = (await entries({ action: 'est.enroll', outcome: 'refused' })).at(-1)!;
    assert.deepEqual({ actor: refused.actor, reason: refused.reason, tenantId: refused.tenantId, targetId: refused.targetId }, { actor: `enrollment:${credential.id}`, reason: 'unauthorized', tenantId: tenantA, targetId: null });
  });

  test('authentication decisions are recorded: accepted with the certificate and its tenant, refused with why (certificate-revoked) and, when ccm knows it, whose', async () => {
    const certificate = await issue(tenantA, 'auth-audited');
    secrets.push(certificate.privateKeyPem!);
    const authenticate = (body: object) => ccm.api(brokerKey).post('/v1/authentications').send(body);
    await authenticate({ certificatePem: certificate.certificatePem }).expect(200);
    const accepted = await entryOf('device.authenticate', certificate.id);
    assert.deepEqual(
      { actor: accepted.actor, tenantId: accepted.tenantId, targetType: accepted.targetType, serialNumber: accepted.details?.['serialNumber'], deviceId: accepted.details?.['deviceId'] },
      { actor: `broker:${credentialIdOf(brokerKey)}`, tenantId: tenantA, targetType: 'certificate', serialNumber: certificate.serialNumber, deviceId: 'auth-audited' },
    );

    await ccm.api().post(`/v1/tenants/${tenantA}/certificates/${certificate.id}/revoke`).send({ reason: 'privilegeWithdrawn' }).expect(200);
    assert.equal((await authenticate({ certificatePem: certificate.certificatePem }).expect(403)).body.type, `${PROBLEM}certificate-revoked`);
    const refused = await entryOf('device.authenticate', certificate.id, 'refused');
    assert.deepEqual(
      { actor: refused.actor, tenantId: refused.tenantId, reason: refused.reason, serialNumber: refused.details?.['serialNumber'], revocationReason: refused.details?.['reason'] },
      { actor: `broker:${credentialIdOf(brokerKey)}`, tenantId: tenantA, reason: 'certificate-revoked', serialNumber: certificate.serialNumber, revocationReason: 'privilegeWithdrawn' },
    );

    // A certificate of no CA of ccm: refused, and no tenant to file it under.
    const foreignKey = await scratch.write('foreign.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const foreign = (await openssl(['req', '-x509', '-new', '-key', foreignKey, '-subj', '/CN=stranger', '-days', '1'])).stdout;
    await authenticate({ certificatePem: foreign }).expect(403);
    const untrusted = (await entries({ action: 'device.authenticate', outcome: 'refused' })).at(-1)!;
    assert.deepEqual({ reason: untrusted.reason, tenantId: untrusted.tenantId, targetId: untrusted.targetId }, { reason: 'untrusted-issuer', tenantId: null, targetId: null });
  });

  test('requests the access guard refuses on changing routes are recorded: 401 without a key (anonymous), 403 for a broker key, 404 for another tenant', async () => {
    await ccm.api().post('/v1/tenants').unset('authorization').send({ name: 'no-key' }).expect(401);
    const anonymous = (await entries({ action: 'tenant.create', outcome: 'refused' })).at(-1)!;
    assert.deepEqual({ actor: anonymous.actor, reason: anonymous.reason, tenantId: anonymous.tenantId }, { actor: 'anonymous', reason: 'unauthorized', tenantId: null });

    const badKey = `ccm_0190f0c2-0000-7000-8000-000000000000_${'Q'.repeat(21)}${'q'.repeat(22)}`;
    secrets.push(badKey);
    await ccm.api(badKey).post(`/v1/tenants/${tenantA}/certificates`).send({ commonName: 'nope' }).expect(401);
    const badKeyEntry = (await entries({ action: 'certificate.issue', outcome: 'refused' })).at(-1)!;
    assert.deepEqual({ actor: badKeyEntry.actor, reason: badKeyEntry.reason, tenantId: badKeyEntry.tenantId }, { actor: 'anonymous', reason: 'unauthorized', tenantId: tenantA }, 'filed under the tenant the path names');

    await ccm.api(brokerKey).post('/v1/tenants').send({ name: 'broker-tries' }).expect(403);
    const forbidden = (await entries({ action: 'tenant.create', outcome: 'refused' })).at(-1)!;
    assert.deepEqual({ actor: forbidden.actor, reason: forbidden.reason }, { actor: `broker:${credentialIdOf(brokerKey)}`, reason: 'forbidden' });

    const certificateB = await issue(tenantB, 'not-yours');
    await ccm.api(tenantKeyA).post(`/v1/tenants/${tenantB}/certificates/${certificateB.id}/revoke`).send({}).expect(404);
    const foreign = await entryOf('certificate.revoke', certificateB.id, 'refused');
    assert.deepEqual(
      { actor: foreign.actor, reason: foreign.reason, tenantId: foreign.tenantId },
      { actor: `tenant:${credentialIdOf(tenantKeyA)}`, reason: 'not-found', tenantId: tenantA },
      'filed under the key\'s own tenant: tenant B learns nothing of tenant A\'s keys',
    );

    // Reads change nothing and are not recorded, refused or not.
    const count = (await entries()).length;
    await ccm.api().get('/v1/tenants').unset('authorization').expect(401);
    await ccm.api(brokerKey).get('/v1/tenants').expect(403);
    assert.equal((await entries()).length, count);
  });

  test('a tenant key lists only its own tenant\'s entries, another tenant\'s id is 404; the filters and the cursor work', async () => {
    const certificate = await issue(tenantB, 'b-device');
    await ccm.api().post(`/v1/tenants/${tenantB}/certificates/${certificate.id}/suspend`).expect(200);

    const asTenantA = await entries({}, tenantKeyA);
    assert.ok(asTenantA.length > 5, `tenant A has entries (${asTenantA.length})`);
    assert.ok(asTenantA.every((e) => e.tenantId === tenantA), 'nothing of another tenant, nothing platform-wide');
    assert.deepEqual(await entries({ tenantId: tenantA }, tenantKeyA), asTenantA);
    const refused = await ccm.api(tenantKeyA).get('/v1/audit-log').query({ tenantId: tenantB }).expect(404);
    assert.equal(refused.body.type, `${PROBLEM}not-found`);
    await ccm.api(brokerKey).get('/v1/audit-log').expect(403);

    const ofB = await entries({ tenantId: tenantB });
    assert.ok(ofB.length > 0 && ofB.every((e) => e.tenantId === tenantB));
    assert.ok(ofB.some((e) => e.action === 'certificate.suspend' && e.targetId === certificate.id));

    const suspensions = await entries({ action: 'certificate.suspend' });
    assert.ok(suspensions.length >= 2 && suspensions.every((e) => e.action === 'certificate.suspend'));
    const refusals = await entries({ outcome: 'refused' });
    assert.ok(refusals.length >= 3 && refusals.every((e) => e.outcome === 'refused' && e.reason !== null));
    const aboutOne = await entries({ targetId: certificate.id });
    assert.deepEqual(aboutOne.map((e) => e.action), ['certificate.issue', 'certificate.suspend']);
    assert.deepEqual(await entries({ targetId: certificate.id, outcome: 'refused' }), []);

    // Oldest first; `after` resumes behind the last position seen, and an empty page keeps the cursor.
    const all = await entries();
    const positions = all.map((e) => Number(e.position));
    assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
    const first = (await ccm.api().get('/v1/audit-log').query({ limit: 2 }).expect(200)).body as { items: Entry[]; nextCursor: string };
    assert.deepEqual(first.items.map((e) => e.id), all.slice(0, 2).map((e) => e.id));
    const second = (await ccm.api().get('/v1/audit-log').query({ limit: 2, after: first.nextCursor }).expect(200)).body as { items: Entry[] };
    assert.deepEqual(second.items.map((e) => e.id), all.slice(2, 4).map((e) => e.id));
    const end = (await ccm.api().get('/v1/audit-log').query({ after: all.at(-1)!.position }).expect(200)).body as { items: Entry[]; nextCursor: string };
    assert.deepEqual(end, { items: [], nextCursor: all.at(-1)!.position });

    for (const query of [{ action: 'certificate.explode' }, { outcome: 'maybe' }, { targetId: 'not-an-id' }, { after: 'abc' }, { limit: '0' }, { extra: '1' }]) {
      assert.equal((await ccm.api().get('/v1/audit-log').query(query).expect(400)).body.type, `${PROBLEM}invalid-request`, JSON.stringify(query));
    }
  });

  test('the audit table, every column of every row, holds no private key, certificate, API key or enrollment secret', async () => {
    await ccm.auditWritten();
    const table = (await dumpAllRows(installation.database)).find((t) => t.table === 'audit_log');
    assert.ok(table && table.rows.length > 20, `the tests left entries (${table?.rows.length})`);
    const text = JSON.stringify(table.rows);
    assert.equal(text.includes('PRIVATE KEY'), false);
    assert.equal(text.includes('BEGIN CERTIFICATE'), false);
    assert.equal(text.includes('-----BEGIN'), false);
    assert.ok(secrets.length >= 8, 'the tests collected the keys and secrets they used');
    for (const secret of secrets) {
      assert.equal(text.includes(secret), false, 'a key or secret the tests used is in the audit table');
      // The secret part alone (an API key is ccm_<id>_<secret>), and the body of a PEM.
      const secretPart = secret.startsWith('ccm_') ? secret.split('_').slice(2).join('_') : secret.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '').slice(0, 64);
      assert.equal(text.includes(secretPart), false, 'a secret part is in the audit table');
    }
  });
});
