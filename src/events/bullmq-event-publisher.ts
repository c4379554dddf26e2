/**
 * EventPublisher on BullMQ (Redis through ioredis). The event id is the job
 * id, so publishing the same event again (a replay after a crash between
 * publish and the delivery-position update) adds nothing. The job data is
 * the event with its outbox position, as the HTTP feed serves it.
 */
import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { StoredEvent } from './event-outbox.js';
import { EventPublisher } from './event-publisher.js';

export const EVENT_JOB_OPTIONS: JobsOptions = {
  attempts: 20,
  backoff: { type: 'exponential', delay: 1000 },
  // Kept a while after completion so a replayed add is recognised as a duplicate.
  removeOnComplete: { age: 7 * 86400, count: 100_000 },
  removeOnFail: { age: 30 * 86400 },
};

export class BullmqEventPublisher extends EventPublisher {
  private readonly connection: Redis;
  private readonly queues = new Map<string, Queue>();

  constructor(redisUrl: string) {
    super();
    // Fail fast while Redis is away (the events wait in the outbox) instead of queueing commands in memory.
    this.connection = new Redis(redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: false,
      retryStrategy: (attempt) => Math.min(attempt * 250, 2000),
    });
    this.connection.on('error', () => undefined); // reported by the relay when a publish fails
  }

  async publish(queue: string, events: readonly StoredEvent[]): Promise<void> {
    if (this.connection.status !== 'ready') throw new Error(`Redis is not connected (${this.connection.status})`);
    await this.queueNamed(queue).addBulk(events.map(({ event, position }) => ({ name: event.type, data: { ...event, position: String(position) }, opts: { ...EVENT_JOB_OPTIONS, jobId: event.id } })));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.connection.disconnect();
  }

  private queueNamed(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.connection });
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }
}
