/**
 * The persistence port of the life cycle. Each method is one database
 * transaction that changes state and appends the matching event to the
 * outbox together, so a state change is never without its event or the
 * reverse.
 */
import type { Authority, AuthorityCertificate } from '../authorities/authority.js';
import type { ClientCertificate } from '../certificates/client-certificate.js';
import type { CcmEvent, RevocationReason } from '@ccm/event-consumer/contract';
import type { Transition } from './certificate-transition.js';

export abstract class LifeCycleStore {
  /**
   * Applies `transition` only if the certificate is still in `transition.from`
   * (a conditional update), appending `event` in the same transaction.
   * Returns the certificate after the change, or null when another request
   * changed it first.
   */
  abstract applyCertificateTransition(certificate: ClientCertificate, transition: Transition, event: CcmEvent): Promise<ClientCertificate | null>;

  /**
   * Marks a CA in force (active, or a retiring tenant root) revoked and revokes every certificate it issued (or,
   * for an external or delegated CA, that is bound under it) that is not
   * revoked yet, with one event. A tenant root takes the delegated
   * intermediates it certified, and their certificates, with it. Null when
   * the CA was not in force any more (revoked by a concurrent request).
   */
  abstract revokeAuthority(authority: Authority, reason: RevocationReason, at: Date, event: (revokedCertificates: number) => CcmEvent): Promise<{ revokedCertificates: number } | null>;

  /**
   * A tenant root rollover takes effect: `next` becomes active and `previous`, active, becomes retiring, with
   * `event`. `next` is pending, and gets `certificate` (a one-step rollover), or published, with its certificate
   * already (a staged one, activated). False, changing nothing, when `previous` was no longer active (revoked
   * meanwhile) or `next` no longer in that status.
   */
  abstract rollOverTenantRoot(previous: Authority, next: Authority, from: { readonly status: 'pending'; readonly certificate: AuthorityCertificate } | { readonly status: 'published' }, at: Date, event: CcmEvent): Promise<boolean>;

  /** A staged rollover's new root, pending, is published with its certificate and `event`; false when it was no longer pending. */
  abstract publishTenantRoot(next: Authority, certificate: AuthorityCertificate, at: Date, event: CcmEvent): Promise<boolean>;

  /** The retiring tenant roots of which nothing issued (certificates, delegated intermediates) is valid after `now`. */
  abstract retiringRootsExpiredBy(now: Date): Promise<Authority[]>;

  /** A retiring root becomes retired, with `event`; false when it was not retiring any more. */
  abstract retire(authority: Authority, at: Date, event: CcmEvent): Promise<boolean>;

  /** Records that a certificate was seen in use; cheap, throttled by `unlessUsedSince`, never an event. */
  abstract recordUse(certificateId: string, at: Date, unlessUsedSince: Date): Promise<void>;
}
