/**
 * The outbox on TypeORM. Appending takes a transaction-scoped lock on
 * PostgreSQL so that positions are handed out in commit order: a reader that
 * has seen position n will never later find a smaller one committed (SQLite
 * has a single writer, so it needs none).
 */
import { Injectable } from '@nestjs/common';
import { DataSource, In, MoreThan, type EntityManager } from 'typeorm';
import type { CcmEvent } from '@ccm/event-consumer/contract';
import { EventOutbox, type StoredEvent } from '../events/event-outbox.js';
import { OutboxRow } from './entities.js';

/** An arbitrary constant naming ccm's outbox among PostgreSQL advisory locks. */
const OUTBOX_LOCK = 0x63636d01;

export async function appendToOutbox(manager: EntityManager, event: CcmEvent): Promise<void> {
  if (manager.connection.options.type === 'postgres') {
    // Lock and insert in one statement (the row is formed, and its position drawn, only once the lock is held): the
    // lock serialises every transaction that announces an event until it commits, so each round trip held under it
    // is paid once per event by all of them; in a burst of 100 suspensions of one CA that set the API's pace.
    await manager.query(
      'INSERT INTO outbox (id, type, tenant_id, authority_id, certificate_id, occurred_at, payload) SELECT $1, $2, $3, $4, $5, $6, $7 FROM (SELECT pg_advisory_xact_lock($8)) AS outbox_lock',
      [event.id, event.type, event.tenantId, event.authorityId, event.certificateId, new Date(event.time).toISOString(), JSON.stringify(event), OUTBOX_LOCK],
    );
    return;
  }
  await manager.insert(OutboxRow, {
    id: event.id,
    type: event.type,
    tenantId: event.tenantId,
    authorityId: event.authorityId,
    certificateId: event.certificateId,
    occurredAt: new Date(event.time),
    payload: JSON.stringify(event),
  });
}

@Injectable()
export class TypeormEventOutbox extends EventOutbox {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  async readAfter(position: number, limit: number, tenantId?: string): Promise<StoredEvent[]> {
    const rows = await this.dataSource.getRepository(OutboxRow).find({
      where: { position: MoreThan(position), ...(tenantId ? { tenantId: In([tenantId]) } : {}) },
      order: { position: 'ASC' },
      take: limit,
    });
    return rows.map((row) => ({ position: row.position, event: JSON.parse(row.payload) as CcmEvent }));
  }

  async latestPosition(): Promise<number> {
    const row = await this.dataSource.getRepository(OutboxRow).createQueryBuilder('o').select('MAX(o.position)', 'max').getRawOne<{ max: string | number | null }>();
    return Number(row?.max ?? 0);
  }
}
