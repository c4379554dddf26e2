/**
 * The JSON log: CCM_LOG_LEVEL onto pino's levels, the shape of a line, Nest's
 * positional logger convention through the adapter, redaction of secrets in
 * logged objects and errors, and request ids (accepted, replaced, echoed and
 * carried by lines written while the request is served) on a bare Fastify
 * instance with the request log installed.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { test } from 'node:test';
import { Logger } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { installRequestLog, noteFailure, requestIdOf } from '../../src/http/request-log.js';
import { createJsonLog, REDACTED, requestScope } from '../../src/logging/json-log.js';
import { NestJsonLogger } from '../../src/logging/nest-json-logger.js';
import type { LogLevel } from '../../src/config/configuration.js';

type Line = Record<string, unknown>;

function capture(level: LogLevel | 'silent'): { log: ReturnType<typeof createJsonLog>; lines: Line[]; raw: string[] } {
  const raw: string[] = [];
  const log = createJsonLog(level, { destination: { write: (chunk: string) => void raw.push(chunk) } });
  return {
    log,
    raw,
    get lines() {
      return raw.map((chunk) => JSON.parse(chunk) as Line);
    },
  };
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('each CCM_LOG_LEVEL lets through its own level and the more severe ones: log is info, verbose is trace', () => {
  const expected: Record<LogLevel, string[]> = {
    error: ['fatal', 'error'],
    warn: ['fatal', 'error', 'warn'],
    log: ['fatal', 'error', 'warn', 'info'],
    debug: ['fatal', 'error', 'warn', 'info', 'debug'],
    verbose: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
  };
  for (const [level, levels] of Object.entries(expected) as [LogLevel, string[]][]) {
    const sink = capture(level);
    for (const method of ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const) sink.log[method](`at ${method}`);
    assert.deepEqual(
      sink.lines.map((line) => line['level']),
      levels,
      `CCM_LOG_LEVEL=${level}`,
    );
  }
  const silent = capture('silent');
  silent.log.fatal('nothing');
  assert.equal(silent.raw.length, 0);
});

test('a line is one JSON object ending in a newline: ISO time, level label, msg, pid, hostname; requestId inside a request scope only', () => {
  const sink = capture('log');
  sink.log.info({ context: 'Test' }, 'outside');
  requestScope.run('req-1', () => sink.log.info({ context: 'Test' }, 'inside'));
  assert.ok(sink.raw.every((chunk) => chunk.endsWith('\n') && chunk.indexOf('\n') === chunk.length - 1));
  const [outside, inside] = sink.lines;
  assert.equal(outside!['level'], 'info');
  assert.equal(outside!['msg'], 'outside');
  assert.equal(outside!['context'], 'Test');
  assert.equal(outside!['pid'], process.pid);
  assert.equal(outside!['hostname'], hostname());
  assert.match(String(outside!['time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(String(outside!['time'])) - Date.now()) < 5_000);
  assert.equal(outside!['requestId'], undefined);
  assert.equal(inside!['requestId'], 'req-1');
});

test('Nest loggers write through the adapter: context, error stacks, plain-object fields, levels', () => {
  const sink = capture('debug');
  const adapter = new NestJsonLogger(sink.log);
  Logger.overrideLogger(adapter);
  try {
    const logger = new Logger('Custody');
    logger.log('plain');
    logger.warn('with fields', { keys: 3 });
    const error = new Error('it broke');
    logger.error('failed', error.stack);
    logger.error('no stack');
    logger.debug('detail');
    logger.verbose('too chatty for debug');
    Logger.error('static with stack', error.stack);
    Logger.log('static with context', 'Elsewhere');
    adapter.fatal(new Error('fatal error object'), 'Main');
  } finally {
    Logger.overrideLogger(false);
  }
  const lines = sink.lines;
  assert.deepEqual(
    lines.map((line) => [line['level'], line['context'], line['msg']]),
    [
      ['info', 'Custody', 'plain'],
      ['warn', 'Custody', 'with fields'],
      ['error', 'Custody', 'failed'],
      ['error', 'Custody', 'no stack'],
      ['debug', 'Custody', 'detail'],
      ['error', undefined, 'static with stack'],
      ['info', 'Elsewhere', 'static with context'],
      ['fatal', 'Main', 'fatal error object'],
    ],
  );
  assert.equal(lines[1]!['keys'], 3);
  assert.match(String(lines[2]!['stack']), /Error: it broke\n\s+at /);
  assert.equal(lines[3]!['stack'], undefined);
  assert.match(String(lines[5]!['stack']), /Error: it broke/);
  assert.deepEqual(Object.keys(lines[7]!['err'] as object).sort(), ['message', 'stack', 'type']);

  adapter.setLogLevels(['error', 'warn']);
  adapter.log('now suppressed', 'X');
  adapter.warn('still written', 'X');
  assert.deepEqual(sink.lines.slice(lines.length).map((line) => line['msg']), ['still written']);
});

test('secrets in logged objects and in errors are censored; an error is logged as type, message, code and stack only', () => {
  const sink = capture('log');
  const token = 'hvs.CAESIJ-the-vault-token-000000000000';
  const secretId = '5f7e3a1c-0000-4000-8000-secretid0000';
  const apiKey = 'ccm_0190f0c2-the-api-key';
  const pem = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';
  sink.log.info({ authorization: `Bearer ${apiKey}`, headers: { authorization: `Bearer ${apiKey}`, 'x-vault-token': token }, body: { privateKeyPem: pem } }, 'request');
  sink.log.info({ auth: { client_token: token }, secret_id: secretId, login: { secret_id: secretId, jwt: 'eyJhbGciOi.jwt.body' } }, 'vault');
  sink.log.info({ credential: { key: apiKey }, issued: { privateKeyPem: pem, privateKey: pem }, kek: 'k'.repeat(44), cookie: 'session=1' }, 'dto');
  const error = Object.assign(new Error('permission denied'), { code: 'EVAULT', options: { headers: { 'X-Vault-Token': token } }, response: { body: { auth: { client_token: token } } } });
  sink.log.error({ err: error }, 'vault refused');
  const all = sink.raw.join('');
  for (const secret of [token, secretId, apiKey, 'PRIVATE KEY', 'eyJhbGciOi', 'kkkkkkkk', 'session=1']) assert.ok(!all.includes(secret), `${secret} is not in the log`);
  assert.ok(all.includes(REDACTED));
  const err = sink.lines[3]!['err'] as Record<string, unknown>;
  assert.deepEqual(Object.keys(err).sort(), ['code', 'message', 'stack', 'type']);
  assert.equal(err['message'], 'permission denied');
});

test('request ids: a plain token is taken, anything else (too long, spaces, quotes, control or non-ASCII characters, two headers) is replaced by a UUIDv7', () => {
  const of = (value: string | string[] | undefined) => requestIdOf({ headers: value === undefined ? {} : { 'x-request-id': value } } as never);
  for (const sane of ['abc', 'my-trace.1:2_3', 'a'.repeat(128), '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']) assert.equal(of(sane), sane);
  for (const hostile of ['a'.repeat(129), '', 'a b', 'a"b', 'a\nb', 'a\tb', 'ünï', '{"x":1}', 'a,b', ['a', 'b']]) assert.match(of(hostile), UUID_V7, JSON.stringify(hostile));
  assert.match(of(undefined), UUID_V7);
});

test('the request log: one line per request with method, route, status, duration, size; the id echoed, carried by lines written in the handler, and a 5xx line carries the error', async () => {
  const sink = capture('log');
  const adapter = new FastifyAdapter({ genReqId: requestIdOf, requestIdHeader: false });
  const fastify = adapter.getInstance();
  installRequestLog(fastify, sink.log);
  const nest = new NestJsonLogger(sink.log);
  fastify.post('/things/:id', async (request) => {
    // After the body was read and an await: the scope must survive both.
    await new Promise((resolve) => setTimeout(resolve, 1));
    nest.log('handling', 'Things');
    return { id: (request.params as { id: string }).id, got: request.body };
  });
  fastify.get('/broken', async (request, reply) => {
    noteFailure(request, new Error('database on fire'), 'error-7');
    return reply.code(503).send({ type: 'x' });
  });
  try {
    const posted = await fastify.inject({ method: 'POST', url: '/things/42?token=secret-in-query', headers: { 'x-request-id': 'caller-id-1', authorization: 'Bearer do-not-log' }, payload: { privateKeyPem: 'do-not-log-either' } });
    assert.equal(posted.statusCode, 200);
    assert.equal(posted.headers['x-request-id'], 'caller-id-1');
    const hostile = await fastify.inject({ method: 'POST', url: '/things/43', headers: { 'x-request-id': 'x'.repeat(200) }, payload: {} });
    assert.match(String(hostile.headers['x-request-id']), UUID_V7);
    const broken = await fastify.inject({ method: 'GET', url: '/broken' });
    assert.equal(broken.statusCode, 503);
    const unknown = await fastify.inject({ method: 'GET', url: '/nowhere?secret=1' });
    assert.equal(unknown.statusCode, 404);

    const lines = sink.lines;
    const handling = lines.filter((line) => line['msg'] === 'handling');
    assert.deepEqual(handling.map((line) => [line['context'], line['requestId']]), [['Things', 'caller-id-1'], ['Things', hostile.headers['x-request-id']]]);
    const completed = lines.filter((line) => line['msg'] === 'request completed');
    assert.equal(completed.length, 4);
    const first = completed[0]!;
    assert.deepEqual(
      { ...first, time: undefined, pid: undefined, hostname: undefined, durationMs: undefined },
      { level: 'info', context: 'HTTP', requestId: 'caller-id-1', method: 'POST', route: '/things/:id', status: 200, bytes: posted.rawPayload.length, msg: 'request completed', time: undefined, pid: undefined, hostname: undefined, durationMs: undefined },
    );
    assert.equal(typeof first['durationMs'], 'number');
    const failed = completed[2]!;
    assert.equal(failed['level'], 'error');
    assert.equal(failed['status'], 503);
    assert.equal(failed['errorId'], 'error-7');
    assert.equal((failed['err'] as { message: string }).message, 'database on fire');
    assert.match((failed['err'] as { stack: string }).stack, /\n\s+at /);
    assert.equal(completed[3]!['path'], '/nowhere');
    const all = sink.raw.join('');
    for (const secret of ['do-not-log', 'secret-in-query', 'secret=1']) assert.ok(!all.includes(secret), `${secret} is not in the log`);
  } finally {
    await fastify.close();
  }
});

test('no request line is formatted when its level is off', async () => {
  const sink = capture('warn');
  const adapter = new FastifyAdapter({ genReqId: requestIdOf, requestIdHeader: false });
  const fastify = adapter.getInstance();
  installRequestLog(fastify, sink.log);
  fastify.get('/ok', async () => ({ ok: true }));
  try {
    const response = await fastify.inject({ method: 'GET', url: '/ok' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['x-request-id']), UUID_V7, 'the id is still echoed');
    assert.equal(sink.raw.length, 0);
  } finally {
    await fastify.close();
  }
});
