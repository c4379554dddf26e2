/** Request and response shapes of the audit log listing. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches } from 'class-validator';
import { AUDIT_ACTIONS, AUDIT_OUTCOMES, AUDIT_TARGET_TYPES, type AuditAction, type AuditOutcome, type StoredAuditEntry } from '../audit/audit-trail.js';
import { PositionPageQuery } from './dtos.js';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class AuditLogQuery extends PositionPageQuery {
  @ApiPropertyOptional({ format: 'uuid', description: 'Only this tenant\'s entries. A tenant key always sees its own tenant only (another tenant\'s id: 404).' })
  @IsOptional()
  @Matches(UUID_PATTERN, { message: 'tenantId must be a tenant id' })
  tenantId?: string;

  @ApiPropertyOptional({ enum: AUDIT_ACTIONS })
  @IsOptional()
  @IsIn(AUDIT_ACTIONS)
  action?: AuditAction;

  @ApiPropertyOptional({ enum: AUDIT_OUTCOMES })
  @IsOptional()
  @IsIn(AUDIT_OUTCOMES)
  outcome?: AuditOutcome;

  @ApiPropertyOptional({ format: 'uuid', description: 'Only entries about this object (a certificate, CA, credential, tenant…).' })
  @IsOptional()
  @Matches(UUID_PATTERN, { message: 'targetId must be an id' })
  targetId?: string;

}

export class AuditEntryResponse {
  @ApiProperty({ description: 'Position in the log: the cursor to resume after.' }) position!: string;
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'date-time' }) occurredAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'uuid', description: 'Null for platform-wide actions (platform CA, subscribers, administrator and broker keys).' }) tenantId!: string | null;
  @ApiProperty({ description: '"bootstrap-admin", "<role>:<API credential id>", "enrollment:<enrollment credential id>", "certificate:<certificate id>" (EST re-enrollment) or "anonymous". Never a key.', example: 'tenant:0190f0c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d' })
  actor!: string;
  @ApiProperty({ enum: AUDIT_ACTIONS }) action!: string;
  @ApiProperty({ nullable: true, type: String, enum: AUDIT_TARGET_TYPES }) targetType!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'uuid', description: 'The object the request named, or the one it created.' }) targetId!: string | null;
  @ApiProperty({ enum: AUDIT_OUTCOMES, description: 'refused: ccm said no (4xx); failed: ccm could not (5xx).' }) outcome!: string;
  @ApiProperty({ nullable: true, type: String, description: 'For refused and failed: the problem type\'s suffix, e.g. certificate-revoked, forbidden, illegal-transition.' }) reason!: string | null;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true, description: 'A few safe facts: serial number, state, revocation reason… Never key material.' })
  details!: Record<string, unknown> | null;
}

export class AuditLogPage {
  @ApiProperty({ type: [AuditEntryResponse] }) items!: AuditEntryResponse[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as `after` to read on; an empty page means nothing newer yet. Null only when nothing matched from the start.' }) nextCursor!: string | null;
}

export function auditEntryResponse(stored: StoredAuditEntry): AuditEntryResponse {
  const { entry } = stored;
  return {
    position: String(stored.position),
    id: entry.id,
    occurredAt: entry.occurredAt.toISOString(),
    tenantId: entry.tenantId,
    actor: entry.actor,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    outcome: entry.outcome,
    reason: entry.reason,
    details: entry.details === null ? null : { ...entry.details },
  };
}
