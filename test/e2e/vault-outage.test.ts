/**
 * ccm over HTTP with Vault custody while Vault is sealed and while it is
 * stopped: issuance answers 503 problem+json (custody-unavailable) and
 * leaves no certificate and no event behind, the process keeps serving,
 * and issuance works again once Vault is back. On SQLite: the database is
 * not what this is about.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { readWholeFeed } from '../support/event-feed.js';

const PROBLEM = 'urn:ccm:problem:';

describe('issuance while Vault is sealed or unreachable', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let tenantId = '';
  let vaultToken = '';

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'vault' });
    vaultToken = installation.env['CCM_VAULT_TOKEN']!;
    ccm = await installation.start();
    tenantId = (await ccm.api().post('/v1/tenants').send({ name: `outage-${Date.now()}` }).expect(201)).body.id;
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
  });

  const issue = (commonName: string) => ccm.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName, ttlSeconds: 3600 });
  const certificates = async (): Promise<string[]> => (await ccm.api().get(`/v1/tenants/${tenantId}/certificates`).expect(200)).body.items.map((c: { id: string }) => c.id);
  const feedLength = async (): Promise<number> => (await readWholeFeed(ccm)).length;

  /** Issuance is refused with 503 custody-unavailable, stores nothing, queues no event, and ccm still answers. */
  async function refusedWithoutTrace(commonName: string): Promise<void> {
    const before = { certificates: await certificates(), events: await feedLength() };
    const response = await issue(commonName);
    assert.equal(response.status, 503, response.text);
    assert.match(response.headers['content-type']!, /^application\/problem\+json/);
    assert.equal(response.body.type, `${PROBLEM}custody-unavailable`);
    assert.equal(response.body.status, 503);
    assert.ok(!response.text.includes(vaultToken), 'no Vault token in the problem');
    assert.deepEqual(await certificates(), before.certificates, 'no certificate stored');
    assert.equal(await feedLength(), before.events, 'no event queued');
    // Still serving: a read that needs no custody answers.
    await ccm.api().get(`/v1/tenants/${tenantId}`).expect(200);
  }

  test('a sealed Vault: 503 custody-unavailable without trace, and issuance works again after unseal', async () => {
    await issue('before-seal').expect(201);
    installation.vault!.seal();
    try {
      await refusedWithoutTrace('while-sealed');
      await refusedWithoutTrace('while-still-sealed');
    } finally {
      installation.vault!.unseal();
    }
    const issued = (await issue('after-unseal').expect(201)).body;
    assert.ok((await certificates()).includes(issued.id));
  });

  test('an unreachable Vault: 503 custody-unavailable without trace, and issuance works again once it is back', async () => {
    await installation.vault!.stop();
    try {
      await refusedWithoutTrace('while-stopped');
    } finally {
      // The same port: ccm's configuration still points there.
      await installation.vault!.start();
    }
    const issued = (await issue('after-restart').expect(201)).body;
    assert.ok((await certificates()).includes(issued.id));
  });
});
