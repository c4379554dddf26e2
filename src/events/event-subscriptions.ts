/** Registering the subscribers that receive events, and reading the HTTP feed of them. */
import { Injectable } from '@nestjs/common';
import { Clock } from '../shared/clock.js';
import { InvalidRequest, NotFound } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { TenantRepository } from '../tenants/tenant.js';
import { EventOutbox, type StoredEvent } from './event-outbox.js';
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

@Injectable()
export class EventFeed {
  constructor(private readonly outbox: EventOutbox) {}

  /** A page of the feed after `cursor` (a position; absent: from the start). */
  async read(cursor: string | null, limit: number, tenantId?: string): Promise<{ items: StoredEvent[]; nextCursor: string | null }> {
    if (cursor !== null && !/^\d{1,15}$/.test(cursor)) throw new InvalidRequest('after must be a position from an earlier page', { field: 'after' });
    const items = await this.outbox.readAfter(cursor === null ? 0 : Number(cursor), limit, tenantId);
    // The cursor is the last position seen, so a poller resumes where it stopped even when the page was short.
    return { items, nextCursor: items.length > 0 ? String(items[items.length - 1]!.position) : cursor };
  }
}
