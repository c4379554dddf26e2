/**
 * The ProblemFilter's answers for custody failures, on a bare Fastify
 * instance with the request log installed: a fixed detail per kind, the
 * status and headers of each, and the error's own message (the back end's
 * words) in the request's log line and nowhere in the body. Other kinds
 * keep their message as the detail.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArgumentsHost } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ProblemFilter } from '../../src/http/problem.filter.js';
import { installRequestLog, requestIdOf } from '../../src/http/request-log.js';
import { createJsonLog } from '../../src/logging/json-log.js';
import { CustodyError, CustodyKeyNotFound, CustodyUnavailable, InvalidRequest } from '../../src/shared/errors.js';

type Line = Record<string, unknown>;

/** What Vault might say, as the custody adapter puts it into its messages: text, address, status. */
const VAULT_WORDS = 'Vault refused signing with key ccm-tenant-7 with status 500: failed to read policy: storage unreachable (marker 5d1e)';

/** Answers one request that fails with `error`, through the filter as Nest would call it; the answer and the log lines written. */
async function answerTo(error: Error): Promise<{ status: number; headers: Record<string, unknown>; body: Record<string, unknown>; text: string; lines: Line[] }> {
  const raw: string[] = [];
  const log = createJsonLog('log', { destination: { write: (chunk: string) => void raw.push(chunk) } });
  const fastify = new FastifyAdapter({ genReqId: requestIdOf, requestIdHeader: false }).getInstance();
  installRequestLog(fastify, log);
  const filter = new ProblemFilter();
  fastify.setErrorHandler((thrown, request, reply) => {
    const host = { switchToHttp: () => ({ getRequest: () => request, getResponse: () => reply }) } as unknown as ArgumentsHost;
    filter.catch(thrown, host);
  });
  fastify.post('/v1/tenants/:id/certificates', async () => {
    throw error;
  });
  try {
    const response = await fastify.inject({ method: 'POST', url: '/v1/tenants/t-1/certificates?ttl=1', payload: {} });
    return { status: response.statusCode, headers: response.headers, body: response.json(), text: response.body, lines: raw.map((chunk) => JSON.parse(chunk) as Line) };
  } finally {
    await fastify.close();
  }
}

function completedLine(lines: readonly Line[]): Line {
  const completed = lines.filter((line) => line['msg'] === 'request completed');
  assert.equal(completed.length, 1);
  return completed[0]!;
}

describe('problem+json for custody failures', () => {
  it('503 custody-unavailable with a fixed detail and Retry-After; what Vault said only in the log line', async () => {
    const answer = await answerTo(new CustodyUnavailable(`Vault at http://vault.internal:8200 did not answer signing with key ccm-tenant-7: ECONNREFUSED`, { cause: new Error('ECONNREFUSED') }));
    assert.equal(answer.status, 503);
    assert.match(String(answer.headers['content-type']), /^application\/problem\+json/);
    assert.equal(answer.headers['retry-after'], '5');
    assert.deepEqual(
      { ...answer.body, requestId: undefined },
      { type: 'urn:ccm:problem:custody-unavailable', title: 'Key custody unavailable', status: 503, detail: 'key custody cannot be reached now; retry later', instance: '/v1/tenants/t-1/certificates', requestId: undefined },
    );
    assert.equal(answer.body['requestId'], answer.headers['x-request-id']);
    for (const word of ['vault.internal', '8200', 'ECONNREFUSED', 'ccm-tenant-7']) assert.ok(!answer.text.includes(word), `${word} is not in the answer`);
    const line = completedLine(answer.lines);
    assert.equal(line['level'], 'error');
    assert.equal(line['status'], 503);
    const err = line['err'] as { type: string; message: string; cause: string };
    assert.equal(err.type, 'CustodyUnavailable');
    assert.match(err.message, /http:\/\/vault\.internal:8200 did not answer signing with key ccm-tenant-7: ECONNREFUSED/);
    assert.equal(err.cause, 'Error: ECONNREFUSED');
  });

  it('502 custody-error with a fixed detail and no Retry-After; Vault text and status only in the log line', async () => {
    const answer = await answerTo(new CustodyError(VAULT_WORDS));
    assert.equal(answer.status, 502);
    assert.equal(answer.headers['retry-after'], undefined);
    assert.equal(answer.body['type'], 'urn:ccm:problem:custody-error');
    assert.equal(answer.body['detail'], 'key custody refused or failed the operation; the operator finds why in the service log under this requestId');
    for (const word of ['marker 5d1e', 'storage unreachable', 'status 500', 'Vault', 'ccm-tenant-7']) assert.ok(!answer.text.includes(word), `${word} is not in the answer`);
    const line = completedLine(answer.lines);
    assert.equal(line['status'], 502);
    assert.equal((line['err'] as { message: string }).message, VAULT_WORDS);
  });

  it('500 custody-key-not-found with an errorId the log line shares; the key name only in the log line', async () => {
    const answer = await answerTo(new CustodyKeyNotFound('ccm-tenant-7'));
    assert.equal(answer.status, 500);
    assert.equal(answer.body['type'], 'urn:ccm:problem:custody-key-not-found');
    assert.equal(answer.body['detail'], 'a key this operation needs is missing from key custody; quote errorId when reporting it');
    assert.ok(!answer.text.includes('ccm-tenant-7'));
    assert.equal(typeof answer.body['errorId'], 'string');
    const line = completedLine(answer.lines);
    assert.equal(line['errorId'], answer.body['errorId']);
    assert.equal((line['err'] as { message: string }).message, 'custody has no key named ccm-tenant-7');
  });

  it('a refusal of the caller keeps its message and details, writes no error into the log line, and gets no Retry-After', async () => {
    const answer = await answerTo(new InvalidRequest('ttlSeconds must be at least 60', { field: 'ttlSeconds' }));
    assert.equal(answer.status, 400);
    assert.equal(answer.headers['retry-after'], undefined);
    assert.equal(answer.body['detail'], 'ttlSeconds must be at least 60');
    assert.equal(answer.body['field'], 'ttlSeconds');
    assert.equal(answer.body['errorId'], undefined);
    const line = completedLine(answer.lines);
    assert.equal(line['level'], 'info');
    assert.equal(line['err'], undefined);
  });
});
