/**
 * Liveness and readiness over HTTP, without an API key: on the embedded
 * default (SQLite, local custody, no services), and on PostgreSQL + Redis +
 * Vault custody where each dependency is taken away and given back (Vault
 * sealed, Vault stopped, Redis and PostgreSQL cut or hung behind TCP proxies): the
 * 503 names what is down, within the check timeout, liveness stays 200, and
 * readiness returns to 200 once the dependency does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { CHECK_TIMEOUT_MS } from '../../src/health/readiness-checks.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const REDIS = { host: '127.0.0.1', port: 6379 };
const POSTGRES_PORT = 5432;

interface HealthBody {
  status: string;
  info: Record<string, { status: string; [key: string]: unknown }>;
  error: Record<string, { status: string; message?: string; [key: string]: unknown }>;
  details: Record<string, { status: string; [key: string]: unknown }>;
}

/** A probe as Kubernetes sends it: no Authorization header. */
async function probe(ccm: CcmUnderTest, path: '/health/live' | '/health/ready'): Promise<{ status: number; body: HealthBody; ms: number; headers: Headers }> {
  const started = performance.now();
  const response = await fetch(`${ccm.url}${path}`);
  const body = (await response.json()) as HealthBody;
  return { status: response.status, body, ms: performance.now() - started, headers: response.headers };
}

/** Polls readiness until it answers `status` (a dependency that came back may need a reconnect). */
async function readyBecomes(ccm: CcmUnderTest, status: number, timeoutMs = 10_000): Promise<HealthBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await probe(ccm, '/health/ready');
    if (answer.status === status) return answer.body;
    if (Date.now() > deadline) throw new Error(`readiness still ${answer.status} after ${timeoutMs} ms: ${JSON.stringify(answer.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** 503, naming `check` (and only it) as down, answered within the check timeout. */
async function assertNotReady(ccm: CcmUnderTest, check: string, reason: RegExp): Promise<void> {
  const answer = await probe(ccm, '/health/ready');
  assert.equal(answer.status, 503, JSON.stringify(answer.body));
  assert.equal(answer.body.status, 'error');
  assert.deepEqual(Object.keys(answer.body.error), [check], JSON.stringify(answer.body.error));
  assert.equal(answer.body.error[check]!.status, 'down');
  assert.match(String(answer.body.error[check]!.message), reason);
  assert.equal(answer.body.details[check]!.status, 'down');
  assert.ok(answer.ms < CHECK_TIMEOUT_MS + 1000, `answered in ${Math.round(answer.ms)} ms`);
  const live = await probe(ccm, '/health/live');
  assert.equal(live.status, 200, 'liveness does not depend on it');
}

/** 200, overall "degraded", naming `check` as degraded with `reason`, answered within the check timeout. */
async function assertDegraded(ccm: CcmUnderTest, check: string, reason: RegExp): Promise<{ status: number; body: HealthBody; ms: number }> {
  const answer = await probe(ccm, '/health/ready');
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.status, 'degraded');
  assert.deepEqual(Object.keys(answer.body.error), [], JSON.stringify(answer.body.error));
  assert.equal(answer.body.details[check]!.status, 'degraded');
  assert.match(String(answer.body.details[check]!['message']), reason);
  assert.ok(answer.ms < CHECK_TIMEOUT_MS + 1000, `answered in ${Math.round(answer.ms)} ms`);
  return answer;
}

describe('health on the embedded default (SQLite, local custody, no services)', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' });
    ccm = await installation.start();
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
  });

  test('live 200 and ready 200 without an API key, uncached, with database, custody and platform CA up; nothing audited', async () => {
    const auditBefore = await installation.database.query<{ n: number }>('SELECT count(*) AS n FROM audit_log');
    const live = await probe(ccm, '/health/live');
    assert.equal(live.status, 200);
    assert.equal(live.body.status, 'ok');
    assert.equal(live.body.details.eventLoop?.status, 'up');
    assert.equal(live.headers.get('cache-control'), 'no-cache, no-store, must-revalidate');

    const ready = await probe(ccm, '/health/ready');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.status, 'ok');
    assert.deepEqual(Object.keys(ready.body.details).sort(), ['custody', 'database', 'platformCa'], 'no redis check without CCM_REDIS_URL');
    assert.equal(ready.body.info.database?.status, 'up');
    assert.equal(ready.body.info.custody?.status, 'up');
    assert.equal(ready.body.info.custody?.kind, 'local');
    assert.equal(ready.body.info.platformCa?.caStatus, 'active');
    assert.deepEqual(ready.body.error, {});
    assert.equal(ready.headers.get('cache-control'), 'no-cache, no-store, must-revalidate');

    await ccm.auditWritten();
    assert.deepEqual(await installation.database.query('SELECT count(*) AS n FROM audit_log'), auditBefore, 'probes write no audit entry');
  });

  test('curl gets 200 and the JSON body from both endpoints', async () => {
    for (const path of ['/health/live', '/health/ready']) {
      const { stdout } = await promisify(execFile)('curl', ['-sS', '--max-time', '5', '-w', '\n%{http_code}', `${ccm.url}${path}`]);
      const [body, code] = [stdout.slice(0, stdout.lastIndexOf('\n')), stdout.slice(stdout.lastIndexOf('\n') + 1)];
      assert.equal(code, '200', `${path}: ${stdout}`);
      assert.equal((JSON.parse(body) as HealthBody).status, 'ok');
    }
  });

  test('a platform CA awaiting its imported certificate is reported as degraded, and readiness stays 200', async () => {
    const external = await TestInstallation.create({ database: 'sqlite', custody: 'local' }, { CCM_PLATFORM_CA_MODE: 'external' });
    const waiting = await external.start();
    try {
      const ready = await probe(waiting, '/health/ready');
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      assert.equal(ready.body.status, 'degraded');
      assert.equal(ready.body.details.platformCa?.status, 'degraded');
      assert.equal(ready.body.details.platformCa?.caStatus, 'pending');
      assert.match(String(ready.body.details.platformCa?.message), /PUT \/v1\/platform-ca\/certificate/);
      assert.deepEqual(ready.body.error, {});
    } finally {
      await waiting.close();
      await external.destroy();
    }
  });

  test('a Redis that accepts connections and never answers: degraded (still 200) naming redis after the check timeout, not a hung probe', async () => {
    const silent = net.createServer(() => undefined);
    const held = new Set<net.Socket>();
    silent.on('connection', (socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const hung = await TestInstallation.create({ database: 'sqlite', custody: 'local' }, { CCM_REDIS_URL: `redis://127.0.0.1:${port}` });
    const stuck = await hung.start();
    try {
      const answer = await assertDegraded(stuck, 'redis', /timeout of 2000ms exceeded; events wait in the outbox/);
      assert.ok(answer.ms >= CHECK_TIMEOUT_MS - 50, `answered in ${Math.round(answer.ms)} ms`);
      assert.equal(answer.body.details.database?.status, 'up', 'the other checks still report');
    } finally {
      await stuck.close();
      await hung.destroy();
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('health on PostgreSQL + Redis + Vault custody, each taken away and given back', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let redisProxy: TcpProxy;
  let postgresProxy: TcpProxy;

  before(async () => {
    redisProxy = new TcpProxy(REDIS.host, REDIS.port);
    postgresProxy = new TcpProxy('127.0.0.1', POSTGRES_PORT);
    await redisProxy.start();
    await postgresProxy.start();
    installation = await TestInstallation.create({ database: 'postgres', custody: 'vault' }, { CCM_REDIS_URL: `redis://${redisProxy.address}` });
    const databaseUrl = new URL(installation.database.env.DATABASE_URL!);
    databaseUrl.host = postgresProxy.address;
    ccm = await installation.start({ env: { DATABASE_URL: databaseUrl.toString() } });
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
    await redisProxy?.stop();
    await postgresProxy?.stop();
  });

  test('ready 200 with database, redis, vault custody and platform CA up', async () => {
    const ready = await probe(ccm, '/health/ready');
    assert.equal(ready.status, 200, JSON.stringify(ready.body));
    assert.equal(ready.body.status, 'ok');
    assert.deepEqual(Object.keys(ready.body.info).sort(), ['custody', 'database', 'platformCa', 'redis']);
    assert.equal(ready.body.info.custody?.kind, 'vault');
    for (const check of ['custody', 'database', 'platformCa', 'redis']) assert.equal(ready.body.info[check]?.status, 'up', check);
  });

  test('Vault sealed: 503 naming custody, live 200; unsealed: 200', async () => {
    installation.vault!.seal();
    try {
      await assertNotReady(ccm, 'custody', /sealed/);
    } finally {
      installation.vault!.unseal();
    }
    await readyBecomes(ccm, 200);
  });

  test('Vault stopped: 503 naming custody; started again: 200', async () => {
    await installation.vault!.stop();
    try {
      await assertNotReady(ccm, 'custody', /did not answer/);
    } finally {
      await installation.vault!.start();
    }
    await readyBecomes(ccm, 200);
  });

  test('Redis unreachable: degraded naming redis at once, still 200 (events wait in the outbox); back: up', async () => {
    await redisProxy.stop();
    try {
      await assertDegraded(ccm, 'redis', /^(not connected|PING failed).*events wait in the outbox/);
    } finally {
      await redisProxy.start();
    }
    const deadline = Date.now() + 10_000;
    for (let answer = await probe(ccm, '/health/ready'); answer.body.details.redis?.status !== 'up'; answer = await probe(ccm, '/health/ready')) {
      assert.ok(Date.now() < deadline, `redis still not up: ${JSON.stringify(answer.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });

  test('PostgreSQL hung (connections open, no answer): 503 naming the database after the check timeout; thawed: 200', async () => {
    postgresProxy.freeze();
    try {
      const started = performance.now();
      await assertNotReady(ccm, 'database', /timeout of 2000ms exceeded/);
      assert.ok(performance.now() - started >= CHECK_TIMEOUT_MS - 50, 'it waited for the timeout');
    } finally {
      postgresProxy.thaw();
    }
    await readyBecomes(ccm, 200);
  });

  test('PostgreSQL unreachable: 503 naming the database (the platform CA unknown, not failing); back: 200', async () => {
    await postgresProxy.stop();
    try {
      const answer = await probe(ccm, '/health/ready');
      assert.equal(answer.body.details.platformCa?.status, 'degraded', JSON.stringify(answer.body));
      await assertNotReady(ccm, 'database', /ECONNREFUSED|terminated|connect/i);
    } finally {
      await postgresProxy.start();
    }
    await readyBecomes(ccm, 200);
  });
});
