/**
 * Events from the outbox to BullMQ on the real Redis: every subscriber gets
 * every event (or its tenants' only), in commit order, exactly once; while
 * Redis is unreachable the API keeps working and the events wait, then all
 * arrive, none twice. Consumed with a plain BullMQ Worker, as a broker would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Queue, Worker } from 'bullmq';
import type { CcmEvent } from '@ccm/event-consumer/contract';
import { BullmqEventPublisher } from '../../src/events/bullmq-event-publisher.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { assertValidEvent } from '../support/event-schema.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const REDIS = { host: '127.0.0.1', port: 6379 };

/** Collects what a BullMQ worker receives, in processing order. */
class Collector {
  readonly received: CcmEvent[] = [];
  readonly worker: Worker;

  constructor(readonly queue: string) {
    this.worker = new Worker(queue, async (job) => void this.received.push(job.data as CcmEvent), { connection: { ...REDIS, maxRetriesPerRequest: null }, concurrency: 1 });
  }

  async until(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`${this.queue}: ${this.received.length} of ${count} events after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    await this.worker.close();
    const queue = new Queue(this.queue, { connection: REDIS });
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

describe('event relay to BullMQ on Redis (PostgreSQL)', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let proxy: TcpProxy;
  let tenantA: string;
  let tenantB: string;
  let everything: Collector;
  let onlyA: Collector;

  before(async () => {
    proxy = new TcpProxy(REDIS.host, REDIS.port);
    await proxy.start();
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' }, { CCM_REDIS_URL: `redis://${proxy.address}`, CCM_RELAY_POLL_MS: '100' });
    ccm = await installation.start();
    tenantA = (await ccm.api().post('/v1/tenants').send({ name: `relay-a-${Date.now()}` }).expect(201)).body.id;
    tenantB = (await ccm.api().post('/v1/tenants').send({ name: `relay-b-${Date.now()}` }).expect(201)).body.id;
    const all = (await ccm.api().post('/v1/event-subscribers').send({ name: `all-${Date.now()}` }).expect(201)).body;
    const a = (await ccm.api().post('/v1/event-subscribers').send({ name: `only-a-${Date.now()}`, tenantIds: [tenantA] }).expect(201)).body;
    assert.equal(all.queue, `ccm-events-${all.id}`);
    everything = new Collector(all.queue);
    onlyA = new Collector(a.queue);
  });

  after(async () => {
    await everything?.close();
    await onlyA?.close();
    await ccm?.close();
    await installation?.destroy();
    await proxy?.stop();
  });

  const issue = async (tenantId: string, commonName: string): Promise<string> =>
    (await ccm.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName, ttlSeconds: 3600 }).expect(201)).body.id;
  const act = (tenantId: string, id: string, action: string) => ccm.api().post(`/v1/tenants/${tenantId}/certificates/${id}/${action}`).send({}).expect(200);

  test('each subscriber receives every event it asked for, in commit order, once, matching the schema', async () => {
    const a1 = await issue(tenantA, 'a1');
    const b1 = await issue(tenantB, 'b1');
    for (const [tenant, id] of [[tenantA, a1], [tenantB, b1]] as const) {
      await act(tenant, id, 'suspend');
      await act(tenant, id, 'reactivate');
    }
    await act(tenantA, a1, 'revoke');
    const feed = await allEvents(ccm);
    await everything.until(feed.length);
    await onlyA.until(feed.filter((e) => e.tenantId === tenantA).length);
    await new Promise((resolve) => setTimeout(resolve, 300)); // nothing more may trickle in
    assert.deepEqual(everything.received.map((e) => e.id), feed.map((e) => e.id));
    assert.deepEqual(onlyA.received.map((e) => e.id), feed.filter((e) => e.tenantId === tenantA).map((e) => e.id));
    for (const event of everything.received) assertValidEvent(event);
    // Each job carries the event's outbox position, as the feed serves it: consumers order one certificate's events by it.
    assert.deepEqual(everything.received.map((e) => (e as CcmEvent & { position?: string }).position), feed.map((e) => (e as { position: string }).position));
  });

  test('with Redis unreachable the API keeps working; when it returns every event arrives once, in order', async () => {
    const ids = await Promise.all(['o1', 'o2', 'o3', 'o4', 'o5'].map((cn) => issue(tenantA, cn)));
    const seen = everything.received.length;
    await proxy.stop();
    for (let round = 0; round < 3; round++) {
      for (const id of ids) {
        await act(tenantA, id, 'suspend');
        await act(tenantA, id, 'reactivate');
      }
    }
    await act(tenantA, ids[0]!, 'revoke');
    const feed = await allEvents(ccm);
    const waiting = feed.length - seen;
    assert.equal(waiting, 31);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(everything.received.length, seen, 'nothing got through while Redis was away');
    const subscriber = (await ccm.api().get('/v1/event-subscribers').expect(200)).body.find((s: { queue: string }) => s.queue === everything.queue);
    assert.ok(Number(subscriber.deliveredPosition) < Number(feed[feed.length - 1]!.position), 'the outbox holds them');

    await proxy.start();
    await everything.until(feed.length, 20_000);
    await onlyA.until(feed.filter((e) => e.tenantId === tenantA).length, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(everything.received.map((e) => e.id), feed.map((e) => e.id), 'all of them, once each, in commit order');
    assert.deepEqual(onlyA.received.map((e) => e.id), feed.filter((e) => e.tenantId === tenantA).map((e) => e.id));
  });

  test('publishing the same events again (a relay replay) adds no duplicate jobs', async () => {
    const queueName = `ccm-events-replay-${Date.now()}`;
    const publisher = new BullmqEventPublisher(`redis://${REDIS.host}:${REDIS.port}`);
    const queue = new Queue(queueName, { connection: REDIS });
    try {
      const events = ((await allEvents(ccm)).slice(0, 5) as unknown as Array<CcmEvent & { position: string }>).map(({ position, ...event }) => ({ position: Number(position), event: event as CcmEvent }));
      await waitFor(async () => (await publisher.publish(queueName, events).then(() => true, () => false)));
      await publisher.publish(queueName, events);
      await publisher.publish(queueName, events.slice(2));
      const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'delayed', 'failed');
      assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 5);
    } finally {
      await publisher.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});

async function allEvents(ccm: CcmUnderTest): Promise<(CcmEvent & { position: string })[]> {
  return (await ccm.api().get('/v1/events').query({ limit: 1000 }).expect(200)).body.items;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
