/** Builds the contract events (packages/event-consumer/src/event-contract.ts) from the records a transition touches. */
import type { Authority } from '../authorities/authority.js';
import type { ClientCertificate } from '../certificates/client-certificate.js';
import { EVENT_SCHEMA_VERSION, type CcmEvent, type RevocationReason } from '@ccm/event-consumer/contract';
import { newId } from '../shared/identifiers.js';
import type { Transition } from './certificate-transition.js';

export function certificateEvent(certificate: ClientCertificate, issuer: Authority, transition: Transition): CcmEvent {
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    id: newId(),
    type: transition.eventType,
    time: transition.at.toISOString(),
    tenantId: certificate.tenantId,
    authorityId: certificate.authorityId,
    certificateId: certificate.id,
    serialNumber: certificate.serialNumber,
    fingerprintSha256: certificate.fingerprintSha256 ?? '',
    commonName: certificate.commonName,
    issuer: issuer.subject,
    reason: transition.reason,
    state: transition.to,
  };
}

/** `issuerSubject`: the DN of the revoked CA's issuer (for an external CA, whatever its certificate names: ccm has no record of it). */
export function authorityRevokedEvent(authority: Authority, issuerSubject: string, reason: RevocationReason, at: Date, revokedCertificates: number): CcmEvent {
  return { ...authorityEvent(authority, issuerSubject, at), type: 'authority.revoked', reason, state: 'revoked', revokedCertificates };
}

/** The CN of a subject as ccm prints it (RFC 4514, most specific first). */
function commonNameOfSubject(subject: string): string {
  const match = /(?:^|,)CN=((?:\\.|[^,\\])*)/.exec(subject);
  return match ? match[1]!.replace(/\\(.)/g, '$1') : subject;
}

/** A tenant root rollover took effect: `next` signs from now on, `previous` is retiring. `issuerSubject`: the platform CA's DN. */
export function authorityRolledOverEvent(next: Authority, previous: Authority, issuerSubject: string, at: Date): CcmEvent {
  return { ...authorityEvent(next, issuerSubject, at), type: 'authority.rolled-over', reason: null, state: 'active', previousAuthorityId: previous.id };
}

/** A staged rollover certified `next`: brokers are to trust it now; it signs nothing until activated (then authority.rolled-over). */
export function authorityPublishedEvent(next: Authority, issuerSubject: string, at: Date): CcmEvent {
  return { ...authorityEvent(next, issuerSubject, at), type: 'authority.published', reason: null, state: 'published' };
}

/** A retiring root's last certificate expired: it is out of every trust bundle from now on. */
export function authorityRetiredEvent(authority: Authority, issuerSubject: string, at: Date): CcmEvent {
  return { ...authorityEvent(authority, issuerSubject, at), type: 'authority.retired', reason: null, state: 'retired' };
}

function authorityEvent(authority: Authority, issuerSubject: string, at: Date): Omit<CcmEvent, 'type' | 'reason' | 'state'> {
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    id: newId(),
    time: at.toISOString(),
    tenantId: authority.tenantId!,
    authorityId: authority.id,
    certificateId: null,
    serialNumber: authority.serialNumber ?? '',
    fingerprintSha256: authority.fingerprintSha256 ?? '',
    commonName: commonNameOfSubject(authority.subject),
    issuer: issuerSubject,
  };
}
