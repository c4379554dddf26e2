/**
 * The outbox as the event side sees it: events in commit order, each with
 * its position (the cursor of the HTTP feed and of each subscriber's
 * delivery). Rows are appended by the life-cycle store in the transaction
 * of the state change they announce.
 */
import type { CcmEvent } from '@ccm/event-consumer/contract';

export interface StoredEvent {
  readonly position: number;
  readonly event: CcmEvent;
}

export abstract class EventOutbox {
  /** Events after `position`, oldest first, at most `limit`; only those of `tenantId` when given. */
  abstract readAfter(position: number, limit: number, tenantId?: string): Promise<StoredEvent[]>;
  abstract latestPosition(): Promise<number>;
}
