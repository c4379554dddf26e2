/**
 * EventFeed's long polling, with the outbox in memory: a waiting read is
 * answered by the next commit and not by one before it was armed; an empty
 * wait ends at its deadline; the poll interval finds commits nobody
 * announced; stopWaiting answers waiting reads and every later one at once;
 * past MAX_WAITING_READERS a read does not wait.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CcmEvent } from '@ccm/event-consumer/contract';
import { EventOutbox, type StoredEvent } from '../../src/events/event-outbox.js';
import { EventFeed, MAX_WAITING_READERS } from '../../src/events/event-subscriptions.js';
import { OutboxWakeup } from '../../src/events/outbox-wakeup.js';

class MemoryOutbox extends EventOutbox {
  readonly events: StoredEvent[] = [];
  reads = 0;

  append(tenantId = 'tenant-a'): StoredEvent {
    const stored = { position: this.events.length + 1, event: { id: `event-${this.events.length + 1}`, tenantId } as CcmEvent };
    this.events.push(stored);
    return stored;
  }

  async readAfter(position: number, limit: number, tenantId?: string): Promise<StoredEvent[]> {
    this.reads += 1;
    return this.events.filter((stored) => stored.position > position && (!tenantId || stored.event.tenantId === tenantId)).slice(0, limit);
  }

  async latestPosition(): Promise<number> {
    return this.events.length;
  }
}

function setUp(rereadMs = 60_000): { outbox: MemoryOutbox; wakeup: OutboxWakeup; feed: EventFeed } {
  const outbox = new MemoryOutbox();
  const wakeup = new OutboxWakeup();
  return { outbox, wakeup, feed: new EventFeed(outbox, wakeup, rereadMs) };
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

describe('EventFeed', () => {
  // In ccm a waiting read's socket keeps the process alive; here nothing else would while a read waits.
  let alive: NodeJS.Timeout;
  before(() => {
    alive = setInterval(() => undefined, 1000);
  });
  after(() => clearInterval(alive));

  it('a read with nothing after its cursor waits, and the next commit answers it', async () => {
    const { outbox, wakeup, feed } = setUp();
    const waiting = feed.read('0', 100, undefined, 20_000);
    await tick();
    assert.equal(wakeup.readersWaiting, 1);
    outbox.append();
    wakeup.notify();
    const page = await waiting;
    assert.deepEqual(page.items.map((stored) => stored.position), [1]);
    assert.equal(page.nextCursor, '1');
    assert.equal(wakeup.readersWaiting, 0);
  });

  it('a commit announced before the read was armed does not end its wait; one after does', async () => {
    const { outbox, wakeup, feed } = setUp();
    wakeup.notify(); // nothing committed for this reader: an old announcement
    let answered = false;
    const waiting = feed.read('0', 100, undefined, 20_000).finally(() => (answered = true));
    await tick(30);
    assert.equal(answered, false);
    outbox.append();
    wakeup.notify();
    assert.equal((await waiting).items.length, 1);
  });

  it('with nothing committed the read answers an empty page with the cursor unchanged once the wait is up', async () => {
    const { feed } = setUp();
    const started = performance.now();
    assert.deepEqual(await feed.read('7', 100, undefined, 120), { items: [], nextCursor: '7' });
    assert.ok(performance.now() - started >= 110);
  });

  it('a commit nobody announced (another replica, without notifications) is found at the next reread', async () => {
    const { outbox, feed } = setUp(40);
    const waiting = feed.read(null, 100, undefined, 20_000);
    await tick(10);
    outbox.append();
    const started = performance.now();
    assert.equal((await waiting).items.length, 1);
    assert.ok(performance.now() - started < 1000);
  });

  it('stopWaiting answers a waiting read at once, and later reads do not wait', async () => {
    const { wakeup, feed } = setUp();
    const waiting = feed.read('0', 100, undefined, 20_000);
    await tick();
    feed.stopWaiting();
    assert.deepEqual(await waiting, { items: [], nextCursor: '0' });
    const started = performance.now();
    await feed.read('0', 100, undefined, 20_000);
    assert.ok(performance.now() - started < 100);
    assert.equal(wakeup.readersWaiting, 0);
  });

  it('a reader that goes away (its signal aborts) frees its wait', async () => {
    const { wakeup, feed } = setUp();
    const gone = new AbortController();
    const waiting = feed.read('0', 100, undefined, 20_000, gone.signal);
    await tick();
    gone.abort();
    assert.deepEqual(await waiting, { items: [], nextCursor: '0' });
    assert.equal(wakeup.readersWaiting, 0);
  });

  it(`past ${MAX_WAITING_READERS} waiting readers a read answers at once instead of waiting`, async () => {
    const { wakeup, feed } = setUp();
    const stop = new AbortController();
    const waiting = Array.from({ length: MAX_WAITING_READERS }, () => feed.read('0', 100, undefined, 20_000, stop.signal));
    await tick();
    assert.equal(wakeup.readersWaiting, MAX_WAITING_READERS);
    const started = performance.now();
    assert.deepEqual(await feed.read('0', 100, undefined, 20_000), { items: [], nextCursor: '0' });
    assert.ok(performance.now() - started < 100);
    stop.abort();
    await Promise.all(waiting);
    assert.equal(wakeup.readersWaiting, 0);
  });
});
