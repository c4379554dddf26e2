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
  /** RFC 5280 §7.1: another CA of ccm's, of any tenant and kind, has this name (or ccm keeps names of its shape for its own CAs). */
  | 'authority-name-taken'
  | 'certificate-key-mismatch'
  | 'not-a-ca'
  | 'platform-ca-not-ready'
  | 'custody-unavailable'
  | 'custody-error'
  | 'custody-key-not-found'
  /** What ccm was about to sign failed the pre-signing lint (src/ca): a fault of ccm's, never of the caller; nothing was signed. */
  | 'certificate-lint-failed'
  | 'illegal-transition'
  | 'unauthorized'
  | 'forbidden'
  | 'rate-limited'
  | AuthenticationRefusal;

/** Why the authentication endpoint refused a device: each is its own problem type, so a broker can tell them apart. */
export type AuthenticationRefusal =
  | 'certificate-unknown'
  | 'certificate-suspended'
  | 'certificate-revoked'
  | 'certificate-expired'
  | 'certificate-not-yet-valid'
  | 'untrusted-issuer'
  | 'certificate-signature-invalid'
  /** Signed with an algorithm ccm does not verify (SHA-1 or MD5 based, among others), so nothing says its CA signed it. */
  | 'certificate-signature-unsupported'
  /** A tenant's own CA vouched for a key below ccm's key policy (RSA-1024, P-224, DSA, …). */
  | 'certificate-weak-key'
  /** A tenant's own CA gave a serial number RFC 5280 §4.1.2.2 does not allow (zero, negative, over 20 octets). */
  | 'certificate-serial-invalid'
  /** The certificate is trusted, but its subject does not give a device identity under its CA's identity rules. */
  | 'identity-unmapped'
  /** An external CA accepts only pre-registered devices, and this identity is not one. */
  | 'device-not-registered'
  /** The device identity is bound to another certificate. */
  | 'device-bound-elsewhere'
  /** The issuer name (with the key identifier, when given) fits CAs of more than one tenant or key: ccm refuses rather than guess. */
  | 'issuer-ambiguous';

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

/*
 * Custody errors: their messages name the back end's own words (Vault's
 * error text, its address, the status it answered) and ccm's key names, for
 * the operator's log; the HTTP edge answers each kind with a fixed sentence
 * instead, so a caller learns nothing of the custody back end.
 */

/** Custody did not answer in time, could not be reached or is sealed: the operation did not complete, and the same request may succeed later. */
export class CustodyUnavailable extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('custody-unavailable', message, {}, options);
  }
}

/** Custody answered, and refused or failed the operation (or answered something ccm cannot use). */
export class CustodyError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('custody-error', message, {}, options);
  }
}

/** Custody has no key of a name ccm relies on: ccm's records and its custody disagree, which an operator has to mend. */
export class CustodyKeyNotFound extends DomainError {
  constructor(name: string) {
    super('custody-key-not-found', `custody has no key named ${name}`);
  }
}

/** The certificate an authentication refusal is about, when ccm found it: for the audit trail, not for the caller (it is in no problem document). */
export interface RefusedCertificate {
  readonly tenantId: string;
  /** Null when the issuer is ccm's but no certificate of it has this serial number. */
  readonly certificateId: string | null;
  readonly serialNumber: string;
}

export class AuthenticationRefused extends DomainError {
  constructor(
    readonly refusal: AuthenticationRefusal,
    message: string,
    details: Record<string, unknown> = {},
    readonly refusedCertificate: RefusedCertificate | null = null,
  ) {
    super(refusal, message, details);
  }
}

/** No credential, or one that is not valid. `challenge` is the HTTP authentication scheme the caller should use (RFC 9110 §11.6.1). */
export class Unauthorized extends DomainError {
  constructor(message: string, readonly challenge: 'Basic' | 'Bearer') {
    super('unauthorized', message);
  }
}

/** A valid credential whose role may not do this. (A tenant key asking about another tenant gets NotFound instead.) */
export class Forbidden extends DomainError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

/** Too many requests from one credential; `retryAfterSeconds` goes into Retry-After. */
export class RateLimited extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super('rate-limited', `too many requests; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}
