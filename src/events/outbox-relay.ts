/**
 * The outbox relay: moves committed events from the outbox to every
 * subscriber's queue, in position order, and records per subscriber how far
 * it got. While the broker is unreachable it retries with back-off and the
 * events wait in the outbox; nothing is dropped and, because the event id is
 * the job id, nothing is delivered twice to one queue.
 */
import { Logger } from '@nestjs/common';
import type { EventMetrics } from '../metrics/metrics.js';
import type { Clock } from '../shared/clock.js';
import type { EventPublisher } from './event-publisher.js';
import type { EventRelayStore } from './event-relay-store.js';
import { queueOf, type EventSubscriber } from './event-subscriber.js';
import type { OutboxWakeup } from './outbox-wakeup.js';

const BATCH = 500;
const MAX_BACKOFF_MS = 5000;

export class OutboxRelay {
  private readonly logger = new Logger('OutboxRelay');
  private running = false;
  private loop: Promise<void> | null = null;
  private failing = false;

  constructor(
    private readonly store: EventRelayStore,
    private readonly publisher: EventPublisher,
    private readonly wakeup: OutboxWakeup,
    private readonly clock: Clock,
    private readonly pollMs: number,
    private readonly metrics: EventMetrics,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeup.notify();
    await this.loop;
    await this.publisher.close();
    await this.store.close();
  }

  /** One pass over every subscriber; resolves when each is caught up. Throws when publishing fails. */
  async drain(): Promise<void> {
    for (const subscriber of await this.store.subscribers()) await this.deliver(subscriber);
  }

  private async run(): Promise<void> {
    let backoffMs = 0;
    while (this.running) {
      try {
        await this.drain();
        if (this.failing) this.logger.log('event delivery resumed');
        this.failing = false;
        backoffMs = 0;
        await this.wakeup.wait(this.pollMs);
      } catch (error) {
        if (!this.failing) this.logger.warn(`event delivery paused, events wait in the outbox: ${error instanceof Error ? error.message : String(error)}`);
        this.failing = true;
        backoffMs = Math.min(Math.max(backoffMs * 2, 100), MAX_BACKOFF_MS);
        await new Promise((resolve) => setTimeout(resolve, backoffMs).unref());
      }
    }
  }

  private async deliver(subscriber: EventSubscriber): Promise<void> {
    let position = subscriber.deliveredPosition;
    for (;;) {
      const batch = await this.store.readAfter(position, BATCH);
      if (batch.length === 0) return;
      const wanted = subscriber.tenantIds ? batch.filter((stored) => subscriber.tenantIds!.includes(stored.event.tenantId)) : batch;
      if (wanted.length > 0) {
        await this.publisher.publish(queueOf(subscriber), wanted.map((stored) => stored.event));
        this.metrics.published(wanted.length);
      }
      const next = batch[batch.length - 1]!.position;
      // Another replica advanced first: it published the same events (deduplicated by job id); continue from its position next pass.
      if (!(await this.store.advance(subscriber.id, position, next, this.clock.now()))) return;
      position = next;
      if (batch.length < BATCH) return;
    }
  }
}
