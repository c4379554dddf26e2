/**
 * The audit trail: who did what to which object, when, and how it ended
 * (succeeded; refused, and why; failed). Entries are facts about decisions,
 * never copies of what was exchanged: no PEM, key, secret, API key,
 * Authorization header or request body goes in. `details` holds a few
 * scalars (a serial number, a state, a reason code) and is screened on the
 * way in (AuditLog) so that a mistake at a call site cannot store a key.
 */

/** Every action the trail knows; the HTTP edge names one per mutating route (`@Audited`). */
export const AUDIT_ACTIONS = [
  'tenant.create',
  'certificate.issue',
  'certificate.suspend',
  'certificate.reactivate',
  'certificate.revoke',
  'certificate.renew',
  'authority.revoke',
  'authority.roll-over',
  'authority.activate',
  'authority.retire',
  'authority.create-external',
  'authority.create-intermediate',
  'authority.remove',
  'identity-rules.update',
  'platform-ca.import',
  'api-credential.create',
  'api-credential.revoke',
  'enrollment-credential.create',
  'enrollment-credential.revoke',
  'event-subscriber.create',
  'event-subscriber.delete',
  'device.register',
  'device.unregister',
  'device.authenticate',
  'est.enroll',
  'est.reenroll',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AUDIT_TARGET_TYPES = ['tenant', 'certificate', 'authority', 'api-credential', 'enrollment-credential', 'event-subscriber', 'device'] as const;
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

/** succeeded: done. refused: ccm said no (a 4xx: not allowed, invalid, illegal, a refused device). failed: ccm could not (a 5xx). */
export const AUDIT_OUTCOMES = ['succeeded', 'refused', 'failed'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export type AuditDetailScalar = string | number | boolean | null;
export type AuditDetails = Readonly<Record<string, AuditDetailScalar | readonly AuditDetailScalar[]>>;

export interface AuditEntry {
  readonly id: string;
  readonly occurredAt: Date;
  /** The tenant the action concerns; null for platform-wide ones (the platform CA, subscribers, administrator keys) and when unknown. */
  readonly tenantId: string | null;
  /** "bootstrap-admin", "<role>:<API credential id>", "enrollment:<enrollment credential id>", "certificate:<certificate id>" (EST re-enrollment) or "anonymous". */
  readonly actor: string;
  readonly action: AuditAction;
  readonly targetType: AuditTargetType | null;
  /** The object the request names, or the one it created; null when neither is known (a refused creation). */
  readonly targetId: string | null;
  readonly outcome: AuditOutcome;
  /** For refused and failed: the problem type's suffix (certificate-revoked, forbidden, illegal-transition, internal…); null on success. */
  readonly reason: string | null;
  readonly details: AuditDetails | null;
}

export interface AuditFilter {
  readonly tenantId?: string;
  readonly action?: AuditAction;
  readonly outcome?: AuditOutcome;
  readonly targetId?: string;
}

export interface StoredAuditEntry {
  /** Insertion order: the cursor of the listing. */
  readonly position: number;
  readonly entry: AuditEntry;
}

export abstract class AuditTrail {
  /** Writes the entries in one statement, in order (their positions follow it); all or none. */
  abstract append(entries: readonly AuditEntry[]): Promise<void>;
  /** Entries after `position`, oldest first, at most `limit`, matching every member the filter gives. */
  abstract list(filter: AuditFilter, after: number, limit: number): Promise<StoredAuditEntry[]>;
}
