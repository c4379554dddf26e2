/**
 * The event feed's long polling (GET /v1/events?waitMs=), over HTTP on both
 * databases: a read with nothing after its cursor waits and is answered by
 * the next commit; the wait ends empty when it is up; another tenant's event
 * does not end a tenant-filtered wait; a reader that hangs up frees its wait;
 * the stop answers waiting readers at once (a SIGTERM is not held up by
 * them). On PostgreSQL, a read waiting on one replica is answered by an
 * event committed on another (LISTEN/NOTIFY). The relay's poll, which a wait
 * falls back on, is set to a minute throughout, so that only a wakeup can
 * answer within the bounds asserted here.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { OutboxWakeup } from '../../src/events/outbox-wakeup.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { assertValidEvent } from '../support/event-schema.js';
import { ServerProcess } from '../support/server-process.js';

const PROBLEM = 'urn:ccm:problem:';
const SLOW_POLL = { CCM_RELAY_POLL_MS: '60000' };
/** Far below the wait asked for and the fallback poll: an answer this soon came from a wakeup. */
const WOKEN_WITHIN_MS = 5000;

interface FeedPage {
  items: Array<{ position: string; type: string; certificateId: string | null; tenantId: string }>;
  nextCursor: string | null;
}

async function feedRead(ccm: CcmUnderTest, query: Record<string, string>): Promise<{ page: FeedPage; ms: number; status: number }> {
  const url = new URL('/v1/events', ccm.url);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  const started = performance.now();
  const response = await fetch(url, { headers: ccm.authorization() });
  const page = (await response.json()) as FeedPage;
  return { page, ms: performance.now() - started, status: response.status };
}

async function lastPosition(ccm: CcmUnderTest): Promise<string> {
  let after = '0';
  for (;;) {
    const { page } = await feedRead(ccm, { after, limit: '1000' });
    if (page.items.length === 0) return after;
    after = page.nextCursor!;
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

for (const database of ['postgres', 'sqlite'] as const) {
  describe(`event feed long polling (${database})`, () => {
    let installation: TestInstallation;
    let ccm: CcmUnderTest;
    let tenantId: string;
    let otherTenantId: string;

    const issue = async (tenant: string): Promise<string> => (await ccm.api().post(`/v1/tenants/${tenant}/certificates`).send({ commonName: `feed-${Date.now()}`, ttlSeconds: 3600 }).expect(201)).body.id;
    const suspend = (tenant: string, id: string) => ccm.api().post(`/v1/tenants/${tenant}/certificates/${id}/suspend`).send({}).expect(200);

    before(async () => {
      installation = await TestInstallation.create({ database, custody: 'local' }, SLOW_POLL);
      ccm = await installation.start();
      tenantId = (await ccm.api().post('/v1/tenants').send({ name: `feed-${database}-${Date.now()}` }).expect(201)).body.id;
      otherTenantId = (await ccm.api().post('/v1/tenants').send({ name: `feed-other-${database}-${Date.now()}` }).expect(201)).body.id;
    });

    after(async () => {
      await ccm?.close();
      await installation?.destroy();
    });

    test('a read with nothing after its cursor waits, and the next commit answers it with that event', async () => {
      const certificateId = await issue(tenantId);
      const cursor = await lastPosition(ccm);
      const waiting = feedRead(ccm, { after: cursor, waitMs: '25000' });
      await until(() => ccm.app.get(OutboxWakeup).readersWaiting === 1, 'the read waits');
      const suspendedAt = performance.now();
      await suspend(tenantId, certificateId);
      const { page, status } = await waiting;
      const answeredAfter = performance.now() - suspendedAt;
      assert.equal(status, 200);
      assert.equal(page.items.length, 1);
      assert.equal(page.items[0]!.type, 'certificate.suspended');
      assert.equal(page.items[0]!.certificateId, certificateId);
      assertValidEvent(page.items[0]);
      assert.equal(page.nextCursor, page.items[0]!.position);
      assert.ok(answeredAfter < WOKEN_WITHIN_MS, `answered ${Math.round(answeredAfter)} ms after the suspension`);
      assert.equal(ccm.app.get(OutboxWakeup).readersWaiting, 0);
    });

    test('a read with events after its cursor answers at once, waitMs or not', async () => {
      const { page, ms } = await feedRead(ccm, { after: '0', waitMs: '25000' });
      assert.ok(page.items.length > 0);
      assert.ok(ms < WOKEN_WITHIN_MS, `answered in ${Math.round(ms)} ms`);
    });

    test('when the wait is up with nothing committed, the page is empty and the cursor unchanged', async () => {
      const cursor = await lastPosition(ccm);
      const { page, ms, status } = await feedRead(ccm, { after: cursor, waitMs: '400' });
      assert.equal(status, 200);
      assert.deepEqual(page, { items: [], nextCursor: cursor });
      assert.ok(ms >= 380, `answered after ${Math.round(ms)} ms, before the wait was up`);
    });

    test("another tenant's event does not end a tenant-filtered wait; its own does", async () => {
      const mine = await issue(tenantId);
      const theirs = await issue(otherTenantId);
      const cursor = await lastPosition(ccm);
      let answered = false;
      const waiting = feedRead(ccm, { after: cursor, tenantId, waitMs: '25000' }).finally(() => (answered = true));
      await until(() => ccm.app.get(OutboxWakeup).readersWaiting === 1, 'the read waits');
      await suspend(otherTenantId, theirs);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(answered, false, "answered on another tenant's event");
      await suspend(tenantId, mine);
      const { page } = await waiting;
      assert.deepEqual(page.items.map((item) => [item.tenantId, item.certificateId]), [[tenantId, mine]]);
    });

    test('a reader that hangs up frees its wait at once', async () => {
      const cursor = await lastPosition(ccm);
      // A plain socket, closed outright: the hang-up of a client that goes away (fetch's abort lingers on the connection).
      const socket = connect(Number(new URL(ccm.url).port), '127.0.0.1');
      await once(socket, 'connect');
      socket.write(`GET /v1/events?after=${cursor}&waitMs=25000 HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${ccm.authorization().authorization}\r\n\r\n`);
      await until(() => ccm.app.get(OutboxWakeup).readersWaiting === 1, 'the read waits');
      socket.destroy();
      await until(() => ccm.app.get(OutboxWakeup).readersWaiting === 0, 'the wait is freed', 2000);
    });

    test('waitMs outside 0..30000 or not a number is refused with invalid-request, and nothing waits', async () => {
      for (const waitMs of ['30001', '-1', 'soon', '1.5']) {
        const response = await ccm.api().get('/v1/events').query({ waitMs }).expect(400);
        assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8');
        assert.equal(response.body.type, `${PROBLEM}invalid-request`, waitMs);
      }
      assert.equal(ccm.app.get(OutboxWakeup).readersWaiting, 0);
    });
  });
}

describe('event feed long polling across replicas (PostgreSQL)', () => {
  let installation: TestInstallation;
  let writer: CcmUnderTest;
  let reader: CcmUnderTest;

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' }, SLOW_POLL);
    writer = await installation.start();
    reader = await installation.start();
  });

  after(async () => {
    await reader?.close();
    await writer?.close();
    await installation?.destroy();
  });

  test("a read waiting on one replica is answered by an event committed on another, at once, not at the next poll", async () => {
    const tenantId = (await writer.api().post('/v1/tenants').send({ name: `replicas-${Date.now()}` }).expect(201)).body.id;
    const certificateId = (await writer.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName: 'across', ttlSeconds: 3600 }).expect(201)).body.id;
    const cursor = await lastPosition(reader);
    const waiting = feedRead(reader, { after: cursor, waitMs: '25000' });
    await until(() => reader.app.get(OutboxWakeup).readersWaiting === 1, 'the read waits on the reader replica');
    const suspendedAt = performance.now();
    await writer.api().post(`/v1/tenants/${tenantId}/certificates/${certificateId}/suspend`).send({}).expect(200);
    const { page } = await waiting;
    const answeredAfter = performance.now() - suspendedAt;
    assert.deepEqual(page.items.map((item) => [item.type, item.certificateId]), [['certificate.suspended', certificateId]]);
    assert.ok(answeredAfter < WOKEN_WITHIN_MS, `answered ${Math.round(answeredAfter)} ms after the suspension on the other replica`);
  });
});

describe('event feed long polling and the orderly stop', () => {
  test('SIGTERM answers a waiting read at once with an empty page and the process exits 0 without waiting it out', async () => {
    const installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' }, { ...SLOW_POLL, CCM_SHUTDOWN_GRACE_MS: '20000' });
    const server = await ServerProcess.ccm(installation.env);
    try {
      const headers = { authorization: `Bearer ${installation.adminKey}` };
      const latest = (await (await fetch(`${server.url}/v1/events?limit=1000`, { headers })).json()) as FeedPage;
      const after = latest.nextCursor ?? '0';
      const started = performance.now();
      const waiting = fetch(`${server.url}/v1/events?after=${after}&waitMs=30000`, { headers });
      await new Promise((resolve) => setTimeout(resolve, 500));
      server.signal('SIGTERM');
      const response = await waiting;
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { items: [], nextCursor: after });
      assert.equal(await server.exited(), 0);
      const took = performance.now() - started;
      assert.ok(took < 10_000, `the stop took ${Math.round(took)} ms with a read that asked to wait 30 s (grace 20 s)`);
    } finally {
      await server.stop();
      await installation.destroy();
    }
  });
});
