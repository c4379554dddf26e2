/**
 * The persistence port of the life cycle. Each method is one database
 * transaction that changes state and appends the matching event to the
 * outbox together, so a state change is never without its event or the
 * reverse.
 */
import type { Authority } from '../authorities/authority.js';
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
   * Marks an active CA revoked and revokes every certificate it issued (or,
   * for an external or delegated CA, that is bound under it) that is not
   * revoked yet, with one event. A tenant root takes the delegated
   * intermediates it certified, and their certificates, with it. Null when
   * the CA was not active any more (revoked by a concurrent request).
   */
  abstract revokeAuthority(authority: Authority, reason: RevocationReason, at: Date, event: (revokedCertificates: number) => CcmEvent): Promise<{ revokedCertificates: number } | null>;

  /** Records that a certificate was seen in use; cheap, throttled by `unlessUsedSince`, never an event. */
  abstract recordUse(certificateId: string, at: Date, unlessUsedSince: Date): Promise<void>;
}
