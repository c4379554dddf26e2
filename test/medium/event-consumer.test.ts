/**
 * The consumer library against the real Redis on 127.0.0.1:6379 (BullMQ
 * queues with unique names, obliterated afterwards) and against a small HTTP
 * server standing in for ccm's GET /v1/events: delivery, acknowledgement,
 * retries with backoff, refusal of payloads that are not events, order, and
 * a clean close.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Queue, type JobsOptions } from 'bullmq';
import { assertValidEvent } from '../support/event-schema.js';
import { CcmEventConsumer, FileCursorStore, HttpEventFeedConsumer, InvalidCcmEventError, parseCcmEvent, UnsupportedSchemaVersionError, type CcmEvent } from '@ccm/event-consumer';
import { BullmqEventPublisher } from '../../src/events/bullmq-event-publisher.js';
import { subscriberQueueName } from '@ccm/event-consumer/contract';

const REDIS_URL = process.env['CCM_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
/** ccm's job options with a short backoff so retries happen within the test. */
const FAST_RETRY: JobsOptions = { attempts: 3, backoff: { type: 'fixed', delay: 50 } };

function sampleEvent(overrides: Partial<CcmEvent> = {}): CcmEvent {
  return {
    schemaVersion: 1,
    id: randomUUID(),
    type: 'certificate.suspended',
    time: new Date().toISOString(),
    tenantId: randomUUID(),
    authorityId: randomUUID(),
    certificateId: randomUUID(),
    serialNumber: '7f3a09c1',
    fingerprintSha256: 'ab'.repeat(32),
    commonName: 'sensor-0042',
    issuer: 'CN=tenant root CA',
    reason: 'certificateHold',
    state: 'suspended',
    ...overrides,
  };
}

function until<T>(predicate: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const value = predicate();
      if (value) return resolve(value);
      if (Date.now() > deadline) return reject(new Error('timed out waiting for a condition'));
      setTimeout(check, 10);
    };
    check();
  });
}

describe('event validation', () => {
  test('a v1 event passes and keeps only contract fields', () => {
    const event = parseCcmEvent({ ...sampleEvent(), extra: 'ignored' });
    assert.equal('extra' in event, false);
    assert.equal(event.reason, 'certificateHold');
  });

  test('an authority.revoked event has a null certificateId', () => {
    const event = parseCcmEvent(sampleEvent({ type: 'authority.revoked', certificateId: null, reason: 'keyCompromise', state: 'revoked', revokedCertificates: 3 }));
    assert.equal(event.certificateId, null);
    assert.equal(event.revokedCertificates, 3);
  });

  test('rollover events: rolled-over names the root it replaced, retired leaves the CA retired; both agree with the JSON Schema', () => {
    const previousAuthorityId = randomUUID();
    const rolledOver = sampleEvent({ type: 'authority.rolled-over', certificateId: null, reason: null, state: 'active', previousAuthorityId });
    assert.equal(parseCcmEvent(rolledOver).previousAuthorityId, previousAuthorityId);
    assertValidEvent(rolledOver);
    const published = sampleEvent({ type: 'authority.published', certificateId: null, reason: null, state: 'published' });
    assert.equal(parseCcmEvent(published).state, 'published');
    assertValidEvent(published);
    const retired = sampleEvent({ type: 'authority.retired', certificateId: null, reason: null, state: 'retired' });
    assert.equal(parseCcmEvent(retired).state, 'retired');
    assertValidEvent(retired);
    // What the library refuses, the schema refuses too.
    for (const [bad, problem] of [
      [{ ...rolledOver, previousAuthorityId: undefined }, /previousAuthorityId must be a UUID/],
      [{ ...rolledOver, certificateId: randomUUID() }, /certificateId must be null on authority.rolled-over/],
      [{ ...retired, state: 'revoked' }, /state must be retired on authority.retired/],
      [sampleEvent({ type: 'certificate.revoked', reason: 'superseded', state: 'retired' }), /state retired is only for authority events/],
      [sampleEvent({ type: 'authority.published', certificateId: null, reason: null, state: 'active' }), /state must be published on authority.published/],
    ] as const) {
      assert.throws(() => parseCcmEvent(bad), problem);
      assert.throws(() => assertValidEvent(bad), /does not match the v1 schema/);
    }
  });

  test('a newer schemaVersion is refused as unsupported', () => {
    assert.throws(() => parseCcmEvent({ ...sampleEvent(), schemaVersion: 2 }), UnsupportedSchemaVersionError);
  });

  test('every malformed field is named', () => {
    assert.throws(
      () => parseCcmEvent({ ...sampleEvent(), type: 'certificate.exploded', serialNumber: 'XYZ', reason: 'bored', certificateId: 7 }),
      (error: unknown) => error instanceof InvalidCcmEventError && ['type', 'serialNumber', 'reason', 'certificateId'].every((field) => error.problems.some((p) => p.startsWith(field))),
    );
  });

  test('a suspension without a reason is refused', () => {
    assert.throws(() => parseCcmEvent(sampleEvent({ reason: null })), /reason is required/);
  });
});

describe('CcmEventConsumer on BullMQ', () => {
  const queues: Queue[] = [];
  const consumers: CcmEventConsumer[] = [];

  function queueFor(subscriberId: string): Queue {
    const queue = new Queue(subscriberQueueName(subscriberId), { connection: { url: REDIS_URL } });
    queues.push(queue);
    return queue;
  }

  async function startConsumer(subscriberId: string, handler: (event: CcmEvent, attempt: number) => Promise<void>, extra: Partial<ConstructorParameters<typeof CcmEventConsumer>[0]> = {}): Promise<CcmEventConsumer> {
    const consumer = new CcmEventConsumer({ redis: REDIS_URL, subscriberId, handler: (event, delivery) => handler(event, delivery.attempt), ...extra });
    consumers.push(consumer);
    await consumer.start();
    return consumer;
  }

  after(async () => {
    await Promise.allSettled(consumers.map((c) => c.close()));
    for (const queue of queues) {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  });

  test('an event published by ccm\'s publisher reaches the handler, with its outbox position, and is acknowledged', async () => {
    const subscriberId = randomUUID();
    const queue = queueFor(subscriberId);
    const received: CcmEvent[] = [];
    const positions: Array<string | undefined> = [];
    const consumer = new CcmEventConsumer({ redis: REDIS_URL, subscriberId, handler: async (event, delivery) => void (received.push(event), positions.push(delivery.position)) });
    consumers.push(consumer);
    await consumer.start();
    const event = sampleEvent();
    const publisher = new BullmqEventPublisher(REDIS_URL);
    try {
      await until(() => (publisher as unknown as { connection: { status: string } }).connection.status === 'ready');
      await publisher.publish(subscriberQueueName(subscriberId), [{ position: 4711, event }]);
    } finally {
      await publisher.close();
    }
    await until(() => received.length === 1);
    // The handler gets the contract's fields only; the position comes with the delivery.
    assert.deepEqual(received[0], event);
    assert.deepEqual(positions, ['4711']);
    assert.equal(await waitForState(queue, event.id, 'completed'), 'completed');
  });

  test('a handler that throws is retried with the job\'s backoff until it succeeds', async () => {
    const subscriberId = randomUUID();
    const queue = queueFor(subscriberId);
    const attempts: number[] = [];
    const failures: Array<{ attempt: number; willRetry: boolean }> = [];
    await startConsumer(
      subscriberId,
      async (_event, attempt) => {
        attempts.push(attempt);
        if (attempt < 3) throw new Error(`transient failure ${attempt}`);
      },
      { observer: { handlerFailed: (_event, _error, delivery, willRetry) => failures.push({ attempt: delivery.attempt, willRetry }) } },
    );
    const event = sampleEvent();
    await queue.add(event.type, event, { ...FAST_RETRY, jobId: event.id });
    assert.equal(await waitForState(queue, event.id, 'completed'), 'completed');
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(failures, [
      { attempt: 1, willRetry: true },
      { attempt: 2, willRetry: true },
    ]);
  });

  test('an event whose attempts run out stays in the failed set and is reported as final', async () => {
    const subscriberId = randomUUID();
    const queue = queueFor(subscriberId);
    const failures: boolean[] = [];
    await startConsumer(
      subscriberId,
      async () => {
        throw new Error('broker unreachable');
      },
      { observer: { handlerFailed: (_e, _err, _d, willRetry) => failures.push(willRetry) } },
    );
    const event = sampleEvent();
    await queue.add(event.type, event, { ...FAST_RETRY, jobId: event.id });
    assert.equal(await waitForState(queue, event.id, 'failed'), 'failed');
    await until(() => failures.length === 3);
    assert.deepEqual(failures, [true, true, false]);
  });

  test('a payload that is not a ccm event is failed at once, without calling the handler or retrying', async () => {
    const subscriberId = randomUUID();
    const queue = queueFor(subscriberId);
    let handled = 0;
    const rejected: string[] = [];
    await startConsumer(
      subscriberId,
      async () => {
        handled += 1;
      },
      { observer: { rejected: (jobId) => rejected.push(jobId) } },
    );
    const bad = { ...sampleEvent(), schemaVersion: 2 };
    await queue.add('certificate.suspended', bad, { ...FAST_RETRY, jobId: bad.id });
    assert.equal(await waitForState(queue, bad.id, 'failed'), 'failed');
    const job = await queue.getJob(bad.id);
    assert.equal(job?.attemptsMade, 1);
    assert.match(job?.failedReason ?? '', /schemaVersion 2 is not supported/);
    assert.equal(handled, 0);
    assert.deepEqual(rejected, [bad.id]);
  });

  test('events are handled one at a time, in the order they were published', async () => {
    const subscriberId = randomUUID();
    const queue = queueFor(subscriberId);
    const order: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    await startConsumer(subscriberId, async (event) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(event.id);
      inFlight -= 1;
    });
    const events = Array.from({ length: 25 }, () => sampleEvent());
    await queue.addBulk(events.map((event) => ({ name: event.type, data: event, opts: { ...FAST_RETRY, jobId: event.id } })));
    await until(() => order.length === events.length);
    assert.deepEqual(order, events.map((e) => e.id));
    assert.equal(maxInFlight, 1);
  });

  test('close waits for the event in hand, then stops taking events; a second close is harmless', async () => {
    const subscriberId = randomUUID();
    const queue = queueFor(subscriberId);
    let finished = 0;
    let started = 0;
    const consumer = await startConsumer(subscriberId, async () => {
      started += 1;
      await new Promise((resolve) => setTimeout(resolve, 300));
      finished += 1;
    });
    const first = sampleEvent();
    await queue.add(first.type, first, { ...FAST_RETRY, jobId: first.id });
    await until(() => started === 1);
    await consumer.close();
    assert.equal(finished, 1);
    await consumer.close();
    const second = sampleEvent();
    await queue.add(second.type, second, { ...FAST_RETRY, jobId: second.id });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(started, 1);
    assert.equal(await queue.getJobState(second.id), 'waiting');
    assert.equal(await queue.getJobState(first.id), 'completed');
  });

  test('a concurrency below 1 is refused at construction', () => {
    assert.throws(() => new CcmEventConsumer({ redis: REDIS_URL, subscriberId: 'x', handler: async () => undefined, concurrency: 0 }), /concurrency/);
  });

  test('several workers share the concurrency and handle every event once; close stops them all', async () => {
    const subscriberId = randomUUID();
    const queue = queueFor(subscriberId);
    const seen = new Map<string, number>();
    let inFlight = 0;
    let maxInFlight = 0;
    const consumer = await startConsumer(
      subscriberId,
      async (event) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        seen.set(event.id, (seen.get(event.id) ?? 0) + 1);
        inFlight -= 1;
      },
      { concurrency: 6, workers: 3 },
    );
    const events = Array.from({ length: 40 }, () => sampleEvent());
    await queue.addBulk(events.map((event) => ({ name: event.type, data: event, opts: { ...FAST_RETRY, jobId: event.id } })));
    await until(() => seen.size === events.length);
    assert.ok([...seen.values()].every((count) => count === 1));
    assert.ok(maxInFlight > 1 && maxInFlight <= 6, `at most the concurrency in flight (saw ${maxInFlight})`);
    await consumer.close();
    const late = sampleEvent();
    await queue.add(late.type, late, { ...FAST_RETRY, jobId: late.id });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await queue.getJobState(late.id), 'waiting');
  });

  test('read-ahead: events waiting behind those in hand are handled before BullMQ hands them out, each once, and acknowledged', async () => {
    const subscriberId = randomUUID();
    const queue = queueFor(subscriberId);
    const events = Array.from({ length: 12 }, () => sampleEvent());
    const started = new Map<string, number>();
    // Each handler finishes only once all have started, two at a time at most by BullMQ: without read-ahead this never happens.
    await startConsumer(
      subscriberId,
      async (event) => {
        started.set(event.id, (started.get(event.id) ?? 0) + 1);
        await until(() => started.size === events.length, 5000);
      },
      { concurrency: 2, readAhead: 32 },
    );
    await queue.addBulk(events.map((event) => ({ name: event.type, data: event, opts: { ...FAST_RETRY, jobId: event.id } })));
    for (const event of events) assert.equal(await waitForState(queue, event.id, 'completed'), 'completed', event.id);
    assert.deepEqual([...started.values()], events.map(() => 1));
  });

  test('read-ahead: a job is acknowledged only when its early handling ends, and one whose early handling failed is handled again', async () => {
    const subscriberId = randomUUID();
    const queue = queueFor(subscriberId);
    const [held, trigger, slow, failing] = [sampleEvent(), sampleEvent(), sampleEvent(), sampleEvent()];
    const calls: string[] = [];
    const callsOf = (event: CcmEvent): number => calls.filter((id) => id === event.id).length;
    let releaseHeld!: () => void;
    const heldGate = new Promise<void>((resolve) => (releaseHeld = resolve));
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
    await startConsumer(
      subscriberId,
      async (event) => {
        calls.push(event.id);
        if (event.id === held.id) await heldGate;
        // Both of BullMQ's slots stay busy until slow and failing were started by the read-ahead that taking this one began.
        if (event.id === trigger.id) await until(() => callsOf(slow) === 1 && callsOf(failing) === 1, 5000);
        if (event.id === slow.id) await slowGate;
        if (event.id === failing.id && callsOf(failing) === 1) throw new Error('broker busy');
      },
      { concurrency: 2, readAhead: 8 },
    );
    await queue.add(held.type, held, { ...FAST_RETRY, jobId: held.id });
    await until(() => callsOf(held) === 1);
    await queue.addBulk([trigger, slow, failing].map((event) => ({ name: event.type, data: event, opts: { ...FAST_RETRY, jobId: event.id } })));
    assert.equal(await waitForState(queue, trigger.id, 'completed'), 'completed');
    assert.equal(await queue.getJobState(failing.id), 'waiting');
    releaseHeld();
    // The slow one's own attempt waits for its early handling: taken, not acknowledged.
    assert.equal(await waitForState(queue, slow.id, 'active'), 'active');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await queue.getJobState(slow.id), 'active');
    releaseSlow();
    assert.equal(await waitForState(queue, slow.id, 'completed'), 'completed');
    assert.equal(await waitForState(queue, failing.id, 'completed'), 'completed');
    // The failed early handling cost no BullMQ retry: the job's first attempt handled the event again.
    assert.equal((await queue.getJob(failing.id))?.attemptsMade, 1);
    assert.equal(callsOf(slow), 1);
    assert.equal(callsOf(failing), 2);
  });

  test('read-ahead below 0 is refused at construction', () => {
    assert.throws(() => new CcmEventConsumer({ redis: REDIS_URL, subscriberId: 'x', handler: async () => undefined, readAhead: -1 }), /readAhead/);
  });

  test('more workers than the concurrency is refused at construction', () => {
    assert.throws(() => new CcmEventConsumer({ redis: REDIS_URL, subscriberId: 'x', handler: async () => undefined, concurrency: 2, workers: 3 }), /workers/);
  });
});

async function waitForState(queue: Queue, jobId: string, wanted: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let state = '';
  while (Date.now() < deadline) {
    state = await queue.getJobState(jobId);
    if (state === wanted) return state;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return state;
}

/**
 * A stand-in for ccm's GET /v1/events: positions 1..n, `after` exclusive,
 * `limit` honoured. With `longPoll`, it honours `waitMs` as ccm does (an
 * empty page waits for add()); without, it answers at once, as a ccm that
 * does not wait would.
 */
class FakeEventFeed {
  readonly events: Array<CcmEvent & { position: string }> = [];
  readonly requests: URL[] = [];
  failNext = 0;
  longPoll = false;
  private server: Server | null = null;
  private readonly waiting = new Set<() => void>();

  add(event: CcmEvent): void {
    this.events.push({ ...event, position: String(this.events.length + 1) });
    for (const wake of [...this.waiting]) wake();
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://feed');
      this.requests.push(url);
      if (this.failNext > 0) {
        this.failNext -= 1;
        res.writeHead(503, { 'content-type': 'application/problem+json' }).end('{"title":"unavailable"}');
        return;
      }
      const after = Number(url.searchParams.get('after') ?? '0');
      const limit = Number(url.searchParams.get('limit') ?? '100');
      const tenantId = url.searchParams.get('tenantId');
      const page = () => this.events.filter((e) => Number(e.position) > after && (!tenantId || e.tenantId === tenantId)).slice(0, limit);
      const answer = (): void => {
        const items = page();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items, nextCursor: items.length === limit ? items.at(-1)!.position : null }));
      };
      const waitMs = Number(url.searchParams.get('waitMs') ?? '0');
      if (!this.longPoll || waitMs === 0 || page().length > 0) return answer();
      const done = (): void => {
        if (page().length === 0 && Date.now() < deadline) return;
        clearTimeout(timer);
        this.waiting.delete(done);
        answer();
      };
      const deadline = Date.now() + waitMs;
      const timer = setTimeout(done, waitMs);
      this.waiting.add(done);
      req.socket.once('close', () => {
        clearTimeout(timer);
        this.waiting.delete(done);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    return `http://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('HttpEventFeedConsumer', () => {
  let directory: string;
  const feeds: FakeEventFeed[] = [];
  const consumers: HttpEventFeedConsumer[] = [];

  after(async () => {
    await Promise.allSettled(consumers.map((c) => c.close()));
    await Promise.allSettled(feeds.map((f) => f.close()));
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  async function setUp(): Promise<{ feed: FakeEventFeed; url: string; cursorFile: string }> {
    directory ??= await mkdtemp(join(tmpdir(), 'ccm-feed-'));
    const feed = new FakeEventFeed();
    feeds.push(feed);
    return { feed, url: await feed.start(), cursorFile: join(directory, `${randomUUID()}.cursor`) };
  }

  test('handles the feed in order across pages and keeps the cursor in a file', async () => {
    const { feed, url, cursorFile } = await setUp();
    const events = Array.from({ length: 7 }, () => sampleEvent());
    events.forEach((e) => feed.add(e));
    const seen: string[] = [];
    const consumer = new HttpEventFeedConsumer({ baseUrl: url, cursorStore: new FileCursorStore(cursorFile), pageSize: 3, pollIntervalMs: 20, handler: async (event) => void seen.push(event.id) });
    consumers.push(consumer);
    await consumer.start();
    await until(() => seen.length === 7);
    assert.deepEqual(seen, events.map((e) => e.id));
    await consumer.close();
    assert.equal((await readFile(cursorFile, 'utf8')).trim(), '7');
  });

  test('resumes after the saved cursor: nothing is handled twice after a restart', async () => {
    const { feed, url, cursorFile } = await setUp();
    const store = new FileCursorStore(cursorFile);
    for (let i = 0; i < 3; i++) feed.add(sampleEvent());
    const seen: string[] = [];
    const first = new HttpEventFeedConsumer({ baseUrl: url, cursorStore: store, pollIntervalMs: 20, handler: async (e) => void seen.push(e.id) });
    await first.start();
    await until(() => seen.length === 3);
    await first.close();
    feed.add(sampleEvent());
    const second = new HttpEventFeedConsumer({ baseUrl: url, cursorStore: new FileCursorStore(cursorFile), pollIntervalMs: 20, handler: async (e) => void seen.push(e.id) });
    consumers.push(second);
    await second.start();
    await until(() => seen.length === 4);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await second.close();
    assert.deepEqual(seen, feed.events.map((e) => e.id));
    assert.equal(feed.requests.filter((r) => r.searchParams.get('after') === '3').length > 0, true);
  });

  test('a failing handler is retried in place: later events wait and the cursor does not move', async () => {
    const { feed, url, cursorFile } = await setUp();
    const [a, b] = [sampleEvent(), sampleEvent()];
    feed.add(a);
    feed.add(b);
    const seen: string[] = [];
    let failuresLeft = 2;
    const retries: number[] = [];
    const consumer = new HttpEventFeedConsumer({
      baseUrl: url,
      cursorStore: new FileCursorStore(cursorFile),
      pollIntervalMs: 20,
      retryBaseMs: 20,
      handler: async (event) => {
        if (event.id === a.id && failuresLeft-- > 0) throw new Error('broker busy');
        seen.push(event.id);
      },
      observer: { handlerFailed: (_e, _err, attempt) => retries.push(attempt) },
    });
    consumers.push(consumer);
    await consumer.start();
    await until(() => seen.length === 2);
    await consumer.close();
    assert.deepEqual(seen, [a.id, b.id]);
    assert.deepEqual(retries, [1, 2]);
  });

  test('an unreadable feed is polled again; an invalid item is skipped and reported', async () => {
    const { feed, url, cursorFile } = await setUp();
    feed.failNext = 2;
    const good = sampleEvent();
    feed.events.push({ ...(sampleEvent() as CcmEvent), schemaVersion: 9 as 1, position: '1' });
    feed.add(good);
    const seen: string[] = [];
    const rejected: string[] = [];
    let pollFailures = 0;
    const consumer = new HttpEventFeedConsumer({
      baseUrl: url,
      cursorStore: new FileCursorStore(cursorFile),
      pollIntervalMs: 20,
      retryBaseMs: 10,
      handler: async (e) => void seen.push(e.id),
      observer: { rejected: (position) => rejected.push(position), pollFailed: () => (pollFailures += 1) },
    });
    consumers.push(consumer);
    await consumer.start();
    await until(() => seen.length === 1);
    await consumer.close();
    assert.deepEqual(seen, [good.id]);
    assert.deepEqual(rejected, ['1']);
    assert.equal(pollFailures, 2);
  });

  test('with concurrency, a page is handled several at a time and the cursor moves when the page is done', async () => {
    const { feed, url, cursorFile } = await setUp();
    for (let i = 0; i < 10; i++) feed.add(sampleEvent());
    let inFlight = 0;
    let maxInFlight = 0;
    const seen = new Set<string>();
    const consumer = new HttpEventFeedConsumer({
      baseUrl: url,
      cursorStore: new FileCursorStore(cursorFile),
      pageSize: 5,
      concurrency: 4,
      pollIntervalMs: 20,
      handler: async (event) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        seen.add(event.id);
        inFlight -= 1;
      },
    });
    consumers.push(consumer);
    await consumer.start();
    await until(() => seen.size === 10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await consumer.close();
    assert.equal(maxInFlight, 4);
    assert.equal((await readFile(cursorFile, 'utf8')).trim(), '10');
  });

  test('with concurrency, the feed is read on while an event is in hand, up to the concurrency; the cursor stops before the unfinished one', async () => {
    const { feed, url, cursorFile } = await setUp();
    for (let i = 0; i < 6; i++) feed.add(sampleEvent());
    const first = feed.events[0]!.id;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const seen: string[] = [];
    const consumer = new HttpEventFeedConsumer({
      baseUrl: url,
      cursorStore: new FileCursorStore(cursorFile),
      pageSize: 2,
      concurrency: 4,
      pollIntervalMs: 20,
      handler: async (event) => {
        if (event.id === first) await released;
        seen.push(event.id);
      },
    });
    consumers.push(consumer);
    await consumer.start();
    await until(() => seen.length === 3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Events 2 to 4 came in the next pages and were handled while 1 was in hand; 5 and 6 wait: four are in hand.
    assert.deepEqual(seen, feed.events.slice(1, 4).map((e) => e.id));
    assert.equal(await readFile(cursorFile, 'utf8').catch(() => null), null, 'no cursor saved past an unfinished event');
    release();
    await until(() => seen.length === 6);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await consumer.close();
    assert.deepEqual(new Set(seen), new Set(feed.events.map((e) => e.id)));
    assert.equal((await readFile(cursorFile, 'utf8')).trim(), '6');
  });

  test('closed while an event is in hand, the saved cursor is before it: a restart gets it again', async () => {
    const { feed, url, cursorFile } = await setUp();
    for (let i = 0; i < 4; i++) feed.add(sampleEvent());
    const stuck = feed.events[1]!.id;
    const seen: string[] = [];
    const failing = new HttpEventFeedConsumer({
      baseUrl: url,
      cursorStore: new FileCursorStore(cursorFile),
      concurrency: 8,
      pollIntervalMs: 20,
      retryBaseMs: 20,
      handler: async (event) => {
        if (event.id === stuck) throw new Error('broker down');
        seen.push(event.id);
      },
    });
    await failing.start();
    await until(() => seen.length === 3);
    await failing.close();
    assert.equal((await readFile(cursorFile, 'utf8')).trim(), '1');
    const again: string[] = [];
    const second = new HttpEventFeedConsumer({ baseUrl: url, cursorStore: new FileCursorStore(cursorFile), concurrency: 8, pollIntervalMs: 20, handler: async (e) => void again.push(e.id) });
    consumers.push(second);
    await second.start();
    await until(() => again.length === 3);
    await second.close();
    assert.deepEqual(again, feed.events.slice(1).map((e) => e.id));
  });

  test('long polling: an event added while a read waits is handled at once, not at the next poll', async () => {
    const { feed, url, cursorFile } = await setUp();
    feed.longPoll = true;
    const seen: string[] = [];
    const consumer = new HttpEventFeedConsumer({ baseUrl: url, cursorStore: new FileCursorStore(cursorFile), concurrency: 4, waitMs: 20_000, pollIntervalMs: 60_000, handler: async (e) => void seen.push(e.id) });
    consumers.push(consumer);
    await consumer.start();
    await until(() => feed.requests.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const event = sampleEvent();
    const addedAt = performance.now();
    feed.add(event);
    await until(() => seen.length === 1);
    const tookMs = performance.now() - addedAt;
    feed.add(sampleEvent());
    await until(() => seen.length === 2);
    await consumer.close();
    assert.equal(seen[0], event.id);
    assert.ok(tookMs < 5000, `handled ${Math.round(tookMs)} ms after it was added (the poll interval is 60 s)`);
    assert.ok(feed.requests.every((request) => request.searchParams.get('waitMs') === '20000'));
  });

  test('a feed that answers at once although asked to wait is polled at the interval, not in a tight loop', async () => {
    const { feed, url, cursorFile } = await setUp();
    const consumer = new HttpEventFeedConsumer({ baseUrl: url, cursorStore: new FileCursorStore(cursorFile), waitMs: 20_000, pollIntervalMs: 100, handler: async () => undefined });
    consumers.push(consumer);
    await consumer.start();
    await new Promise((resolve) => setTimeout(resolve, 550));
    await consumer.close();
    assert.ok(feed.requests.length >= 2 && feed.requests.length <= 10, `${feed.requests.length} requests in 550 ms (a tight loop makes hundreds)`);
  });

  test('the tenant filter is passed to the feed', async () => {
    const { feed, url, cursorFile } = await setUp();
    const mine = sampleEvent();
    feed.add(sampleEvent());
    feed.add(mine);
    const seen: string[] = [];
    const consumer = new HttpEventFeedConsumer({ baseUrl: url, tenantId: mine.tenantId, cursorStore: new FileCursorStore(cursorFile), pollIntervalMs: 20, handler: async (e) => void seen.push(e.id) });
    consumers.push(consumer);
    await consumer.start();
    await until(() => seen.length === 1);
    await consumer.close();
    assert.deepEqual(seen, [mine.id]);
    assert.equal(feed.requests[0]?.searchParams.get('tenantId'), mine.tenantId);
  });
});
