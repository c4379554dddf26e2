/** The port through which the relay hands events to subscribers' queues. */
import type { CcmEvent } from '@ccm/event-consumer/contract';

export abstract class EventPublisher {
  /** Adds the events to the queue in order; an event already there (same id) is not added twice. Throws when the broker is unreachable. */
  abstract publish(queue: string, events: readonly CcmEvent[]): Promise<void>;
  abstract close(): Promise<void>;
}
