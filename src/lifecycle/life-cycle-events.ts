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
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    id: newId(),
    type: 'authority.revoked',
    time: at.toISOString(),
    tenantId: authority.tenantId!,
    authorityId: authority.id,
    certificateId: null,
    serialNumber: authority.serialNumber ?? '',
    fingerprintSha256: authority.fingerprintSha256 ?? '',
    commonName: commonNameOfSubject(authority.subject),
    issuer: issuerSubject,
    reason,
    state: 'revoked',
    revokedCertificates,
  };
}

/** The CN of a subject as ccm prints it (RFC 4514, most specific first). */
function commonNameOfSubject(subject: string): string {
  const match = /(?:^|,)CN=((?:\\.|[^,\\])*)/.exec(subject);
  return match ? match[1]!.replace(/\\(.)/g, '$1') : subject;
}
