/**
 * Typed domain errors. Domain and adapter code throws these and nothing
 * HTTP-shaped; the HTTP edge maps each `kind` once to a status code and an
 * RFC 9457 problem type (src/http/problem.filter.ts).
 */

export type DomainErrorKind =
  | 'invalid-request'
  | 'malformed-pem'
  | 'malformed-csr'
  | 'bad-csr-signature'
  | 'unsupported-algorithm'
  | 'ttl-out-of-range'
  | 'policy-violation'
  | 'not-found'
  | 'conflict'
  | 'certificate-key-mismatch'
  | 'not-a-ca'
  | 'platform-ca-not-ready'
  | 'custody-unavailable'
  | 'custody-error'
  | 'custody-key-not-found'
  | 'illegal-transition'
  | 'unauthorized'
  | AuthenticationRefusal;

/** Why the authentication endpoint refused a device: each is its own problem type, so a broker can tell them apart. */
export type AuthenticationRefusal =
  | 'certificate-unknown'
  | 'certificate-suspended'
  | 'certificate-revoked'
  | 'certificate-expired'
  | 'certificate-not-yet-valid'
  | 'untrusted-issuer'
  | 'certificate-signature-invalid';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    /** Extra members safe to show to the caller (never secrets). */
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidRequest extends DomainError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('invalid-request', message, details);
  }
}

export class NotFound extends DomainError {
  constructor(what: string) {
    super('not-found', `${what} not found`);
  }
}

export class CustodyUnavailable extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('custody-unavailable', message, {}, options);
  }
}

export class CustodyError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('custody-error', message, {}, options);
  }
}

export class CustodyKeyNotFound extends DomainError {
  constructor(name: string) {
    super('custody-key-not-found', `custody has no key named ${name}`);
  }
}

export class AuthenticationRefused extends DomainError {
  constructor(readonly refusal: AuthenticationRefusal, message: string, details: Record<string, unknown> = {}) {
    super(refusal, message, details);
  }
}
