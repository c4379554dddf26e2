/**
 * The event contract brokers consume (version 1), owned by this package so that ccm (which publishes it) and the broker side (which consumes it) share one definition. Its JSON Schema is
 * openapi/events/ccm-event.v1.schema.json; a test checks every published
 * event against it. Changing a field here is a new contract version.
 */

export const EVENT_SCHEMA_VERSION = 1;

export const EVENT_TYPES = ['certificate.activated', 'certificate.suspended', 'certificate.reactivated', 'certificate.revoked', 'authority.revoked', 'authority.published', 'authority.rolled-over', 'authority.retired'] as const;
/** The events about a CA rather than one certificate: certificateId is null on them. */
export const AUTHORITY_EVENT_TYPES = ['authority.revoked', 'authority.published', 'authority.rolled-over', 'authority.retired'] as const satisfies readonly EventType[];
export type EventType = (typeof EVENT_TYPES)[number];

/** RFC 5280 §5.3.1 CRLReason names and codes; certificateHold is what a suspension is, removeFromCRL is never a revocation. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;
/** The reasons a caller may give for a revocation (certificateHold is a suspension, not a revocation). */
export const REVOKE_REASONS = (Object.keys(REVOCATION_REASONS) as RevocationReason[]).filter((r) => r !== 'certificateHold');

export interface CcmEvent {
  readonly schemaVersion: typeof EVENT_SCHEMA_VERSION;
  /** uuidv7; also the BullMQ job id, so a replay never duplicates. */
  readonly id: string;
  readonly type: EventType;
  /** ISO 8601: when ccm applied the transition (taken just before its transaction commits). */
  readonly time: string;
  readonly tenantId: string;
  /**
   * The CA that issued the certificate; for authority events, the CA itself: the revoked or retired one, the new
   * root published by a staged rollover, and for authority.rolled-over the new root, which signs the tenant's
   * certificates from now on.
   */
  readonly authorityId: string;
  /** null for authority events. */
  readonly certificateId: string | null;
  /** Hex, lower case, no separators or leading zeros (as the API prints it); for authority events, the CA certificate's serial. */
  readonly serialNumber: string;
  /** SHA-256 of the certificate's DER, hex lower case. */
  readonly fingerprintSha256: string;
  /** The device identity (subject CN); for authority events, the CA's CN. */
  readonly commonName: string;
  /** Issuer DN, RFC 4514 as ccm prints it. */
  readonly issuer: string;
  /** RFC 5280 reason name: set on certificate.suspended (certificateHold), certificate.revoked and authority.revoked; null otherwise. */
  readonly reason: RevocationReason | null;
  /**
   * The certificate state after the transition; for authority events the CA's: revoked (authority.revoked), published
   * (authority.published: a new root to trust, signing nothing yet), active (authority.rolled-over: the new root),
   * retired (authority.retired).
   */
  readonly state: 'active' | 'inactive' | 'suspended' | 'revoked' | 'published' | 'retired';
  /** authority.revoked only: how many certificates the CA had issued that were revoked with it. */
  readonly revokedCertificates?: number;
  /** authority.rolled-over only: the root it replaced, now retiring (its certificates stay valid until they expire). */
  readonly previousAuthorityId?: string;
}

/** A subscriber's BullMQ queue: one per subscriber, so every broker node sees every event. */
export function subscriberQueueName(subscriberId: string): string {
  return `ccm-events-${subscriberId}`;
}

/**
 * The one URI subject alternative name of the client certificates ccm issues
 * (unless CCM_CLIENT_CERTIFICATE_ID_URI=off): the RFC 4122 URN of the
 * certificate's record id (RFC 9562 keeps the form), so a broker can map a
 * certificate to a user by one exact lookup and tell two certificates of one
 * subject apart. The id in its lowercase text form, as ccm writes ids.
 */
export function certificateUrn(certificateId: string): string {
  return `urn:uuid:${certificateId.toLowerCase()}`;
}
