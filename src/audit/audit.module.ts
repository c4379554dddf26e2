/**
 * Audit: the trail of issuances, state changes, CA and credential changes
 * and authentication decisions, and reading it back per tenant.
 *
 * When entries are written: the HTTP edge records a decision after the use
 * case has returned (or thrown), not in the use case's transaction. So an
 * entry can be lost when the database fails between the two (the change is
 * committed, its entry is not; the failure is logged), and a reader may see
 * a change a moment before its entry. The other way round cannot happen: an
 * entry never claims a change that was rolled back. Writing in the same
 * transaction would make every use case carry an audit context for one
 * INSERT that the events outbox already gives for state changes (which have
 * their own, transactional, record there). The entry is queued, not written,
 * when the answer goes out: AuditLog writes in batches off the request path
 * and drains on an orderly stop (see audit-log.ts).
 *
 * The AuditTrail port is bound to its TypeORM adapter by PersistenceModule.
 */
import { Module } from '@nestjs/common';
import { AuditLog } from './audit-log.js';

@Module({ providers: [AuditLog], exports: [AuditLog] })
export class AuditModule {}
