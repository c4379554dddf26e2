/**
 * The metrics ports: what the use cases and adapters tell about their work,
 * in their own terms. The domain side owns them and never sees prom-client;
 * PrometheusMetrics (prometheus-metrics.ts) implements them all over one
 * registry per application instance. Every method is on a hot path or next
 * to one: it must be cheap, and it must never throw.
 */
import type { AuthenticationRefusal } from '../shared/errors.js';
import type { LifeCycleState } from '../shared/life-cycle-state.js';

/** How a certificate came to be issued: a CSR, a key ccm generated, a renewal through the API, or EST (enroll and re-enroll). */
export type IssuanceMethod = 'csr' | 'keygen' | 'renew' | 'est';

export abstract class IssuanceMetrics {
  /** One client certificate issued for `tenantId`, its key `algorithm`, after `seconds` of the use case. */
  abstract issued(tenantId: string, algorithm: string, method: IssuanceMethod, seconds: number): void;
  /** One issuance that ended without a certificate, by why: the domain error's kind (`malformed-csr`, `custody-unavailable`, …) or `error`. */
  abstract failed(reason: string): void;
}

/** What the authentication use case answered a broker: accepted, a refusal kind, or a request it could not read. */
export type AuthenticationDecision = 'accepted' | AuthenticationRefusal | 'invalid-request' | 'error';

export abstract class AuthenticationMetrics {
  abstract decided(decision: AuthenticationDecision, seconds: number): void;
}

/** `any`: the certificates a CA revocation takes with it, whatever state each was in. */
export type TransitionOrigin = LifeCycleState | 'any';

export abstract class CertificateTransitionMetrics {
  /** `count` certificates moved from `from` to `to`, committed. */
  abstract transitioned(from: TransitionOrigin, to: LifeCycleState, count: number): void;
}

export abstract class EventMetrics {
  /** `count` events put on subscriber queues (one event to three subscribers counts three). */
  abstract published(count: number): void;
}

export abstract class CustodyMetrics {
  /** One signature by custody (`local`, `vault`) with a CA key of `algorithm`, as long as the caller waited for it. */
  abstract signed(custody: string, algorithm: string, seconds: number): void;
  /** One sign request sent to Vault Transit with `size` inputs (1: the plain `input` form). */
  abstract signBatch(size: number): void;
}

export type CrlFormat = 'der' | 'pem';

/** An OCSP answer: the status of one certificate in a successful response, or the error status of an unsuccessful one (RFC 6960 §4.2.1). */
export type OcspOutcome = 'good' | 'revoked' | 'unknown' | 'malformed' | 'unauthorized' | 'try-later' | 'internal-error';

export abstract class RevocationMetrics {
  abstract crlServed(format: CrlFormat): void;
  abstract ocspAnswered(outcome: OcspOutcome): void;
}

export abstract class HttpRequestMetrics {
  /** `route` is the route pattern (`/v1/tenants/:tenantId`), never the URL a client sent. */
  abstract requested(route: string, method: string, status: number, seconds: number): void;
}

/** Seconds since `startedAt` (a `performance.now()` reading): the one clock every duration above is measured with. */
export function secondsSince(startedAt: number): number {
  return (performance.now() - startedAt) / 1000;
}
