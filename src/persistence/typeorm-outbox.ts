/**
 * The outbox on TypeORM. Appending takes a transaction-scoped lock on
 * PostgreSQL so that positions are handed out in commit order: a reader that
 * has seen position n will never later find a smaller one committed (SQLite
 * has a single writer, so it needs none).
 */
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { CcmEvent } from '@ccm/event-consumer/contract';
import { EventOutbox, type StoredEvent } from '../events/event-outbox.js';
import { OutboxRow } from './entities.js';
import { OUTBOX_CHANNEL } from './postgres-outbox-notifications.js';
import { PreparedQuery } from './prepared-query.js';
import { dialectOf, valueRows } from './sql-batches.js';

/** An arbitrary constant naming ccm's outbox among PostgreSQL advisory locks. */
const OUTBOX_LOCK = 0x63636d01;

export function appendToOutbox(manager: EntityManager, event: CcmEvent): Promise<void> {
  return appendAllToOutbox(manager, [event]);
}

const OUTBOX_COLUMNS = ['id', 'type', 'tenant_id', 'authority_id', 'certificate_id', 'occurred_at', 'payload'] as const;

/** The events in one statement, in this order of positions. */
export async function appendAllToOutbox(manager: EntityManager, events: readonly CcmEvent[]): Promise<void> {
  if (events.length === 0) return;
  const dialect = dialectOf(manager.connection);
  const parameters = events.flatMap((event) => [event.id, event.type, event.tenantId, event.authorityId, event.certificateId, new Date(event.time).toISOString(), JSON.stringify(event)]);
  const rows = valueRows(dialect, events.length, OUTBOX_COLUMNS.length);
  if (dialect === 'postgres') {
    // Lock and insert in one statement (the rows are formed, and their positions drawn, only once the lock is held): the
    // lock serialises every transaction that announces an event until it commits, so each round trip held under it
    // is paid once per transaction by all of them; in a burst of 100 suspensions of one CA that set the API's pace.
    // The notification rides in the same statement: PostgreSQL delivers it to every listening replica when (and only if)
    // the transaction commits (PostgresOutboxNotifications).
    await manager.query(
      `INSERT INTO outbox (${OUTBOX_COLUMNS.join(', ')}) SELECT v.* FROM (SELECT pg_advisory_xact_lock($${parameters.length + 1}), pg_notify('${OUTBOX_CHANNEL}', '')) AS outbox_lock, (VALUES ${rows}) AS v (${OUTBOX_COLUMNS.join(', ')})`,
      [...parameters, OUTBOX_LOCK],
    );
    return;
  }
  await manager.query(`INSERT INTO outbox (${OUTBOX_COLUMNS.join(', ')}) VALUES ${rows}`, parameters);
}

@Injectable()
export class TypeormEventOutbox extends EventOutbox {
  // Prepared: every waiting feed reader reads again at each commit, in a burst while ccm is busiest.
  private readonly pageAfter: PreparedQuery;
  private readonly tenantPageAfter: PreparedQuery;

  constructor(private readonly dataSource: DataSource) {
    super();
    this.pageAfter = new PreparedQuery(dataSource, 'SELECT o.position, o.payload FROM outbox o WHERE o.position > $1 ORDER BY o.position LIMIT $2');
    this.tenantPageAfter = new PreparedQuery(dataSource, 'SELECT o.position, o.payload FROM outbox o WHERE o.position > $1 AND o.tenant_id = $2 ORDER BY o.position LIMIT $3');
  }

  async readAfter(position: number, limit: number, tenantId?: string): Promise<StoredEvent[]> {
    const rows = tenantId ? await this.tenantPageAfter.rows([position, tenantId, limit]) : await this.pageAfter.rows([position, limit]);
    return rows.map((row) => ({ position: Number(row['position']), event: JSON.parse(String(row['payload'])) as CcmEvent }));
  }

  async latestPosition(): Promise<number> {
    const row = await this.dataSource.getRepository(OutboxRow).createQueryBuilder('o').select('MAX(o.position)', 'max').getRawOne<{ max: string | number | null }>();
    return Number(row?.max ?? 0);
  }
}
