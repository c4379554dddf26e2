/** The port through which the relay hands events to subscribers' queues. */
import type { StoredEvent } from './event-outbox.js';

export abstract class EventPublisher {
  /**
   * Adds the events to the queue in order, each with its outbox position (a
   * consumer orders one certificate's events by it); an event already there
   * (same id) is not added twice. Throws when the broker is unreachable.
   */
  abstract publish(queue: string, events: readonly StoredEvent[]): Promise<void>;
  abstract close(): Promise<void>;
}
