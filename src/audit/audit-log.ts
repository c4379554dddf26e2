/**
 * Recording to and reading from the audit trail. Recording stamps the entry
 * with an id and the injected clock's time and screens it: target and tenant
 * must be record ids, details only short scalars, and anything that looks
 * like key material or a secret (a PEM block, a long mixed-case base64 run
 * such as an API key's or an enrollment secret) is withheld. The screen is a
 * second line: call sites already pick safe members one by one; it exists
 * so that one mistake there cannot put a key into a table tenant keys read.
 */
import { Injectable } from '@nestjs/common';
import { Clock } from '../shared/clock.js';
import { InvalidRequest } from '../shared/errors.js';
import { isId, newId } from '../shared/identifiers.js';
import { AuditTrail, type AuditDetails, type AuditDetailScalar, type AuditEntry, type AuditFilter, type StoredAuditEntry } from './audit-trail.js';

/** What a caller knows about a decision; the log adds id and time. */
export type AuditFact = Omit<AuditEntry, 'id' | 'occurredAt' | 'details'> & { readonly details?: Record<string, unknown> | null };

export const WITHHELD = '[withheld]';
const MAX_DETAILS = 16;
const MAX_TEXT = 128;
const DETAIL_KEY = /^[A-Za-z][A-Za-z0-9]{0,31}$/;
/** Runs of base64/base64url characters long enough to be a secret or an encoded key. */
const LONG_TOKEN = /[A-Za-z0-9+/_=-]{32,}/g;
/** Column widths of audit_log (migration 1764400000000). */
const ACTOR_WIDTH = 64;
const REASON_WIDTH = 64;

export interface AuditPage {
  readonly items: StoredAuditEntry[];
  /** The last position seen: pass it as `after` to read on; an empty page means nothing newer yet. */
  readonly nextCursor: string | null;
}

@Injectable()
export class AuditLog {
  constructor(
    private readonly trail: AuditTrail,
    private readonly clock: Clock,
  ) {}

  async record(fact: AuditFact): Promise<AuditEntry> {
    const now = this.clock.now();
    const entry: AuditEntry = {
      id: newId(now.getTime()),
      occurredAt: now,
      tenantId: fact.tenantId !== null && isId(fact.tenantId) ? fact.tenantId : null,
      actor: fact.actor.length <= ACTOR_WIDTH && !looksSecret(fact.actor) ? fact.actor : 'anonymous',
      action: fact.action,
      targetType: fact.targetType,
      // Every object ccm names has a UUID; anything else in a target slot came from a caller and is not kept.
      targetId: fact.targetId !== null && isId(fact.targetId) ? fact.targetId : null,
      outcome: fact.outcome,
      reason: fact.reason === null ? null : fact.reason.slice(0, REASON_WIDTH),
      details: screenDetails(fact.details ?? null),
    };
    await this.trail.record(entry);
    return entry;
  }

  /** A page after `cursor` (a position; absent: from the first entry), oldest first. */
  async read(filter: AuditFilter, cursor: string | null, limit: number): Promise<AuditPage> {
    if (cursor !== null && !/^\d{1,15}$/.test(cursor)) throw new InvalidRequest('after must be a position from an earlier page', { field: 'after' });
    const items = await this.trail.list(filter, cursor === null ? 0 : Number(cursor), limit);
    return { items, nextCursor: items.length > 0 ? String(items[items.length - 1]!.position) : cursor };
  }
}

/** Only short scalars (or short lists of them) under plain keys; nested objects are not audit facts. */
export function screenDetails(details: Record<string, unknown> | null): AuditDetails | null {
  if (details === null) return null;
  const kept: Record<string, AuditDetailScalar | AuditDetailScalar[]> = {};
  for (const [key, value] of Object.entries(details)) {
    if (Object.keys(kept).length === MAX_DETAILS) break;
    if (value === undefined || !DETAIL_KEY.test(key)) continue;
    kept[key] = Array.isArray(value) ? value.slice(0, MAX_DETAILS).map(screenScalar) : screenScalar(value);
  }
  return Object.keys(kept).length > 0 ? kept : null;
}

function screenScalar(value: unknown): AuditDetailScalar {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') return value.length <= MAX_TEXT && !looksSecret(value) ? value : WITHHELD;
  return WITHHELD;
}

/**
 * A PEM block, or a long base64 run mixing upper and lower case: random
 * secrets and encoded keys look like that; hex serials, fingerprints and
 * UUIDs (one case only) do not.
 */
function looksSecret(text: string): boolean {
  if (text.includes('-----BEGIN') || /PRIVATE KEY/i.test(text)) return true;
  return (text.match(LONG_TOKEN) ?? []).some((token) => /[A-Z]/.test(token) && /[a-z]/.test(token));
}
