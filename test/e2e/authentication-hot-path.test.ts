/**
 * Device authentication under load, on PostgreSQL and SQLite: the audit
 * entries of concurrent decisions are batched off the request path yet all
 * written (one per decision, fewer INSERTs than entries, nothing lost on an
 * orderly stop), and what is cached on the way (CA material, keys, prepared
 * lookups, batched lookups on PostgreSQL) never hides a state change: a
 * suspension or revocation is refused at the very next authentication, by
 * PEM and by issuer and serial, with other authentications in flight.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuditLog } from '../../src/audit/audit-log.js';
import { TestInstallation, type CcmUnderTest, type DatabaseKind } from '../support/ccm-under-test.js';

const PROBLEM = 'urn:ccm:problem:';

interface Issued {
  id: string;
  serialNumber: string;
  certificatePem: string;
}

for (const database of ['postgres', 'sqlite'] as const satisfies readonly DatabaseKind[]) {
  describe(`authentication hot path on ${database}`, () => {
    let installation: TestInstallation;
    let ccm: CcmUnderTest;
    let tenantId: string;
    let issuer: string;
    let brokerKey: string;

    before(async () => {
      // The default limit (2,000/s, burst 4,000) is far above what these tests send; set anyway so no 429 can hide a result.
      installation = await TestInstallation.create({ database, custody: 'local' }, { CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND: '1000000', CCM_RATE_LIMIT_AUTHENTICATION_BURST: '1000000' });
      ccm = await installation.start();
      tenantId = (await ccm.api().post('/v1/tenants').send({ name: `hot-path-${Date.now()}` }).expect(201)).body.id;
      const authorities = (await ccm.api().get(`/v1/tenants/${tenantId}/authorities`).expect(200)).body as { items: { kind: string; subject: string }[] };
      issuer = authorities.items.find((authority) => authority.kind === 'tenant-root')!.subject;
      brokerKey = await ccm.createApiKey('broker');
    });

    after(async () => {
      await ccm?.close();
      await installation?.destroy();
    });

    const issue = async (commonName: string): Promise<Issued> => (await ccm.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName, ttlSeconds: 3600 }).expect(201)).body;
    const authenticate = (body: object) => fetch(`${ccm.url}/v1/authentications`, { method: 'POST', headers: { ...ccm.authorization(brokerKey), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const byPem = (certificate: Issued) => authenticate({ certificatePem: certificate.certificatePem });
    const bySerial = (certificate: Issued) => authenticate({ issuer, serialNumber: certificate.serialNumber });
    const typeOf = async (response: Response) => ((await response.json()) as { type?: string }).type;
    const entriesAbout = async (ids: readonly string[]) =>
      Number(
        (await installation.database.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM audit_log WHERE action = 'device.authenticate' AND target_id IN (${ids.map((id) => `'${id}'`).join(', ')})`))[0]!.n,
      );

    test('200 concurrent authentications leave exactly 200 audit entries once flushed, written in fewer INSERTs than entries', async () => {
      const certificates = await Promise.all(Array.from({ length: 4 }, (_, i) => issue(`burst-${i}`)));
      // First use activates; every authentication below is then a repeat use.
      for (const certificate of certificates) assert.equal((await byPem(certificate)).status, 200);
      const audit = ccm.app.get(AuditLog);
      await ccm.auditWritten();
      const before = audit.writes;
      const entriesBefore = await entriesAbout(certificates.map((c) => c.id));

      const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? byPem : bySerial)(certificates[i % certificates.length]!)));
      assert.deepEqual([...new Set(responses.map((response) => response.status))], [200]);
      await ccm.auditWritten();

      assert.equal((await entriesAbout(certificates.map((c) => c.id))) - entriesBefore, 200);
      const written = audit.writes;
      assert.equal(written.entries - before.entries, 200);
      assert.equal(written.lost, 0);
      assert.ok(written.batches - before.batches < 200, `200 entries went out in ${written.batches - before.batches} INSERTs`);
    });

    test('a suspension after many authentications (everything cached that may be) is refused at the next one, by PEM and by issuer and serial, with others in flight', async () => {
      const device = await issue('suspended-soon');
      const bystander = await issue('bystander');
      for (let i = 0; i < 20; i++) {
        assert.equal((await byPem(device)).status, 200);
        assert.equal((await bySerial(device)).status, 200);
      }
      await ccm.api().post(`/v1/tenants/${tenantId}/certificates/${device.id}/suspend`).send({}).expect(200);
      // Lookups of the bystander in flight at the same time, so that on PostgreSQL the device's share a batch with them.
      const [pem, serial, ...others] = await Promise.all([byPem(device), bySerial(device), ...Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? byPem : bySerial)(bystander))]);
      assert.deepEqual([pem.status, await typeOf(pem)], [403, `${PROBLEM}certificate-suspended`]);
      assert.deepEqual([serial.status, await typeOf(serial)], [403, `${PROBLEM}certificate-suspended`]);
      assert.deepEqual([...new Set(others.map((response) => response.status))], [200]);

      await ccm.api().post(`/v1/tenants/${tenantId}/certificates/${device.id}/reactivate`).send({}).expect(200);
      assert.equal((await byPem(device)).status, 200);
      assert.equal((await bySerial(device)).status, 200);

      await ccm.api().post(`/v1/tenants/${tenantId}/certificates/${device.id}/revoke`).send({ reason: 'keyCompromise' }).expect(200);
      for (const response of [await byPem(device), await bySerial(device)]) assert.deepEqual([response.status, await typeOf(response)], [403, `${PROBLEM}certificate-revoked`]);
    });

    test('an orderly stop writes every entry recorded before it (no flush asked for)', async () => {
      const replica = await installation.start();
      const certificate = await issue('before-stop');
      const call = () => fetch(`${replica.url}/v1/authentications`, { method: 'POST', headers: { ...replica.authorization(brokerKey), 'content-type': 'application/json' }, body: JSON.stringify({ certificatePem: certificate.certificatePem }) });
      const statuses = (await Promise.all(Array.from({ length: 50 }, call))).map((response) => response.status);
      assert.deepEqual([...new Set(statuses)], [200]);
      await replica.close();
      assert.equal(await entriesAbout([certificate.id]), 50);
    });
  });
}
