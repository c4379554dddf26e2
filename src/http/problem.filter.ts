/**
 * The one place domain errors become HTTP: RFC 9457 problem+json with a
 * stable `type` per error kind, and the request's `requestId` to quote to the
 * operator. Unexpected errors answer 500 with an error id; the details of
 * every 5xx go to the request's log line only, never into the body.
 * Custody's kinds answer a fixed sentence each: their messages carry the
 * back end's own text (Vault's errors, its address, its status line), which
 * is the operator's to read in the log, not the caller's.
 */
import { randomUUID } from 'node:crypto';
import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, RateLimited, Unauthorized, type DomainErrorKind } from '../shared/errors.js';
import { noteFailure } from './request-log.js';
import { JSON_BODY_NOT_UTF8 } from './request-bodies.js';

export const PROBLEM_TYPE_PREFIX = 'urn:ccm:problem:';

interface KindAnswer {
  readonly status: number;
  readonly title: string;
  /** Replaces the error's message (and its details) as `detail`, for kinds whose message is for the log only. */
  readonly detail?: string;
  /** Sent as Retry-After (RFC 9110 §10.2.3), for kinds a later retry may well get past. */
  readonly retryAfterSeconds?: number;
}

const STATUS: Record<DomainErrorKind, KindAnswer> = {
  'invalid-request': { status: 400, title: 'Invalid request' },
  'malformed-pem': { status: 400, title: 'Malformed PEM' },
  'malformed-csr': { status: 400, title: 'Malformed certificate signing request' },
  'bad-csr-signature': { status: 400, title: 'CSR signature does not verify' },
  'unsupported-algorithm': { status: 400, title: 'Unsupported key algorithm' },
  'ttl-out-of-range': { status: 400, title: 'TTL out of range' },
  'policy-violation': { status: 400, title: 'Request violates the tenant policy' },
  'certificate-key-mismatch': { status: 400, title: 'Certificate does not match the key' },
  'not-a-ca': { status: 400, title: 'Not a CA certificate' },
  'not-found': { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'Conflict' },
  'authority-name-taken': { status: 409, title: 'CA name taken' },
  'platform-ca-not-ready': { status: 503, title: 'Platform CA not ready' },
  // A hint against clients retrying at once: a Vault that is sealed, failing over or restarting is back within seconds, or not soon.
  'custody-unavailable': { status: 503, title: 'Key custody unavailable', detail: 'key custody cannot be reached now; retry later', retryAfterSeconds: 5 },
  'custody-error': { status: 502, title: 'Key custody refused the operation', detail: 'key custody refused or failed the operation; the operator finds why in the service log under this requestId' },
  // ccm's records name a key its custody does not have: ccm's fault to mend, not the caller's, nor a passing outage.
  'custody-key-not-found': { status: 500, title: 'Custody key missing', detail: 'a key this operation needs is missing from key custody; quote errorId when reporting it' },
  'certificate-lint-failed': { status: 500, title: 'Refused by the pre-signing lint' },
  'illegal-transition': { status: 409, title: 'Illegal state transition' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'certificate-unknown': { status: 403, title: 'Certificate unknown to ccm' },
  'certificate-suspended': { status: 403, title: 'Certificate suspended' },
  'certificate-revoked': { status: 403, title: 'Certificate revoked' },
  'certificate-expired': { status: 403, title: 'Certificate expired' },
  'certificate-not-yet-valid': { status: 403, title: 'Certificate not yet valid' },
  'untrusted-issuer': { status: 403, title: 'Certificate not issued by a CA of ccm' },
  'certificate-signature-invalid': { status: 403, title: 'Certificate signature does not verify' },
  'certificate-signature-unsupported': { status: 403, title: 'Certificate signature algorithm not accepted' },
  'certificate-weak-key': { status: 403, title: 'Certificate key weaker than ccm accepts' },
  'certificate-serial-invalid': { status: 403, title: 'Certificate serial number not allowed by RFC 5280' },
  'identity-unmapped': { status: 403, title: 'Certificate subject gives no device identity' },
  'device-not-registered': { status: 403, title: 'Device not registered' },
  'device-bound-elsewhere': { status: 403, title: 'Device identity bound to another certificate' },
  'issuer-ambiguous': { status: 403, title: 'Issuer name fits more than one CA' },
};

/** The HTTP status a domain error kind answers with (the audit trail tells refusals, 4xx, from failures, 5xx). */
export function statusOfKind(kind: DomainErrorKind): number {
  return STATUS[kind].status;
}

/** Rejections of a request before it reaches a controller: Fastify's own, and the JSON body parser's (request-bodies.ts). */
const FRAMEWORK: Record<string, { kind: string; status: number; title: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { kind: 'payload-too-large', status: 413, title: 'Request body too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { kind: 'unsupported-media-type', status: 415, title: 'Unsupported media type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { kind: 'invalid-request', status: 400, title: 'Invalid request' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { kind: 'malformed-json', status: 400, title: 'Malformed JSON' },
  FST_ERR_CTP_INVALID_JSON_BODY: { kind: 'malformed-json', status: 400, title: 'Malformed JSON' },
  [JSON_BODY_NOT_UTF8]: { kind: 'malformed-json', status: 400, title: 'Malformed JSON' },
};

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [member: string]: unknown;
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const problem = this.problemOf(error);
    if (problem.status >= 500) noteFailure(request, error, problem['errorId'] as string | undefined);
    // RFC 9110 §11.6.1: a 401 names the scheme to use: Bearer for API keys, Basic for EST's enrollment credentials.
    if (error instanceof Unauthorized) void reply.header('www-authenticate', error.challenge === 'Bearer' ? 'Bearer realm="ccm"' : 'Basic realm="ccm", charset="UTF-8"');
    if (error instanceof RateLimited) void reply.header('retry-after', String(error.retryAfterSeconds));
    else if (error instanceof DomainError && STATUS[error.kind].retryAfterSeconds !== undefined) void reply.header('retry-after', String(STATUS[error.kind].retryAfterSeconds));
    void reply.status(problem.status).header('content-type', 'application/problem+json; charset=utf-8').send(JSON.stringify({ ...problem, instance: request.url.split('?')[0], requestId: request.id }));
  }

  private problemOf(error: unknown): ProblemDocument {
    if (error instanceof DomainError) {
      const { status, title, detail } = STATUS[error.kind];
      return {
        type: PROBLEM_TYPE_PREFIX + error.kind,
        title,
        status,
        detail: detail ?? error.message,
        // A kind with a fixed sentence shows nothing else the thrower wrote.
        ...(detail === undefined ? error.details : {}),
        // A 500 is ccm's own fault: the id ties the caller's report to the request's log line.
        ...(status === 500 ? { errorId: randomUUID() } : {}),
      };
    }
    // Nest hands Fastify's request errors over wrapped in an HttpException, the original on `cause`.
    const code = (error as { code?: unknown } | null)?.code ?? (error as { cause?: { code?: unknown } } | null)?.cause?.code;
    if (typeof code === 'string' && FRAMEWORK[code]) {
      const { kind, status, title } = FRAMEWORK[code];
      return { type: PROBLEM_TYPE_PREFIX + kind, title, status, detail: (error as Error).message };
    }
    if (error instanceof HttpException) {
      const status = error.getStatus();
      if (status === 404) return { type: `${PROBLEM_TYPE_PREFIX}not-found`, title: 'Not found', status, detail: 'no such route' };
      if (status === 405) return { type: `${PROBLEM_TYPE_PREFIX}method-not-allowed`, title: 'Method not allowed', status };
      if (status < 500) return { type: `${PROBLEM_TYPE_PREFIX}invalid-request`, title: 'Invalid request', status, detail: error.message };
    }
    return { type: `${PROBLEM_TYPE_PREFIX}internal`, title: 'Internal error', status: 500, detail: 'an unexpected error occurred; quote errorId when reporting it', errorId: randomUUID() };
  }
}
