/**
 * Counts and times every API request at the Fastify level, after its answer
 * is sent: by route pattern (so ids in the path never become label values),
 * method and status. Requests no route matched are one label value.
 */
import type { FastifyInstance } from 'fastify';
import type { HttpRequestMetrics } from '../metrics/metrics.js';

const UNMATCHED = 'unmatched';

export function observeHttpRequests(fastify: FastifyInstance, metrics: HttpRequestMetrics): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    // Fastify times each request from its onRequest stage: reply.elapsedTime, in milliseconds.
    metrics.requested(request.routeOptions.url ?? UNMATCHED, request.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
