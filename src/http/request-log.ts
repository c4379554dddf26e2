/**
 * Request ids and the request log. Every request gets an id: the caller's
 * X-Request-Id when it is a plain token (so a platform's own trace id runs
 * through ccm), else a fresh UUIDv7; it is echoed as X-Request-Id, carried by
 * problem+json bodies as `requestId` (a user quotes it to the operator) and
 * by every log line written while the request is served. One JSON line per
 * completed request: method, route pattern, status, duration, actor,
 * response size; never headers, bodies or the query string (a 5xx line adds
 * the error's message and stack, noted by the ProblemFilter).
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeActor, type Actor } from '../access/actor.js';
import { requestScope, type JsonLog } from '../logging/json-log.js';
import { newId } from '../shared/identifiers.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Long enough for a W3C traceparent or a UUID with a prefix; characters that need no escaping anywhere (headers, JSON, a shell). */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const FAILURE = Symbol('ccm:failure');

interface LoggedRequest extends FastifyRequest {
  actor?: Actor;
  [FAILURE]?: { readonly error: unknown; readonly errorId: string | undefined };
}

/** Fastify's genReqId: the caller's id when sane, else a fresh one. A header sent twice arrives joined by ", " and is replaced. */
export function requestIdOf(request: IncomingMessage): string {
  const offered = request.headers[REQUEST_ID_HEADER];
  return typeof offered === 'string' && SANE_REQUEST_ID.test(offered) ? offered : newId();
}

/** The ProblemFilter's note that a request failed (5xx): its log line then carries the error, which the body never does. */
export function noteFailure(request: FastifyRequest, error: unknown, errorId?: string): void {
  (request as LoggedRequest)[FAILURE] = { error, errorId };
}

export function installRequestLog(fastify: FastifyInstance, log: JsonLog): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  // Entered after the body is read: the body's stream events run outside the context an earlier hook would enter.
  fastify.addHook('preHandler', (request, _reply, done) => requestScope.run(request.id, done));
  fastify.addHook('onResponse', (request, reply, done) => {
    logCompleted(log, request as LoggedRequest, reply);
    done();
  });
}

/** The router's refusals (client-error.ts) run no hooks: their line is written once the answer is sent. */
export function logRouterRefusal(log: JsonLog, request: FastifyRequest, reply: FastifyReply): void {
  reply.raw.once('finish', () => logCompleted(log, request as LoggedRequest, reply));
}

function logCompleted(log: JsonLog, request: LoggedRequest, reply: FastifyReply): void {
  const status = reply.statusCode;
  // A refusal is the caller's doing (the audit log records the ones that matter): info; a failure is ours.
  const level = status >= 500 ? 'error' : 'info';
  if (!log.isLevelEnabled(level)) return;
  const route = request.routeOptions.url;
  const length = reply.getHeader('content-length');
  const failure = request[FAILURE];
  log[level](
    {
      context: 'HTTP',
      requestId: request.id,
      method: request.method,
      // An unmatched request has no pattern; its path (never the query) says what was asked for.
      ...(route !== undefined ? { route } : { path: pathOf(request.url) }),
      status,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      ...(request.actor ? { actor: describeActor(request.actor) } : {}),
      ...(length !== undefined ? { bytes: Number(length) } : {}),
      ...(failure ? { err: failure.error, ...(failure.errorId !== undefined ? { errorId: failure.errorId } : {}) } : {}),
    },
    'request completed',
  );
}

function pathOf(url: string): string {
  const end = url.indexOf('?');
  const path = end === -1 ? url : url.slice(0, end);
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}
