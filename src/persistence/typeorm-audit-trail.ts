/**
 * The audit trail on TypeORM (table audit_log). Append-only: rows are
 * inserted and read, never updated or deleted by ccm. The position is the
 * insertion order and the listing's cursor; on PostgreSQL concurrent
 * inserts may commit out of position order, which a reader polling with a
 * cursor can step over, unlike the outbox's (an audit listing is for people
 * and exports, not for exactly-once delivery, so the insert takes no lock).
 */
import { Injectable } from '@nestjs/common';
import { DataSource, MoreThan, type FindOptionsWhere, type QueryDeepPartialEntity } from 'typeorm';
import { AuditTrail, type AuditAction, type AuditEntry, type AuditFilter, type AuditOutcome, type AuditTargetType, type StoredAuditEntry } from '../audit/audit-trail.js';
import { AuditLogRow } from './entities.js';

@Injectable()
export class TypeormAuditTrail extends AuditTrail {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  async record(entry: AuditEntry): Promise<void> {
    // One INSERT and no RETURNING: this runs on the authentication hot path.
    await this.dataSource.createQueryBuilder().insert().into(AuditLogRow).values(toRow(entry)).updateEntity(false).execute();
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

function toRow(entry: AuditEntry): QueryDeepPartialEntity<AuditLogRow> {
  return {
    id: entry.id,
    occurredAt: entry.occurredAt,
    tenantId: entry.tenantId,
    actor: entry.actor,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    outcome: entry.outcome,
    reason: entry.reason,
    // Left out when there are none, so the column is SQL NULL rather than the JSON text "null" the transformer would write.
    // The transformer writes the JSON; TypeORM's deep-partial type cannot follow an open record of scalars.
    details: entry.details === null ? undefined : ({ ...entry.details } as QueryDeepPartialEntity<Record<string, unknown>>),
  };
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
