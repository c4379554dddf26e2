/**
 * HTTP edge of the audit log: listing and filtering it, oldest first with a
 * position cursor (as the event feed), so that an exporter can poll for what
 * is new with after=nextCursor. A tenant key sees its own tenant's entries
 * only; platform-wide entries (tenantId null) are the administrator's.
 */
import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { visibleTenantFilter, type Actor } from '../access/actor.js';
import { AuditLog } from '../audit/audit-log.js';
import { Access, CurrentActor } from './access.guard.js';
import { AuditLogPage, AuditLogQuery, auditEntryResponse } from './audit-log.dtos.js';

@ApiTags('audit')
@Controller('v1/audit-log')
@Access('admin', 'tenant')
export class AuditLogController {
  constructor(private readonly log: AuditLog) {}

  @Get()
  @ApiOperation({
    summary:
      'The audit log, oldest first: issuances, state changes, CA and credential changes and authentication decisions, each with actor, time, target and outcome (refusals with their problem type). Filter by tenant, action, outcome and target; read on with after=nextCursor.',
  })
  @ApiOkResponse({ type: AuditLogPage })
  async list(@CurrentActor() actor: Actor, @Query() query: AuditLogQuery): Promise<AuditLogPage> {
    const tenantId = visibleTenantFilter(actor, query.tenantId);
    const filter = {
      ...(tenantId !== undefined ? { tenantId } : {}),
      ...(query.action !== undefined ? { action: query.action } : {}),
      ...(query.outcome !== undefined ? { outcome: query.outcome } : {}),
      ...(query.targetId !== undefined ? { targetId: query.targetId } : {}),
    };
    const page = await this.log.read(filter, query.after ?? null, query.limit ?? 100);
    return { items: page.items.map(auditEntryResponse), nextCursor: page.nextCursor };
  }
}
