/**
 * Two ccm processes on one PostgreSQL database, one Redis and one Vault
 * (the Transit-compatible test server), as two replicas behind a load
 * balancer: started at the same moment on an empty database they create one
 * platform CA; issuing through both hands out distinct serials under one
 * tenant root; each event reaches a subscriber's queue exactly once, also when
 * a replica is killed mid-burst (kill -9) and when a relay publishes again
 * what it had published but not recorded; SIGTERM lets the requests in
 * flight finish, exits 0 within the grace period, and the other replica
 * keeps serving. The events' subscriber is the shipped CcmEventConsumer.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { CcmEventConsumer, type CcmEvent } from '@ccm/event-consumer';
import { TestInstallation } from '../support/ccm-under-test.js';
import { ServerProcess } from '../support/server-process.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const GRACE_MS = 10_000;
const CERTIFICATES = 300;
/** Requests in flight at once, per replica. */
const CONCURRENCY = 25;

interface Answer {
  readonly status: number | string;
  readonly body: Record<string, unknown>;
  readonly text: string;
}

function splitPem(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs `work` for each item, `concurrency` at a time. */
async function inBatches<T, R>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += concurrency) {
    results.push(...(await Promise.all(items.slice(start, start + concurrency).map((item, i) => work(item, start + i)))));
  }
  return results;
}

describe('two ccm replicas on one PostgreSQL, Redis and Vault', { timeout: 150_000 }, () => {
  let installation: TestInstallation;
  let replicaA: ServerProcess;
  let replicaB: ServerProcess;
  let replacement: ServerProcess | null = null;
  let consumer: CcmEventConsumer | null = null;
  let subscriberId = '';
  let startPosition = 0;
  /** Every event id the subscriber's consumer took, in order, repeats included. */
  const consumed: string[] = [];
  let tenantId = '';
  let tenantRoot: X509Certificate;
  const certificates: { id: string; serialNumber: string }[] = [];

  const call = async (replica: ServerProcess, method: string, path: string, body?: object): Promise<Answer> => {
    try {
      const response = await fetch(`${replica.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${installation.adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {}, text };
    } catch (error) {
      // A replica killed or stopped under the request: the connection is refused or reset.
      return { status: `failed: ${((error as Error).cause as { code?: string } | undefined)?.code ?? (error as Error).message}`, body: {}, text: '' };
    }
  };
  const transition = (replica: ServerProcess, certificateId: string, action: 'suspend' | 'reactivate' | 'revoke') => call(replica, 'POST', `/v1/tenants/${tenantId}/certificates/${certificateId}/${action}`, {});

  /** Adds BullMQ refused because a job with that id was already there ("duplicated" in the queue's event stream). */
  const absorbedDuplicates = async (): Promise<number> => {
    const redis = new Redis(REDIS_URL);
    try {
      const entries = await redis.xrange(`bull:ccm-events-${subscriberId}:events`, '-', '+');
      return entries.filter(([, fields]) => fields[0] === 'event' && fields[1] === 'duplicated').length;
    } finally {
      redis.disconnect();
    }
  };

  /** Event ids in the outbox after the subscriber was registered: what it must receive. */
  const outboxIds = async (): Promise<string[]> =>
    (await installation.database.query<{ id: string }>(`SELECT id FROM outbox WHERE position > ${startPosition} ORDER BY position`)).map((row) => row.id);

  before(async () => {
    installation = await TestInstallation.create(
      { database: 'postgres', custody: 'vault' },
      { CCM_REDIS_URL: REDIS_URL, CCM_RELAY_POLL_MS: '200', CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '0', CCM_SHUTDOWN_GRACE_MS: String(GRACE_MS), CCM_LOG_LEVEL: 'log' },
    );
    // The same moment, on an empty database: both run the migrations and race for the platform CA.
    [replicaA, replicaB] = await Promise.all([ServerProcess.ccm(installation.env), ServerProcess.ccm(installation.env)]);
  });

  after(async () => {
    await consumer?.close();
    for (const replica of [replicaA, replicaB, replacement]) await replica?.stop();
    if (subscriberId) {
      const queue = new Queue(`ccm-events-${subscriberId}`, { connection: { url: REDIS_URL } });
      await queue.obliterate({ force: true });
      await queue.close();
    }
    await installation?.destroy();
  });

  it('create exactly one platform CA, and both sign tenant CAs with it', async () => {
    const [{ count }] = await installation.database.query<{ count: string }>("SELECT COUNT(*) AS count FROM authorities WHERE kind = 'platform'");
    assert.equal(Number(count), 1, 'one platform CA row');
    const [fromA, fromB] = await Promise.all([call(replicaA, 'GET', '/v1/platform-ca'), call(replicaB, 'GET', '/v1/platform-ca')]);
    assert.equal(fromA.body.status, 'active');
    assert.deepEqual(fromA.body, fromB.body, 'both replicas serve the same platform CA');
    assert.equal(installation.vault!.keyNames().filter((name) => name.includes('platform')).length, 1, 'one platform key in Vault');
    const platform = new X509Certificate(fromA.body.certificatePem as string);

    const [tenantA, tenantB] = await Promise.all([call(replicaA, 'POST', '/v1/tenants', { name: 'replicas-a' }), call(replicaB, 'POST', '/v1/tenants', { name: 'replicas-b' })]);
    for (const created of [tenantA, tenantB]) {
      assert.equal(created.status, 201);
      const chain = await call(replicaA, 'GET', `/v1/tenants/${created.body.id}/ca-chain`);
      const root = splitPem(chain.text)[0]!;
      assert.ok(root.checkIssued(platform) && root.verify(platform.publicKey), 'the tenant root is signed by the one platform CA');
    }
    tenantId = tenantA.body.id as string;
    tenantRoot = splitPem((await call(replicaB, 'GET', `/v1/tenants/${tenantId}/ca-chain`)).text)[0]!;
  });

  it(`hand out ${CERTIFICATES} distinct serials under one tenant root when both issue at once`, async () => {
    const startedAt = Date.now();
    const issued = await inBatches(Array.from({ length: CERTIFICATES }), CONCURRENCY * 2, (_, i) =>
      call(i % 2 === 0 ? replicaA : replicaB, 'POST', `/v1/tenants/${tenantId}/certificates`, { commonName: `replica-device-${i}` }),
    );
    const seconds = (Date.now() - startedAt) / 1000;
    assert.deepEqual([...new Set(issued.map((answer) => answer.status))], [201]);
    const serials = issued.map((answer) => answer.body.serialNumber as string);
    assert.equal(new Set(serials).size, CERTIFICATES, 'distinct serials in the answers');
    for (const answer of issued) {
      const certificate = new X509Certificate(answer.body.certificatePem as string);
      assert.equal(certificate.serialNumber.toLowerCase().replace(/^(00)+/, ''), answer.body.serialNumber);
      assert.ok(certificate.checkIssued(tenantRoot) && certificate.verify(tenantRoot.publicKey), 'signed by the tenant root');
      assert.equal(splitPem(answer.body.chainPem as string)[0]!.fingerprint256, tenantRoot.fingerprint256);
      certificates.push({ id: answer.body.id as string, serialNumber: answer.body.serialNumber as string });
    }
    const [recorded] = await installation.database.query<{ total: string; serials: string; roots: string }>(
      `SELECT COUNT(*) AS total, COUNT(DISTINCT serial_number) AS serials, COUNT(DISTINCT authority_id) AS roots FROM certificates WHERE tenant_id = '${tenantId}'`,
    );
    assert.deepEqual({ total: Number(recorded.total), serials: Number(recorded.serials), roots: Number(recorded.roots) }, { total: CERTIFICATES, serials: CERTIFICATES, roots: 1 });
    console.log(`# ${CERTIFICATES} certificates through two replicas in ${seconds.toFixed(1)} s`);
  });

  it('deliver every event to a subscriber exactly once while both replicas change states', async () => {
    const subscriber = await call(replicaB, 'POST', '/v1/event-subscribers', { name: 'replicas-broker' });
    assert.equal(subscriber.status, 201);
    subscriberId = subscriber.body.id as string;
    startPosition = Number(subscriber.body.deliveredPosition);
    consumer = new CcmEventConsumer({ redis: REDIS_URL, subscriberId, handler: async (event: CcmEvent) => void consumed.push(event.id) });
    await consumer.start();

    // Suspend the first 100 through both replicas at once, then revoke 50 of them and reactivate the other 50.
    const first = certificates.slice(0, 100);
    const answers = [
      ...(await inBatches(first, CONCURRENCY * 2, (c, i) => transition(i % 2 === 0 ? replicaA : replicaB, c.id, 'suspend'))),
      ...(await inBatches(first, CONCURRENCY * 2, (c, i) => transition(i % 2 === 0 ? replicaB : replicaA, c.id, i < 50 ? 'revoke' : 'reactivate'))),
    ];
    assert.deepEqual([...new Set(answers.map((answer) => answer.status))], [200]);
    const expected = await outboxIds();
    assert.equal(expected.length, 200);
    await until(async () => consumed.length >= expected.length, `${expected.length} events at the subscriber`);
    await new Promise((resolve) => setTimeout(resolve, 600)); // three relay polls: nothing more may arrive
    assert.equal(new Set(consumed).size, consumed.length, 'no event twice');
    assert.deepEqual([...consumed].sort(), [...expected].sort(), 'every event of the outbox, none missing');
    console.log(`# ${expected.length} events from both replicas delivered once each; ${await absorbedDuplicates()} publications of the same event by both relays absorbed by the job id`);
  });

  it('on SIGTERM let requests in flight finish, exit 0 within the grace period, and lose no event, while the other replica serves', async () => {
    const vault = installation.vault!;
    const targets = certificates.slice(100, 160);
    const suspended = await Promise.all(targets.map((c) => transition(replicaA, c.id, 'suspend')));
    assert.deepEqual([...new Set(suspended.map((answer) => answer.status))], [200], 'the transitions before the signal');
    // Vault answers slowly, so the issuance requests below are certainly in flight (waiting for their signature) when the signal comes.
    vault.latencyMs = 1500;
    const inFlight = Promise.all(Array.from({ length: 30 }, (_, i) => call(replicaA, 'POST', `/v1/tenants/${tenantId}/certificates`, { commonName: `in-flight-${i}` })));
    const pendingInFlight = async () => Number((await installation.database.query<{ n: string }>("SELECT COUNT(*) AS n FROM certificates WHERE common_name LIKE 'in-flight-%' AND state = 'pending'"))[0]!.n);
    await until(async () => (await pendingInFlight()) === 30, 'the 30 issuance requests recorded and waiting for Vault');

    const signalledAt = Date.now();
    replicaA.signal('SIGTERM');
    // Meanwhile the other replica serves: transitions and issuance through B while A drains.
    const duringDrain = Promise.all([
      ...targets.slice(0, 30).map((c) => transition(replicaB, c.id, 'revoke')),
      ...Array.from({ length: 10 }, (_, i) => call(replicaB, 'POST', `/v1/tenants/${tenantId}/certificates`, { commonName: `during-drain-${i}` })),
    ]);
    const exitCode = await replicaA.exited();
    const drainMs = Date.now() - signalledAt;
    const finished = await inFlight;
    vault.latencyMs = 0;
    assert.equal(exitCode, 0, `replica A exits 0:\n${replicaA.log.slice(-3000)}`);
    assert.ok(drainMs < GRACE_MS, `stopped within the grace period (${drainMs} ms)`);
    assert.deepEqual([...new Set(finished.map((answer) => answer.status))], [201], 'every request in flight at the signal finished with success');
    assert.deepEqual(
      (await duringDrain).map((answer) => answer.status),
      [...Array.from({ length: 30 }, () => 200), ...Array.from({ length: 10 }, () => 201)],
      'the other replica served throughout',
    );
    const refused = await call(replicaA, 'GET', '/v1/platform-ca');
    assert.match(String(refused.status), /ECONNREFUSED/, 'the stopped replica takes no more connections');
    for (const phase of ['SIGTERM: stopping', 'HTTP server closed', 'event relay stopped', 'audit log flushed', 'database connections closed', 'stopped in']) {
      assert.ok(replicaA.log.includes(phase), `the log names the phase "${phase}"`);
    }

    const expected = await outboxIds();
    assert.equal(expected.length, 200 + 60 + 30);
    await until(async () => consumed.length >= expected.length, `${expected.length} events at the subscriber`);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(new Set(consumed).size, consumed.length, 'no event twice');
    assert.deepEqual([...consumed].sort(), [...expected].sort(), 'every transition made before and during the stop reached the subscriber');
    console.log(`# SIGTERM under load: ${finished.length} requests in flight finished, exit ${exitCode} after ${drainMs} ms`);
  });

  it('lose and duplicate nothing when a replica is killed mid-burst or a relay publishes again what it had not recorded', async () => {
    replacement = await ServerProcess.ccm(installation.env);
    const targets = certificates.slice(160, 300);
    let answered = 0;
    const burst = Promise.all(
      targets.map(async (c, i) => {
        const answer = await transition(i % 2 === 0 ? replacement! : replicaB, c.id, 'suspend');
        answered += 1;
        return answer;
      }),
    );
    await until(() => answered >= targets.length / 3, 'a third of the burst answered');
    replacement.signal('SIGKILL');
    const answers = await burst;
    assert.equal(await replacement.exited(), null, 'killed, not stopped');
    const succeeded = answers.filter((answer) => answer.status === 200).length;
    const failed = answers.filter((answer) => String(answer.status).startsWith('failed')).length;
    assert.equal(succeeded + failed, targets.length, `only successes and cut connections: ${JSON.stringify([...new Set(answers.map((a) => a.status))])}`);

    const expected = await outboxIds();
    await until(async () => consumed.length >= expected.length, `${expected.length} events at the subscriber after the kill`);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(new Set(consumed).size, consumed.length, 'no event twice after the kill');
    assert.deepEqual([...consumed].sort(), [...expected].sort(), 'every committed event, including those of the killed replica');
    const [{ suspendedNow }] = await installation.database.query<{ suspendedNow: string }>(`SELECT COUNT(*) AS "suspendedNow" FROM certificates WHERE state = 'suspended' AND id IN (${targets.map((c) => `'${c.id}'`).join(',')})`);
    assert.equal(Number(suspendedNow), expected.length - 290, 'one event per committed suspension');

    // A relay that died after publishing and before recording its position: the position is behind what the queue holds.
    const duplicatesBefore = await absorbedDuplicates();
    await installation.database.query(`UPDATE event_subscribers SET delivered_position = ${startPosition} WHERE id = '${subscriberId}'`);
    const latest = Number((await installation.database.query<{ max: string }>('SELECT MAX(position) AS max FROM outbox'))[0]!.max);
    await until(
      async () => Number((await installation.database.query<{ p: string }>(`SELECT delivered_position AS p FROM event_subscribers WHERE id = '${subscriberId}'`))[0]!.p) === latest,
      'the surviving relay to publish everything again',
    );
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(consumed.length, expected.length, `the replay added nothing (${expected.length} events, each once)`);
    const replayed = (await absorbedDuplicates()) - duplicatesBefore;
    assert.ok(replayed >= expected.length, `every event was published again and refused as a duplicate (${replayed})`);
    console.log(`# kill -9 mid-burst: ${succeeded} suspensions answered, ${failed} cut; ${expected.length} events delivered once each; ${replayed} re-publications after the position reset absorbed`);
  });

  it('stop the last replica with exit code 0', async () => {
    replicaB.signal('SIGTERM');
    assert.equal(await replicaB.exited(), 0);
  });
});
