/**
 * Event subscribers: one per broker node or broker group. Each has its own
 * durable queue and its own delivery position in the outbox, so every
 * subscriber receives every event (optionally only some tenants').
 */
import { subscriberQueueName } from '@ccm/event-consumer/contract';

export interface EventSubscriber {
  readonly id: string;
  readonly name: string;
  /** null: every tenant. */
  readonly tenantIds: readonly string[] | null;
  /** The last outbox position handed to this subscriber's queue. */
  readonly deliveredPosition: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export function queueOf(subscriber: Pick<EventSubscriber, 'id'>): string {
  return subscriberQueueName(subscriber.id);
}

export abstract class EventSubscriberRepository {
  /** Inserts the subscriber positioned at the latest committed event: it receives what commits after. Conflict on a taken name. */
  abstract create(subscriber: Omit<EventSubscriber, 'deliveredPosition'>): Promise<EventSubscriber>;
  abstract findById(id: string): Promise<EventSubscriber | null>;
  abstract list(): Promise<EventSubscriber[]>;
  abstract delete(id: string): Promise<boolean>;
  /** Moves the delivery position from `from` to `to`; false when another relay moved it first. */
  abstract advance(id: string, from: number, to: number, at: Date): Promise<boolean>;
}
