/**
 * The certificate life cycle as rules (../shared/DESIGN.md): which state a
 * request may move a certificate from and to, and which event says so. Plain
 * functions; the store applies a transition as one conditional update.
 *
 *   inactive ──first use──► active
 *   inactive/active ──suspend──► suspended ──reactivate──► back where it was
 *   any issued state ──revoke──► revoked (terminal)
 */
import type { CertificateState, ClientCertificate } from '../certificates/client-certificate.js';
import type { EventType, RevocationReason } from '@ccm/event-consumer/contract';
import { DomainError } from '../shared/errors.js';
import type { LifeCycleState } from '../shared/life-cycle-state.js';

export type LifeCycleRequest = { readonly kind: 'activate' } | { readonly kind: 'suspend' } | { readonly kind: 'reactivate' } | { readonly kind: 'revoke'; readonly reason: RevocationReason };

export interface Transition {
  readonly from: LifeCycleState;
  readonly to: LifeCycleState;
  readonly eventType: EventType;
  readonly reason: RevocationReason | null;
  readonly at: Date;
  /** Suspensions, reactivations and revocations change what the issuer's CRL must say. */
  readonly changesRevocationList: boolean;
}

export class IllegalTransition extends DomainError {
  constructor(action: LifeCycleRequest['kind'], state: CertificateState) {
    super('illegal-transition', `cannot ${action} a certificate that is ${state}`, { state, action });
  }
}

export function transitionOf(certificate: ClientCertificate, request: LifeCycleRequest, at: Date): Transition {
  const from = certificate.state;
  const illegal = (): never => {
    throw new IllegalTransition(request.kind, from);
  };
  if (from !== 'inactive' && from !== 'active' && from !== 'suspended' && from !== 'revoked') return illegal();
  switch (request.kind) {
    case 'activate':
      if (from !== 'inactive') return illegal();
      return { from, to: 'active', eventType: 'certificate.activated', reason: null, at, changesRevocationList: false };
    case 'suspend':
      if (from !== 'inactive' && from !== 'active') return illegal();
      return { from, to: 'suspended', eventType: 'certificate.suspended', reason: 'certificateHold', at, changesRevocationList: true };
    case 'reactivate':
      if (from !== 'suspended') return illegal();
      // A suspension interrupts, it does not erase history: a certificate never used goes back to inactive.
      return { from, to: certificate.firstUsedAt ? 'active' : 'inactive', eventType: 'certificate.reactivated', reason: null, at, changesRevocationList: true };
    case 'revoke':
      if (from === 'revoked') return illegal();
      return { from, to: 'revoked', eventType: 'certificate.revoked', reason: request.reason, at, changesRevocationList: true };
  }
}
