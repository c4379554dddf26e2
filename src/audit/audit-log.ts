/**
 * Recording to and reading from the audit trail. Recording stamps the entry
 * with an id and the injected clock's time and screens it: target and tenant
 * must be record ids, details only short scalars, and anything that looks
 * like key material or a secret (a PEM block, a long mixed-case base64 run
 * such as an API key's or an enrollment secret) is withheld. The screen is a
 * second line: call sites already pick safe members one by one; it exists
 * so that one mistake there cannot put a key into a table tenant keys read.
 *
 * Writing is off the request path and batched: record() hands the entry to
 * one writer and returns; the entries that arrive within LINGER_MS, or while
 * a batch is being written, leave together in the next one (a multi-row
 * INSERT), so the database sees a few statements instead of one per
 * request. A request does not wait for its entry unless MAXIMUM_PENDING
 * entries are already waiting: then it waits for its own (backpressure; an
 * entry is never dropped to make room). A batch that fails is logged with
 * what it held. On an orderly stop the writer is drained once the HTTP
 * server has closed and before the database does (onApplicationShutdown),
 * so nothing recorded is lost; a crash loses what was still queued
 * (normally one batch; under backpressure up to MAXIMUM_PENDING entries).
 * Readers on this replica see every entry recorded before they asked
 * (read() waits for those).
 */
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../shared/clock.js';
import { Coalescer } from '../shared/coalescer.js';
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
/** Rows per INSERT: 10 parameters a row stays far below SQLite's 32,766 and PostgreSQL's 65,535. */
const MAXIMUM_BATCH = 500;
/**
 * How long an entry waits for others to share its INSERT. Nobody waits for
 * the write, so this costs no request anything; without it SQLite, which
 * commits in this process before the next request is even read, wrote (and
 * synced) every entry alone.
 */
const LINGER_MS = 2;
/** Entries queued or being written beyond which record() waits for its own entry: a few seconds' worth at full load. */
export const MAXIMUM_PENDING = 20_000;

export interface AuditPage {
  readonly items: StoredAuditEntry[];
  /** The last position seen: pass it as `after` to read on; an empty page means nothing newer yet. */
  readonly nextCursor: string | null;
}

/** What the writer has done so far (tests, metrics). */
export interface AuditWrites {
  readonly entries: number;
  readonly batches: number;
  /** Entries in batches that failed (each failure is logged). */
  readonly lost: number;
}

@Injectable()
export class AuditLog implements OnApplicationShutdown {
  private readonly logger = new Logger('AuditTrail');
  // One batch out at a time, so batches grow with the load and land in the order they were recorded.
  private readonly writer = new Coalescer<AuditEntry, void>({ maxBatch: MAXIMUM_BATCH, maxInFlight: 1, lingerMs: LINGER_MS, run: (entries) => this.write(entries) });
  private pending = 0;
  /** The write of the latest entry; batches leave one at a time in order, so once it settles all earlier ones have. */
  private latest: Promise<void> = Promise.resolve();
  private counts = { entries: 0, batches: 0, lost: 0 };

  constructor(
    private readonly trail: AuditTrail,
    private readonly clock: Clock,
  ) {}

  /** Screens `fact` into an entry and queues it for writing; resolves once queued, not written (see the header). */
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
    this.pending += 1;
    const written = this.writer.submit(entry).finally(() => (this.pending -= 1));
    this.latest = written;
    if (this.pending > MAXIMUM_PENDING) await written;
    return entry;
  }

  /** Resolves once every entry recorded before the call is written, or its batch's failure logged. Never rejects. */
  flushed(): Promise<void> {
    return this.latest;
  }

  get writes(): AuditWrites {
    return { ...this.counts };
  }

  /** After the HTTP server has closed (no more requests to record) and before PersistenceModule closes the database. */
  async onApplicationShutdown(): Promise<void> {
    await this.writer.drained();
    this.logger.log(`audit log flushed: ${this.counts.entries} entries written by this process${this.counts.lost > 0 ? `, ${this.counts.lost} lost (logged above)` : ''}`);
  }

  /** A page after `cursor` (a position; absent: from the first entry), oldest first. */
  async read(filter: AuditFilter, cursor: string | null, limit: number): Promise<AuditPage> {
    if (cursor !== null && !/^\d{1,15}$/.test(cursor)) throw new InvalidRequest('after must be a position from an earlier page', { field: 'after' });
    // Read your writes: what this replica recorded before the question is in the answer.
    await this.flushed();
    const items = await this.trail.list(filter, cursor === null ? 0 : Number(cursor), limit);
    return { items, nextCursor: items.length > 0 ? String(items[items.length - 1]!.position) : cursor };
  }

  /** Never rejects: a failed batch is logged here, once, and its callers are not failed with it (the answer stands). */
  private async write(entries: readonly AuditEntry[]): Promise<void[]> {
    try {
      await this.trail.append(entries);
      this.counts = { ...this.counts, entries: this.counts.entries + entries.length, batches: this.counts.batches + 1 };
    } catch (error) {
      this.counts = { ...this.counts, lost: this.counts.lost + entries.length };
      const what = entries.map((entry) => `${entry.action} ${entry.outcome} by ${entry.actor} (${entry.id})`);
      this.logger.error(`could not write ${entries.length} audit entries, which are lost: ${what.slice(0, 20).join('; ')}${what.length > 20 ? '; …' : ''}`, error instanceof Error ? error.stack : String(error));
    }
    return entries.map(() => undefined);
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
