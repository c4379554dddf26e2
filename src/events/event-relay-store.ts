/**
 * What the outbox relay reads and writes in the database: the subscribers
 * with their delivery positions, the outbox after a position, and the
 * advance of a position. A port of its own because the relay must not queue
 * for a pooled connection behind the requests whose events it delivers: in
 * a burst of 100 suspensions every pooled connection sits in a transaction
 * waiting for the CA's row lock, and the relay's three queries per pass
 * waited 0.2 to 0.5 s each for one (measured), which put events on the
 * queue 1 to 2 s after they were committed.
 */
import type { StoredEvent } from './event-outbox.js';
import type { EventSubscriber } from './event-subscriber.js';

export abstract class EventRelayStore {
  abstract subscribers(): Promise<EventSubscriber[]>;
  /** Events after `position`, oldest first, at most `limit`. */
  abstract readAfter(position: number, limit: number): Promise<StoredEvent[]>;
  /** Moves a subscriber's delivery position from `from` to `to`; false when another relay moved it first. */
  abstract advance(subscriberId: string, from: number, to: number, at: Date): Promise<boolean>;
  /** Gives back whatever connection it holds; called when the relay stops, before the database closes. */
  abstract close(): Promise<void>;
}
