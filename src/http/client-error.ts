/**
 * Answers requests refused before any route sees them with problem+json like
 * every other refusal: those Node's HTTP parser refuses (a request head over
 * CCM_MAX_HEADER_BYTES, a malformed request line, a client too slow to send
 * its head), after which the connection is closed because its framing is
 * lost; and those Fastify's router refuses (a path with broken
 * percent-encoding, a path parameter over its length limit). Nothing of ccm
 * runs for such a request.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_TYPE_PREFIX } from './problem.filter.js';

const ANSWERS: Record<string, { status: number; kind: string; title: string; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, kind: 'request-header-too-large', title: 'Request header fields too large', detail: 'the request line and headers exceed the configured limit' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, kind: 'request-timeout', title: 'Request timeout', detail: 'the request was not received in time' },
};
const MALFORMED = { status: 400, kind: 'invalid-request', title: 'Invalid request', detail: 'the HTTP request could not be parsed' };

export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has no one left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer = (error.code !== undefined ? ANSWERS[error.code] : undefined) ?? MALFORMED;
  const body = JSON.stringify({ type: PROBLEM_TYPE_PREFIX + answer.kind, title: answer.title, status: answer.status, detail: answer.detail });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

const ROUTER_REFUSALS: Record<string, { kind: string; title: string; detail: string }> = {
  FST_ERR_BAD_URL: { kind: 'invalid-request', title: 'Invalid request', detail: 'the path is not valid percent-encoded UTF-8' },
  FST_ERR_MAX_PARAM_LENGTH: { kind: 'uri-too-long', title: 'URI too long', detail: 'a path segment is longer than any id ccm uses' },
};

/** Fastify's `frameworkErrors`: the router's refusals, before routing. */
export function answerRouterRefusal(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode ?? 500;
  // Only the refusals above are the request's fault; anything else the router raises (an async constraint failing) is ours.
  const refusal = ROUTER_REFUSALS[error.code] ?? (status < 500 ? { kind: 'invalid-request', title: 'Invalid request', detail: 'the request could not be routed' } : { kind: 'internal', title: 'Internal error', detail: 'the request could not be routed' });
  void reply
    .code(status)
    .header('content-type', 'application/problem+json; charset=utf-8')
    // The onRequest hook that sets it elsewhere does not run before the router.
    .header('x-request-id', request.id)
    .send(JSON.stringify({ type: PROBLEM_TYPE_PREFIX + refusal.kind, title: refusal.title, status, detail: refusal.detail, requestId: request.id }));
}
