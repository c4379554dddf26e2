/**
 * Suspend, reactivate and revoke one certificate of a tenant. A transition
 * that loses a race to a concurrent one is answered with the state that won,
 * as an illegal transition (409), never applied twice.
 */
import { Injectable } from '@nestjs/common';
import { AuthorityRepository } from '../authorities/authority.js';
import { CertificateRepository, type ClientCertificate } from '../certificates/client-certificate.js';
import type { RevocationReason } from '@ccm/event-consumer/contract';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { Clock } from '../shared/clock.js';
import { NotFound } from '../shared/errors.js';
import { IllegalTransition, transitionOf, type LifeCycleRequest } from './certificate-transition.js';
import { certificateEvent } from './life-cycle-events.js';
import { LifeCycleStore } from './life-cycle-store.js';
import { RevocationListRefresher } from './revocation-list-refresher.js';

@Injectable()
export class ChangeCertificateState {
  constructor(
    private readonly certificates: CertificateRepository,
    private readonly authorities: AuthorityRepository,
    private readonly store: LifeCycleStore,
    private readonly wakeup: OutboxWakeup,
    private readonly revocationLists: RevocationListRefresher,
    private readonly clock: Clock,
  ) {}

  suspend(tenantId: string, certificateId: string): Promise<ClientCertificate> {
    return this.apply(tenantId, certificateId, { kind: 'suspend' });
  }

  reactivate(tenantId: string, certificateId: string): Promise<ClientCertificate> {
    return this.apply(tenantId, certificateId, { kind: 'reactivate' });
  }

  revoke(tenantId: string, certificateId: string, reason: RevocationReason): Promise<ClientCertificate> {
    return this.apply(tenantId, certificateId, { kind: 'revoke', reason });
  }

  private async apply(tenantId: string, certificateId: string, request: LifeCycleRequest): Promise<ClientCertificate> {
    const certificate = await this.certificates.findById(tenantId, certificateId);
    if (!certificate) throw new NotFound('certificate');
    const changed = await applyTransition(this.store, this.authorities, certificate, request, this.clock.now());
    if (!changed) {
      const now = await this.certificates.findById(tenantId, certificateId);
      throw new IllegalTransition(request.kind, now?.state ?? certificate.state);
    }
    this.wakeup.notify();
    this.revocationLists.refreshSoon(changed.authorityId, changed.crlShard);
    return changed;
  }
}

/** One transition with its event; null when the certificate left `from` in the meantime. */
export async function applyTransition(
  store: LifeCycleStore,
  authorities: AuthorityRepository,
  certificate: ClientCertificate,
  request: LifeCycleRequest,
  at: Date,
): Promise<ClientCertificate | null> {
  const transition = transitionOf(certificate, request, at);
  const issuer = await authorities.findById(certificate.authorityId);
  if (!issuer) throw new Error(`certificate ${certificate.id} names a missing authority ${certificate.authorityId}`);
  return store.applyCertificateTransition(certificate, transition, certificateEvent(certificate, issuer, transition));
}
