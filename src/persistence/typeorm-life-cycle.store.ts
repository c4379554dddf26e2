/**
 * LifeCycleStore on TypeORM: conditional updates plus their outbox rows in
 * one transaction, concurrent certificate transitions batched into one.
 */
import { Injectable } from '@nestjs/common';
import { DataSource, In, IsNull, LessThan, Not, Or, type EntityManager } from 'typeorm';
import { IN_FORCE_STATUSES, type Authority, type AuthorityCertificate } from '../authorities/authority.js';
import type { ClientCertificate } from '../certificates/client-certificate.js';
import type { CcmEvent, RevocationReason } from '@ccm/event-consumer/contract';
import type { Transition } from '../lifecycle/certificate-transition.js';
import { LifeCycleStore } from '../lifecycle/life-cycle-store.js';
import { CertificateTransitionMetrics } from '../metrics/metrics.js';
import { AuthorityRow, CertificateRow } from './entities.js';
import { Coalescer } from '../shared/coalescer.js';
import { dialectOf, valueRows } from './sql-batches.js';
import { appendAllToOutbox, appendToOutbox } from './typeorm-outbox.js';
import { Transactions } from './transactions.js';
import { toClientCertificate } from './typeorm-certificate.repository.js';
import { claimingAuthorityName, claimingTenantRoot, toAuthority } from './typeorm-authority.repository.js';
import { comparableSubject } from '../codec/name-comparison.js';

/**
 * Concurrent transitions share one transaction (group commit). Each
 * transaction takes its CA's row lock and the outbox lock and holds them to
 * commit, so transitions of one CA ran one after another anyway, each paying
 * six round trips under those locks: a burst of 100 suspensions took 0.7 s
 * on an idle machine and 2-3 s beside a broker under load (measured), and
 * the CRL reads of the brokers acting on those very suspensions queued
 * behind it. A batch pays the same six round trips for all of its
 * transitions. On PostgreSQL a second batch prepares (its conditional
 * updates) while the first holds the locks; SQLite has one writer.
 */
const BATCHES_IN_FLIGHT = { postgres: 2, sqlite: 1 } as const;
const MAXIMUM_BATCH = 100;

interface RequestedTransition {
  readonly certificate: ClientCertificate;
  readonly transition: Transition;
  readonly event: CcmEvent;
  /** What the transition sets besides the state (changesOf), worked out once. */
  readonly changes: Partial<CertificateRow>;
}

/** The columns a transition sets besides its state, as the entity's property names. */
function changesOf(transition: Transition): Partial<CertificateRow> {
  const changes: Partial<CertificateRow> = { updatedAt: transition.at };
  if (transition.to === 'active' && transition.from === 'inactive') changes.firstUsedAt = transition.at;
  if (transition.to === 'suspended') changes.suspendedAt = transition.at;
  if (transition.from === 'suspended') changes.suspendedAt = null;
  if (transition.to === 'revoked') Object.assign(changes, { revokedAt: transition.at, revocationReason: transition.reason });
  return changes;
}

@Injectable()
export class TypeormLifeCycleStore extends LifeCycleStore {
  private readonly batches: Coalescer<RequestedTransition, ClientCertificate | null>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
    private readonly metrics: CertificateTransitionMetrics,
  ) {
    super();
    this.batches = new Coalescer({ maxBatch: MAXIMUM_BATCH, maxInFlight: BATCHES_IN_FLIGHT[dialectOf(dataSource)], run: (requests) => this.applyBatch(requests) });
  }

  async applyCertificateTransition(certificate: ClientCertificate, transition: Transition, event: CcmEvent): Promise<ClientCertificate | null> {
    const changed = await this.batches.submit({ certificate, transition, event, changes: changesOf(transition) });
    // Counted once committed: a transition that lost its race, or rolled back, changed nothing.
    if (changed) this.metrics.transitioned(transition.from, transition.to, 1);
    return changed;
  }

  /**
   * Two transitions of one certificate in a batch (a suspension and a
   * revocation at once) go to successive transactions, so the second meets
   * the state the first left, as it would have alone.
   */
  private async applyBatch(requests: readonly RequestedTransition[]): Promise<(ClientCertificate | null | Error)[]> {
    const outcomes: (ClientCertificate | null | Error)[] = new Array<ClientCertificate | null | Error>(requests.length).fill(null);
    let remaining = requests.map((request, index) => ({ request, index }));
    while (remaining.length > 0) {
      const round: typeof remaining = [];
      const later: typeof remaining = [];
      const inRound = new Set<string>();
      for (const entry of remaining) {
        if (inRound.has(entry.request.certificate.id)) later.push(entry);
        else {
          inRound.add(entry.request.certificate.id);
          round.push(entry);
        }
      }
      const changed = await this.applyRoundAlone(round.map(({ request }) => request));
      round.forEach((entry, i) => (outcomes[entry.index] = changed[i]!));
      remaining = later;
    }
    return outcomes;
  }

  /**
   * A round that fails is tried again one transition at a time, so that only
   * the transition at fault fails (its own error). One after another: all at
   * once they would take a pooled connection each only to queue for the CA's
   * row lock.
   */
  private async applyRoundAlone(requests: readonly RequestedTransition[]): Promise<(ClientCertificate | null | Error)[]> {
    try {
      return await this.transactions.run((manager) => this.applyRound(manager, requests));
    } catch (error) {
      if (requests.length === 1) throw error;
      const outcomes: (ClientCertificate | null | Error)[] = [];
      for (const request of requests) {
        try {
          outcomes.push((await this.transactions.run((manager) => this.applyRound(manager, [request])))[0]!);
        } catch (failure) {
          outcomes.push(failure instanceof Error ? failure : new Error(String(failure)));
        }
      }
      return outcomes;
    }
  }

  /** Transitions of distinct certificates in one transaction; each one's record when it applied, null when the certificate had left its `from` state. */
  private async applyRound(manager: EntityManager, requests: readonly RequestedTransition[]): Promise<(ClientCertificate | null)[]> {
    const applied = new Set<string>();
    for (const group of groupBy(requests, (request) => Object.keys(request.changes).sort().join(','))) {
      for (const id of await updateIfInState(manager, group)) applied.add(id);
    }
    const winners = requests.filter((request) => applied.has(request.certificate.id));
    if (winners.length === 0) return requests.map(() => null);
    // Read before the CA's row lock and the outbox lock are taken: every statement after them is waited for by
    // every other transition of the CA (and every event) until this one commits.
    const rows = new Map((await manager.findBy(CertificateRow, { id: In(winners.map((request) => request.certificate.id)) })).map((row) => [row.id, row]));
    const listChanges = new Map<string, number>();
    for (const { certificate, transition } of winners) {
      if (transition.changesRevocationList) listChanges.set(certificate.authorityId, (listChanges.get(certificate.authorityId) ?? 0) + 1);
    }
    // In one order across batches, so two batches in flight never wait for each other's CA rows.
    for (const [authorityId, count] of [...listChanges].sort(([a], [b]) => a.localeCompare(b))) {
      await manager.increment(AuthorityRow, { id: authorityId }, 'revocationVersion', count);
    }
    await appendAllToOutbox(manager, winners.map((request) => request.event));
    return requests.map((request) => {
      const row = rows.get(request.certificate.id);
      return row ? toClientCertificate(row) : null;
    });
  }

  async revokeAuthority(authority: Authority, reason: RevocationReason, at: Date, event: (revokedCertificates: number) => CcmEvent): Promise<{ revokedCertificates: number } | null> {
    const revoked = await this.revokeAuthorityAndIssued(authority, reason, at, event);
    // One statement revokes them whatever state each was in: counted as from "any".
    if (revoked) this.metrics.transitioned('any', 'revoked', revoked.revokedCertificates);
    return revoked;
  }

  private revokeAuthorityAndIssued(authority: Authority, reason: RevocationReason, at: Date, event: (revokedCertificates: number) => CcmEvent): Promise<{ revokedCertificates: number } | null> {
    return this.transactions.run(async (manager: EntityManager) => {
      const claimed = await manager.update(AuthorityRow, { id: authority.id, status: In([...IN_FORCE_STATUSES]) }, { status: 'revoked', revokedAt: at, revocationReason: reason, updatedAt: at });
      if ((claimed.affected ?? 0) !== 1) return null;
      // The delegated intermediates it certified fall with it (a pending one too: its signing must not complete into a usable CA).
      const delegated = await manager.find(AuthorityRow, { select: { id: true }, where: { issuerAuthorityId: authority.id, kind: 'intermediate', status: In(['pending', 'active']) } });
      const delegatedIds = delegated.map((row) => row.id);
      if (delegatedIds.length > 0) {
        await manager.update(AuthorityRow, { id: In(delegatedIds), status: In(['pending', 'active']) }, { status: 'revoked', revokedAt: at, revocationReason: reason, updatedAt: at });
      }
      // pending rows are revoked too: if their signing completes after all, the certificate must not be usable.
      const revoked = await manager.update(
        CertificateRow,
        { authorityId: In([authority.id, ...delegatedIds]), state: In(['pending', 'inactive', 'active', 'suspended']) },
        { state: 'revoked', revokedAt: at, revocationReason: reason, suspendedAt: null, updatedAt: at },
      );
      await manager.increment(AuthorityRow, { id: In([authority.id, ...delegatedIds]) }, 'revocationVersion', 1);
      // A delegated intermediate's status is its issuer's to tell (OCSP): the issuer's cached answers are stale now.
      if (authority.kind === 'intermediate' && authority.issuerAuthorityId !== null) await manager.increment(AuthorityRow, { id: authority.issuerAuthorityId }, 'revocationVersion', 1);
      const revokedCertificates = revoked.affected ?? 0;
      await appendToOutbox(manager, event(revokedCertificates));
      return { revokedCertificates };
    });
  }

  async rollOverTenantRoot(previous: Authority, next: Authority, from: { readonly status: 'pending'; readonly certificate: AuthorityCertificate } | { readonly status: 'published' }, at: Date, event: CcmEvent): Promise<boolean> {
    const certificateColumns = from.status === 'pending' ? { ...from.certificate, subjectKey: comparableSubject(from.certificate.subject) } : {};
    return claimingAuthorityName(() =>
      this.transactions.run(async (manager: EntityManager) => {
        // The old root first: the index allows one active root per tenant, and this update is also the claim that it still is.
        const retiring = await manager.update(AuthorityRow, { id: previous.id, kind: 'tenant-root', status: 'active' }, { status: 'retiring', updatedAt: at });
        if ((retiring.affected ?? 0) !== 1) return false;
        const activated = await manager.update(AuthorityRow, { id: next.id, kind: 'tenant-root', status: from.status }, { ...certificateColumns, status: 'active', updatedAt: at });
        // Nothing of the first update may commit without the second: the transaction rolls back on the throw.
        if ((activated.affected ?? 0) !== 1) throw new RolloverAbandoned();
        await appendToOutbox(manager, event);
        return true;
      }),
    ).catch((error: unknown) => {
      if (error instanceof RolloverAbandoned) return false;
      throw error;
    });
  }

  async publishTenantRoot(next: Authority, certificate: AuthorityCertificate, at: Date, event: CcmEvent): Promise<boolean> {
    return claimingTenantRoot(() =>
      claimingAuthorityName(() =>
        this.transactions.run(async (manager: EntityManager) => {
          const published = await manager.update(AuthorityRow, { id: next.id, kind: 'tenant-root', status: 'pending' }, { ...certificate, subjectKey: comparableSubject(certificate.subject), status: 'published', updatedAt: at });
          if ((published.affected ?? 0) !== 1) return false;
          await appendToOutbox(manager, event);
          return true;
        }),
      ),
    );
  }

  async retiringRootsExpiredBy(now: Date): Promise<Authority[]> {
    const at = now.toISOString();
    const rows = await this.dataSource
      .getRepository(AuthorityRow)
      .createQueryBuilder('a')
      .where("a.kind = 'tenant-root' AND a.status = 'retiring'")
      // Pending and failed rows are no certificates; a revoked one still has a notAfter, but nothing trusts it any more.
      .andWhere("NOT EXISTS (SELECT 1 FROM certificates c WHERE c.authority_id = a.id AND c.state NOT IN ('pending', 'failed', 'revoked') AND c.not_after > :at)", { at })
      .andWhere("NOT EXISTS (SELECT 1 FROM authorities i WHERE i.issuer_authority_id = a.id AND i.kind = 'intermediate' AND i.status IN ('pending', 'active') AND i.not_after > :at)", { at })
      .getMany();
    return rows.map(toAuthority);
  }

  async retire(authority: Authority, at: Date, event: CcmEvent): Promise<boolean> {
    return this.transactions.run(async (manager: EntityManager) => {
      const retired = await manager.update(AuthorityRow, { id: authority.id, status: 'retiring' }, { status: 'retired', updatedAt: at });
      if ((retired.affected ?? 0) !== 1) return false;
      await appendToOutbox(manager, event);
      return true;
    });
  }

  async recordUse(certificateId: string, at: Date, unlessUsedSince: Date): Promise<void> {
    await this.transactions.run((manager) =>
      manager.update(CertificateRow, { id: certificateId, state: Not('revoked'), lastUsedAt: Or(IsNull(), LessThan(unlessUsedSince)) }, { lastUsedAt: at }),
    );
  }
}

/** The new root was no longer pending (marked failed as abandoned) or published when its rollover was to take effect: nothing changes. */
class RolloverAbandoned extends Error {}

function groupBy<T>(items: readonly T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return [...groups.values()];
}

/**
 * One conditional UPDATE for transitions that set the same columns: each
 * certificate moves only from its transition's `from` state, so one that a
 * concurrent request moved first is left alone. The ids it moved.
 */
async function updateIfInState(manager: EntityManager, requests: readonly RequestedTransition[]): Promise<string[]> {
  const metadata = manager.connection.getMetadata(CertificateRow);
  const properties = Object.keys(requests[0]!.changes) as (keyof CertificateRow)[];
  const columns = properties.map((property) => metadata.findColumnWithPropertyName(property)!);
  // Each value as the column's transformer stores it (ISO text for timestamps), so the rows read back as TypeORM wrote them.
  const stored = (request: RequestedTransition, index: number): unknown => {
    const value = request.changes[properties[index]!];
    const transformer = columns[index]!.transformer;
    return value === null || value === undefined || !transformer || Array.isArray(transformer) ? (value ?? null) : transformer.to(value);
  };
  const dialect = dialectOf(manager.connection);
  const names = columns.map((column) => column.databaseName);
  // A CTE names the VALUES columns the same way in both dialects (SQLite has no `AS v(a, b)` column aliases).
  const sql =
    `WITH t (id, from_state, to_state, ${names.join(', ')}) AS (VALUES ${valueRows(dialect, requests.length, 3 + names.length)}) ` +
    `UPDATE certificates SET state = t.to_state, ${names.map((name) => `${name} = t.${name}`).join(', ')} ` +
    'FROM t WHERE certificates.id = t.id AND certificates.state = t.from_state RETURNING certificates.id';
  const parameters = requests.flatMap((request) => [request.certificate.id, request.transition.from, request.transition.to, ...names.map((_, i) => stored(request, i))]);
  const result = await manager.queryRunner!.query(sql, parameters, true);
  return (result.records as { id: string }[]).map((record) => record.id);
}
