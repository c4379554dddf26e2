/** Registering the subscribers that receive events, and reading the HTTP feed of them. */
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../shared/clock.js';
import { InvalidRequest, NotFound } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { TenantRepository } from '../tenants/tenant.js';
import { EventOutbox, type StoredEvent } from './event-outbox.js';
import { OutboxWakeup } from './outbox-wakeup.js';
import { EventSubscriberRepository, type EventSubscriber } from './event-subscriber.js';

@Injectable()
export class EventSubscriptions {
  constructor(
    private readonly subscribers: EventSubscriberRepository,
    private readonly tenants: TenantRepository,
    private readonly clock: Clock,
  ) {}

  async create(name: string, tenantIds: readonly string[] | null): Promise<EventSubscriber> {
    if (tenantIds) {
      for (const tenantId of tenantIds) {
        if (!(await this.tenants.findById(tenantId))) throw new InvalidRequest(`tenantIds names an unknown tenant ${tenantId}`, { field: 'tenantIds' });
      }
    }
    const now = this.clock.now();
    return this.subscribers.create({ id: newId(now.getTime()), name, tenantIds: tenantIds ? [...new Set(tenantIds)] : null, createdAt: now, updatedAt: now });
  }

  async get(id: string): Promise<EventSubscriber> {
    const subscriber = await this.subscribers.findById(id);
    if (!subscriber) throw new NotFound('event subscriber');
    return subscriber;
  }

  list(): Promise<EventSubscriber[]> {
    return this.subscribers.list();
  }

  async delete(id: string): Promise<void> {
    if (!(await this.subscribers.delete(id))) throw new NotFound('event subscriber');
  }
}

/**
 * The HTTP feed over the outbox. A reader may ask to wait (long polling):
 * an empty page is answered only once an event after its cursor commits or
 * the wait is over, so an agent on the feed learns of a suspension as soon
 * as it is committed, with one request for a whole burst and no Redis.
 */
/**
 * Readers waiting at once, at most. Each holds a socket and a listener; past
 * this a read answers at once, as without waitMs (its reader polls), rather
 * than letting a caller that opens reads without end hold more.
 */
export const MAX_WAITING_READERS = 1000;

export class EventFeed implements OnModuleDestroy {
  /** Aborted when the service begins to stop: waiting readers are answered at once, so the drain is not held up. */
  private readonly stopping = new AbortController();

  constructor(
    private readonly outbox: EventOutbox,
    private readonly wakeup: OutboxWakeup,
    /** How often a waiting read looks again without being woken (CCM_RELAY_POLL_MS). */
    private readonly rereadMs: number,
  ) {}

  /**
   * A page of the feed after `cursor` (a position; absent: from the start).
   * With `waitMs`, an empty page waits up to that long for an event. Commits
   * this process cannot hear of (another replica's, without PostgreSQL's
   * notifications) are found by reading again every CCM_RELAY_POLL_MS.
   */
  async read(cursor: string | null, limit: number, tenantId?: string, waitMs = 0, signal?: AbortSignal): Promise<{ items: StoredEvent[]; nextCursor: string | null }> {
    if (cursor !== null && !/^\d{1,15}$/.test(cursor)) throw new InvalidRequest('after must be a position from an earlier page', { field: 'after' });
    const after = cursor === null ? 0 : Number(cursor);
    const deadline = performance.now() + waitMs;
    const stop = signal ? AbortSignal.any([signal, this.stopping.signal]) : this.stopping.signal;
    for (;;) {
      const remaining = deadline - performance.now();
      // Armed before the read: a commit between the read and the wait still wakes it.
      const mayWait = remaining > 0 && !stop.aborted && this.wakeup.readersWaiting < MAX_WAITING_READERS;
      const commit = mayWait ? this.wakeup.nextCommit(Math.min(remaining, this.rereadMs), stop) : null;
      const items = await this.outbox.readAfter(after, limit, tenantId);
      if (items.length > 0 || !commit) {
        commit?.cancel();
        // The cursor is the last position seen, so a poller resumes where it stopped even when the page was short.
        return { items, nextCursor: items.length > 0 ? String(items[items.length - 1]!.position) : cursor };
      }
      await commit.woken;
    }
  }

  /** Answers every waiting reader now (their pages are empty) and every later one without waiting. */
  stopWaiting(): void {
    this.stopping.abort();
  }

  onModuleDestroy(): void {
    this.stopWaiting();
  }
}
