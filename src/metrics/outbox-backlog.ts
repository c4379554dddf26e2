/**
 * How far event delivery is behind: the outbox rows some subscriber has not
 * had yet. Read at scrape time for the metrics, never on a request path: a
 * port of the metrics, its only reader, which persistence implements.
 */

export interface OutboxBacklogReading {
  /** Events after the least advanced subscriber's position; 0 without subscribers. */
  readonly pendingEvents: number;
  /** When the oldest of them happened; null when none is pending. */
  readonly oldestOccurredAt: Date | null;
}

export abstract class OutboxBacklog {
  /** One cheap query; rejects when the database does not answer within `timeoutMs`. */
  abstract read(timeoutMs: number): Promise<OutboxBacklogReading>;
}
