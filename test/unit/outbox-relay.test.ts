/**
 * OutboxRelay.stop(): the relay finishes the batch it is publishing and goes,
 * leaving the backlog behind it in the outbox (another replica or the next
 * start publishes it), and a relay waiting out its back-off while the broker
 * is down stops at once. The store and publisher are in-memory stand-ins for
 * the ports; the real ones run in test/e2e/event-relay.test.ts and
 * test/e2e/replicas.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CcmEvent } from '@ccm/event-consumer/contract';
import type { StoredEvent } from '../../src/events/event-outbox.js';
import { EventPublisher } from '../../src/events/event-publisher.js';
import { EventRelayStore } from '../../src/events/event-relay-store.js';
import type { EventSubscriber } from '../../src/events/event-subscriber.js';
import { OutboxRelay } from '../../src/events/outbox-relay.js';
import { OutboxWakeup } from '../../src/events/outbox-wakeup.js';
import { SystemClock } from '../../src/shared/clock.js';
import { EventMetrics } from '../../src/metrics/metrics.js';

class MemoryRelayStore extends EventRelayStore {
  position = 0;
  closed = false;

  constructor(private readonly events: StoredEvent[]) {
    super();
  }

  async subscribers(): Promise<EventSubscriber[]> {
    return [{ id: 'subscriber', name: 'broker', tenantIds: null, deliveredPosition: this.position, createdAt: new Date(0), updatedAt: new Date(0) }];
  }

  async readAfter(position: number, limit: number): Promise<StoredEvent[]> {
    return this.events.filter((stored) => stored.position > position).slice(0, limit);
  }

  async advance(_subscriberId: string, from: number, to: number): Promise<boolean> {
    if (this.position !== from) return false;
    this.position = to;
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

class GatedPublisher extends EventPublisher {
  readonly published: string[] = [];
  attempts = 0;
  closed = false;
  /** While set, publish() waits for it; the relay is then "in the middle of a batch". */
  gate: Promise<void> | null = null;
  failing = false;

  async publish(_queue: string, events: readonly StoredEvent[]): Promise<void> {
    this.attempts += 1;
    if (this.failing) throw new Error('broker unreachable');
    if (this.gate) await this.gate;
    this.published.push(...events.map((stored) => stored.event.id));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

function outbox(count: number): StoredEvent[] {
  return Array.from({ length: count }, (_, i) => ({ position: i + 1, event: { id: `event-${i + 1}`, tenantId: 'tenant' } as CcmEvent }));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Counts what the relay reports as published. */
class CountedEvents extends EventMetrics {
  count = 0;
  published(count: number): void {
    this.count += count;
  }
}

describe('OutboxRelay.stop', () => {
  it('finishes the batch being published, leaves the backlog in the outbox, and closes its connections', async () => {
    const store = new MemoryRelayStore(outbox(1200));
    const publisher = new GatedPublisher();
    let open!: () => void;
    publisher.gate = new Promise((resolve) => (open = resolve));
    const metrics = new CountedEvents();
    const relay = new OutboxRelay(store, publisher, new OutboxWakeup(), new SystemClock(), 60_000, metrics);
    relay.start();
    await until(() => publisher.attempts === 1, 'the first batch to be on its way');
    const stopped = relay.stop();
    open();
    await stopped;
    assert.equal(publisher.published.length, 500, 'the batch in hand, and no more');
    assert.deepEqual(publisher.published.slice(0, 2), ['event-1', 'event-2']);
    assert.equal(store.position, 500, 'the published batch is recorded; events 501 to 1200 wait in the outbox');
    assert.ok(store.closed && publisher.closed);
    assert.equal(metrics.count, 500, 'what was published is what the metrics were told');
  });

  it('does not wait out its back-off while the broker is unreachable', async () => {
    const store = new MemoryRelayStore(outbox(10));
    const publisher = new GatedPublisher();
    publisher.failing = true;
    const relay = new OutboxRelay(store, publisher, new OutboxWakeup(), new SystemClock(), 60_000, new CountedEvents());
    relay.start();
    // Back-off doubles from 100 ms: after the fifth failure the relay sleeps 1.6 s.
    await until(() => publisher.attempts === 5, 'five failed attempts');
    const startedAt = Date.now();
    await relay.stop();
    assert.ok(Date.now() - startedAt < 1000, `stopped in ${Date.now() - startedAt} ms`);
    assert.equal(publisher.attempts, 5, 'no attempt after the stop');
    assert.equal(store.position, 0, 'nothing recorded as delivered');
  });
});
