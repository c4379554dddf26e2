/**
 * LifeCycleStore on TypeORM: conditional updates plus an outbox row, in one
 * transaction each.
 */
import { Injectable } from '@nestjs/common';
import { In, IsNull, LessThan, Not, Or, type EntityManager } from 'typeorm';
import type { Authority } from '../authorities/authority.js';
import type { ClientCertificate } from '../certificates/client-certificate.js';
import type { CcmEvent, RevocationReason } from '@ccm/event-consumer/contract';
import type { Transition } from '../lifecycle/certificate-transition.js';
import { LifeCycleStore } from '../lifecycle/life-cycle-store.js';
import { CertificateTransitionMetrics } from '../metrics/metrics.js';
import { AuthorityRow, CertificateRow } from './entities.js';
import { appendToOutbox } from './typeorm-outbox.js';
import { Transactions } from './transactions.js';
import { toClientCertificate } from './typeorm-certificate.repository.js';

/**
 * Transitions running at once. Each takes its CA's row lock and the outbox
 * lock and holds them to commit, so those of one CA run one after another
 * anyway; the others would each hold a pooled connection only to wait. A
 * burst of 100 suspensions took all 20 connections that way, and every other
 * query (the CRL a broker agent fetches for those very suspensions, the
 * audit rows) queued behind them for seconds (measured). A few at once keep
 * the lock busy, and the rest wait here without a connection.
 */
const TRANSITIONS_AT_ONCE = 4;

@Injectable()
export class TypeormLifeCycleStore extends LifeCycleStore {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly transactions: Transactions,
    private readonly metrics: CertificateTransitionMetrics,
  ) {
    super();
  }

  async applyCertificateTransition(certificate: ClientCertificate, transition: Transition, event: CcmEvent): Promise<ClientCertificate | null> {
    if (this.running >= TRANSITIONS_AT_ONCE) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running += 1;
    try {
      const changed = await this.transition(certificate, transition, event);
      // Counted once committed: a transition that lost its race, or rolled back, changed nothing.
      if (changed) this.metrics.transitioned(transition.from, transition.to, 1);
      return changed;
    } finally {
      // Handed on directly, so a newcomer cannot overtake those waiting.
      const next = this.waiting.shift();
      if (next) next();
      else this.running -= 1;
    }
  }

  private transition(certificate: ClientCertificate, transition: Transition, event: CcmEvent): Promise<ClientCertificate | null> {
    return this.transactions.run(async (manager) => {
      const changes: Partial<CertificateRow> = { state: transition.to, updatedAt: transition.at };
      if (transition.to === 'active' && transition.from === 'inactive') changes.firstUsedAt = transition.at;
      if (transition.to === 'suspended') changes.suspendedAt = transition.at;
      if (transition.from === 'suspended') changes.suspendedAt = null;
      if (transition.to === 'revoked') Object.assign(changes, { revokedAt: transition.at, revocationReason: transition.reason });
      const result = await manager.update(CertificateRow, { id: certificate.id, state: transition.from }, changes);
      if ((result.affected ?? 0) !== 1) return null;
      // Read before the CA's row lock and the outbox lock are taken: every statement after them is waited for by
      // every other transition of the CA (and every event) until this one commits.
      const row = await manager.findOneByOrFail(CertificateRow, { id: certificate.id });
      if (transition.changesRevocationList) await manager.increment(AuthorityRow, { id: certificate.authorityId }, 'revocationVersion', 1);
      await appendToOutbox(manager, event);
      return toClientCertificate(row);
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
      const claimed = await manager.update(AuthorityRow, { id: authority.id, status: 'active' }, { status: 'revoked', revokedAt: at, revocationReason: reason, updatedAt: at });
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

  async recordUse(certificateId: string, at: Date, unlessUsedSince: Date): Promise<void> {
    await this.transactions.run((manager) =>
      manager.update(CertificateRow, { id: certificateId, state: Not('revoked'), lastUsedAt: Or(IsNull(), LessThan(unlessUsedSince)) }, { lastUsedAt: at }),
    );
  }
}
