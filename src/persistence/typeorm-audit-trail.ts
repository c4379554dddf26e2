/**
 * The audit trail on TypeORM (table audit_log). Append-only: rows are
 * inserted and read, never updated or deleted by ccm. The position is the
 * insertion order and the listing's cursor; on PostgreSQL concurrent
 * inserts may commit out of position order, which a reader polling with a
 * cursor can step over, unlike the outbox's (an audit listing is for people
 * and exports, not for exactly-once delivery, so the insert takes no lock).
 * Entries arrive in batches (AuditLog groups them) and go in as one
 * multi-row INSERT, hand-written: TypeORM's insert builder cost more per row
 * than the database did.
 */
import { Injectable } from '@nestjs/common';
import { DataSource, MoreThan, type FindOptionsWhere } from 'typeorm';
import { AuditTrail, type AuditAction, type AuditEntry, type AuditFilter, type AuditOutcome, type AuditTargetType, type StoredAuditEntry } from '../audit/audit-trail.js';
import { AuditLogRow } from './entities.js';
import { dialectOf, valueRows } from './sql-batches.js';
import { Transactions } from './transactions.js';

/** Every column but the generated position, in the order rowValues gives them. */
const COLUMNS = ['id', 'occurred_at', 'tenant_id', 'actor', 'action', 'target_type', 'target_id', 'outcome', 'reason', 'details'] as const;

@Injectable()
export class TypeormAuditTrail extends AuditTrail {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async append(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const dialect = dialectOf(this.dataSource);
    const postgres = dialect === 'postgres';
    const sql = `INSERT INTO audit_log (${COLUMNS.join(', ')}) VALUES ${valueRows(dialect, entries.length, COLUMNS.length)}`;
    const values = entries.flatMap(rowValues);
    // PostgreSQL: one statement is its own transaction. SQLite: its one connection may be inside another use case's
    // transaction right now; queued behind it, the entries cannot be rolled back with it.
    if (postgres) await this.dataSource.query(sql, values);
    else await this.transactions.run((manager) => manager.query(sql, values));
  }

  async list(filter: AuditFilter, after: number, limit: number): Promise<StoredAuditEntry[]> {
    const where: FindOptionsWhere<AuditLogRow> = {
      position: MoreThan(after),
      ...(filter.tenantId !== undefined ? { tenantId: filter.tenantId } : {}),
      ...(filter.action !== undefined ? { action: filter.action } : {}),
      ...(filter.outcome !== undefined ? { outcome: filter.outcome } : {}),
      ...(filter.targetId !== undefined ? { targetId: filter.targetId } : {}),
    };
    const rows = await this.dataSource.getRepository(AuditLogRow).find({ where, order: { position: 'ASC' }, take: limit });
    return rows.map((row) => ({ position: row.position, entry: toEntry(row) }));
  }
}

/** The text the entity's transformers would write (columns.ts): ISO times, JSON details. */
function rowValues(entry: AuditEntry): unknown[] {
  return [
    entry.id,
    entry.occurredAt.toISOString(),
    entry.tenantId,
    entry.actor,
    entry.action,
    entry.targetType,
    entry.targetId,
    entry.outcome,
    entry.reason,
    // SQL NULL when there are none, not the JSON text "null".
    entry.details === null ? null : JSON.stringify(entry.details),
  ];
}

function toEntry(row: AuditLogRow): AuditEntry {
  return {
    id: row.id,
    occurredAt: row.occurredAt,
    tenantId: row.tenantId,
    actor: row.actor,
    action: row.action as AuditAction,
    targetType: row.targetType as AuditTargetType | null,
    targetId: row.targetId,
    outcome: row.outcome as AuditOutcome,
    reason: row.reason,
    details: row.details as AuditEntry['details'],
  };
}
