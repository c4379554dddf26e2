/**
 * The outbox relay: moves committed events from the outbox to every
 * subscriber's queue, in position order, and records per subscriber how far
 * it got. While the broker is unreachable it retries with back-off and the
 * events wait in the outbox; nothing is dropped and, because the event id is
 * the job id, nothing is delivered twice to one queue.
 *
 * Replicas each run a relay over the same outbox. They do not take turns:
 * two may publish the same batch, and the job id makes the second add a
 * no-op; the delivery position moves only by a conditional update from the
 * value a relay read, so the one that loses the race rereads from where the
 * winner got. A relay that dies between publishing and advancing (kill -9)
 * leaves its batch to be published again by the next pass of any replica,
 * again without a duplicate. On stop the relay finishes the batch in hand and
 * goes; what it had not published waits in the outbox.
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
  private stopping = false;
  private wakeFromBackoff: () => void = () => undefined;

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

  /** Lets the batch being published finish (not the backlog behind it), then closes the Redis and database connections. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.running = false;
    this.wakeup.notify();
    this.wakeFromBackoff();
    await this.loop;
    await this.publisher.close();
    await this.store.close();
  }

  /** One pass over every subscriber; resolves when each is caught up, or after the batch in hand once stopping. Throws when publishing fails. */
  async drain(): Promise<void> {
    for (const subscriber of await this.store.subscribers()) {
      if (this.stopping) return;
      await this.deliver(subscriber);
    }
  }

  private async run(): Promise<void> {
    let backoffMs = 0;
    while (this.running) {
      // Armed before the pass: a commit during it (or stop()) starts the next pass at once.
      const commit = this.wakeup.nextCommit(this.pollMs);
      try {
        await this.drain();
        if (this.failing) this.logger.log('event delivery resumed');
        this.failing = false;
        backoffMs = 0;
        await commit.woken;
      } catch (error) {
        commit.cancel();
        if (!this.failing) this.logger.warn(`event delivery paused, events wait in the outbox: ${error instanceof Error ? error.message : String(error)}`);
        this.failing = true;
        backoffMs = Math.min(Math.max(backoffMs * 2, 100), MAX_BACKOFF_MS);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffMs);
          timer.unref();
          this.wakeFromBackoff = () => {
            clearTimeout(timer);
            resolve();
          };
        });
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
        await this.publisher.publish(queueOf(subscriber), wanted);
        this.metrics.published(wanted.length);
      }
      const next = batch[batch.length - 1]!.position;
      // Another replica advanced first: it published the same events (deduplicated by job id); continue from its position next pass.
      if (!(await this.store.advance(subscriber.id, position, next, this.clock.now()))) return;
      position = next;
      if (batch.length < BATCH || this.stopping) return;
    }
  }
}
