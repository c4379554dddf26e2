/**
 * Checks that a delivered payload is a ccm event of a contract version this
 * library understands (event-contract.ts), before any handler
 * sees it. Hand-written rather than schema-driven so the consumer carries no
 * runtime dependency beyond BullMQ; the medium tests hold it to the contract.
 */
import { AUTHORITY_EVENT_TYPES, EVENT_SCHEMA_VERSION, EVENT_TYPES, REVOCATION_REASONS, type CcmEvent, type EventType, type RevocationReason } from './event-contract.js';

const STATES = ['active', 'inactive', 'suspended', 'revoked', 'published', 'retired'] as const;
/** The state each authority event leaves its CA in. */
const AUTHORITY_STATE: Record<(typeof AUTHORITY_EVENT_TYPES)[number], CcmEvent['state']> = { 'authority.revoked': 'revoked', 'authority.published': 'published', 'authority.rolled-over': 'active', 'authority.retired': 'retired' };

/** The payload is not a ccm event this consumer can act on. Retrying cannot help, so consumers fail it at once. */
export class InvalidCcmEventError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`not a valid ccm event: ${problems.join('; ')}`);
    this.name = 'InvalidCcmEventError';
  }
}

/** The event names a contract version other than the one this build understands (an older consumer meeting a newer ccm). */
export class UnsupportedSchemaVersionError extends InvalidCcmEventError {
  constructor(readonly schemaVersion: unknown) {
    super([`schemaVersion ${JSON.stringify(schemaVersion)} is not supported (this consumer understands ${EVENT_SCHEMA_VERSION})`]);
    this.name = 'UnsupportedSchemaVersionError';
  }
}

/**
 * Returns a fresh CcmEvent holding only the contract's fields, or throws
 * InvalidCcmEventError naming every problem. Unknown extra fields are
 * dropped, not refused: adding an optional field is a compatible change.
 */
export function parseCcmEvent(value: unknown): CcmEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidCcmEventError(['payload is not a JSON object']);
  const input = value as Record<string, unknown>;
  if (input['schemaVersion'] !== EVENT_SCHEMA_VERSION) throw new UnsupportedSchemaVersionError(input['schemaVersion']);
  const problems: string[] = [];
  const text = (name: string, pattern?: RegExp): string => {
    const field = input[name];
    if (typeof field !== 'string' || field.length === 0) {
      problems.push(`${name} must be a non-empty string`);
      return '';
    }
    if (pattern && !pattern.test(field)) problems.push(`${name} ${JSON.stringify(field)} is malformed`);
    return field;
  };
  const id = text('id', UUID);
  const type = text('type') as EventType;
  if (type && !(EVENT_TYPES as readonly string[]).includes(type)) problems.push(`type ${JSON.stringify(type)} is not one of ${EVENT_TYPES.join(', ')}`);
  const time = text('time');
  if (time && Number.isNaN(Date.parse(time))) problems.push(`time ${JSON.stringify(time)} is not an ISO 8601 date`);
  const tenantId = text('tenantId', UUID);
  const authorityId = text('authorityId', UUID);
  const serialNumber = text('serialNumber', /^[0-9a-f]+$/);
  const fingerprintSha256 = text('fingerprintSha256', /^[0-9a-f]{64}$/);
  const commonName = text('commonName');
  const issuer = text('issuer');

  let certificateId: string | null = null;
  const rawCertificateId = input['certificateId'];
  const authorityEvent = (AUTHORITY_EVENT_TYPES as readonly string[]).includes(type);
  if (authorityEvent) {
    if (rawCertificateId !== null && rawCertificateId !== undefined) problems.push(`certificateId must be null on ${type}`);
  } else if (typeof rawCertificateId === 'string' && UUID.test(rawCertificateId)) {
    certificateId = rawCertificateId;
  } else {
    problems.push('certificateId must be a UUID on certificate events');
  }

  const rawReason = input['reason'];
  let reason: RevocationReason | null = null;
  if (rawReason !== null && rawReason !== undefined) {
    if (typeof rawReason === 'string' && Object.hasOwn(REVOCATION_REASONS, rawReason)) reason = rawReason as RevocationReason;
    else problems.push(`reason ${JSON.stringify(rawReason)} is not an RFC 5280 reason name`);
  }
  if ((type === 'certificate.suspended' || type === 'certificate.revoked' || type === 'authority.revoked') && reason === null) problems.push(`reason is required on ${type}`);

  const state = input['state'];
  if (typeof state !== 'string' || !(STATES as readonly string[]).includes(state)) problems.push(`state ${JSON.stringify(state)} is not one of ${STATES.join(', ')}`);
  else if (authorityEvent && state !== AUTHORITY_STATE[type as keyof typeof AUTHORITY_STATE]) problems.push(`state must be ${AUTHORITY_STATE[type as keyof typeof AUTHORITY_STATE]} on ${type}`);
  else if (!authorityEvent && (state === 'retired' || state === 'published')) problems.push(`state ${state} is only for authority events`);

  const rawPrevious = input['previousAuthorityId'];
  let previousAuthorityId: string | undefined;
  if (type === 'authority.rolled-over') {
    if (typeof rawPrevious === 'string' && UUID.test(rawPrevious)) previousAuthorityId = rawPrevious;
    else problems.push('previousAuthorityId must be a UUID on authority.rolled-over');
  }

  const rawCount = input['revokedCertificates'];
  if (rawCount !== undefined && (typeof rawCount !== 'number' || !Number.isInteger(rawCount) || rawCount < 0)) problems.push('revokedCertificates must be a non-negative integer');

  if (problems.length > 0) throw new InvalidCcmEventError(problems);
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    id,
    type,
    time,
    tenantId,
    authorityId,
    certificateId,
    serialNumber,
    fingerprintSha256,
    commonName,
    issuer,
    reason,
    state: state as CcmEvent['state'],
    ...(typeof rawCount === 'number' ? { revokedCertificates: rawCount } : {}),
    ...(previousAuthorityId !== undefined ? { previousAuthorityId } : {}),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
