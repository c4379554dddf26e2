/**
 * The RabbitMQ agent end to end: ccm (PostgreSQL, Redis relay) → subscriber
 * queue → agent (child process of packages/rabbitmq-agent/dist/src/main.js)
 * → RabbitMQ 3.10 (MQTT plugin, certificate login by DN, the tenant's
 * ca-chain as trust bundle), with real mqtt clients over mutual TLS and
 * ccm-issued certificates: suspend closes the session and refuses the
 * reconnect; reactivate lets the device back; revoke, and revoking the
 * tenant CA, shut devices out for good; a bystander stays connected until
 * its own CA is revoked; and an agent killed (SIGKILL) during a burst of
 * suspensions catches up after its restart, every suspended device shut out.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import type { MqttClient } from 'mqtt';
import { rabbitMqUsernameOf } from '@ccm/rabbitmq-agent';
import { subscriberQueueName } from '@ccm/event-consumer/contract';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { openssl } from '../support/openssl.js';
import { OpensslTestCa, RabbitMqAgentProcess, RabbitMqUnderTest } from '../support/rabbitmq.js';

const REDIS_URL = process.env['CCM_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

interface Issued {
  readonly id: string;
  readonly subject: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

async function api<T>(ccm: CcmUnderTest, method: string, path: string, body?: unknown): Promise<{ status: number; body: T; at: number }> {
  const headers = { ...ccm.authorization(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  const response = await fetch(`${ccm.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const at = performance.now();
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // PEM and other text bodies
  }
  return { status: response.status, body: parsed as T, at };
}

type IssuedBody = { id: string; subject: string; certificatePem: string; privateKeyPem: string | null };

async function issue(ccm: CcmUnderTest, tenantId: string, commonName: string): Promise<Issued> {
  const res = await api<IssuedBody>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates`, { commonName, ttlSeconds: 3600 });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, subject: res.body.subject, certificatePem: res.body.certificatePem, privateKeyPem: res.body.privateKeyPem! };
}

/** A device that sends a CSR, so its subject has more than a CN. */
async function issueFromCsr(ccm: CcmUnderTest, tenantId: string, subj: string, directory: string): Promise<Issued> {
  const key = join(directory, `${randomUUID()}.key`);
  assert.equal((await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key])).code, 0);
  const csr = await openssl(['req', '-new', '-utf8', '-key', key, '-subj', subj]);
  assert.equal(csr.code, 0, csr.stderr);
  const res = await api<IssuedBody>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates`, { csr: csr.stdout, ttlSeconds: 3600 });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, subject: res.body.subject, certificatePem: res.body.certificatePem, privateKeyPem: await readFile(key, 'utf8') };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until the attempt gives `wanted`; ms it took. */
async function eventually(attempt: () => Promise<string>, wanted: string, timeoutMs = 20_000): Promise<number> {
  const start = performance.now();
  for (;;) {
    const outcome = await attempt();
    if (outcome === wanted) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`still ${outcome}, never ${wanted}, after ${timeoutMs} ms`);
    await sleep(50);
  }
}

function closeOf(client: MqttClient): Promise<number> {
  return new Promise((resolve) => client.once('close', () => resolve(performance.now())));
}

describe('ccm → Redis → RabbitMQ agent → RabbitMQ MQTT: suspend, reactivate and revoke reach a live MQTT session', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let serverCa: OpensslTestCa;
  let node: RabbitMqUnderTest;
  let agent: RabbitMqAgentProcess | null = null;
  let workDirectory: string;
  let tenantId: string;
  let subscriberId: string;
  let agentEnv: Record<string, string>;
  let sensor: Issued;
  let bystander: Issued;
  let fromCsr: Issued;
  let burst: Issued[];
  let bystanderClient: MqttClient;
  let bystanderClosedAt: Promise<number>;
  let bystanderClosed = false;
  const clients: MqttClient[] = [];
  const run = randomUUID().slice(0, 8);

  /** 'connected', or 'refused:' and the reason (CONNACK "Not authorized" for a limited user, "Bad username or password" for a deleted one). */
  const outcomeOf = async (device: Issued): Promise<string> => {
    const tried = await node.tryConnect(device.certificatePem, device.privateKeyPem);
    return tried.outcome === 'connected' ? 'connected' : `refused:${tried.reason.replace(/^Connection refused: /, '')}`;
  };

  const connected = async (device: Issued): Promise<MqttClient> => {
    const client = node.connectDevice(device.certificatePem, device.privateKeyPem);
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error(`${device.subject} closed before CONNACK`)));
    });
    return client;
  };

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' }, { CCM_REDIS_URL: REDIS_URL });
    [ccm, serverCa] = await Promise.all([installation.start(), OpensslTestCa.create('ccm e2e RabbitMQ server CA')]);
    workDirectory = await mkdtemp(join(tmpdir(), 'ccm-rabbitmq-e2e-'));
    const tenant = await api<{ id: string }>(ccm, 'POST', '/v1/tenants', { name: `rabbitmq-e2e-${run}` });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    tenantId = tenant.body.id;
    [sensor, bystander] = await Promise.all([issue(ccm, tenantId, `sensor-${run}`), issue(ccm, tenantId, `bystander-${run}`)]);
    fromCsr = await issueFromCsr(ccm, tenantId, `/O=Zähler Müller GmbH/OU=Plant 7/CN=pump\\, Nr. 7 ${run}`, workDirectory);
    burst = await Promise.all(Array.from({ length: 30 }, (_, i) => issue(ccm, tenantId, `burst-${run}-${i}`)));
    const subscriber = await api<{ id: string }>(ccm, 'POST', '/v1/event-subscribers', { name: `rabbitmq-e2e-${run}`, tenantIds: [tenantId] });
    assert.equal(subscriber.status, 201, JSON.stringify(subscriber.body));
    subscriberId = subscriber.body.id;
    const chain = await api<string>(ccm, 'GET', `/v1/tenants/${tenantId}/ca-chain`);
    assert.equal(chain.status, 200);
    const server = await serverCa.serverCertificate();
    node = await RabbitMqUnderTest.start({ serverCertificatePem: server.certificatePem, serverKeyPem: server.privateKeyPem, trustBundlePem: chain.body, serverCaPem: serverCa.caPem });
    const passwordFile = join(workDirectory, 'rabbitmq-password');
    await writeFile(passwordFile, `${node.agentPassword}\n`, { mode: 0o600 });
    agentEnv = {
      CCM_AGENT_CCM_URL: ccm.url,
      // The agent works with a broker key, the least it needs.
      CCM_AGENT_CCM_AUTHORIZATION: `Bearer ${await ccm.createApiKey('broker')}`,
      CCM_AGENT_TENANT_IDS: tenantId,
      CCM_AGENT_REDIS_URL: REDIS_URL,
      CCM_AGENT_SUBSCRIBER_ID: subscriberId,
      CCM_AGENT_HEALTH_LISTEN: `127.0.0.1:${node.ports.spare}`,
      CCM_AGENT_LOG_LEVEL: 'debug',
      ...node.agentEnvironment(passwordFile),
    };
    agent = await RabbitMqAgentProcess.start(agentEnv);
  });

  after(async () => {
    for (const client of clients) client.end(true);
    const agentExit = await agent?.stop();
    await node?.stop();
    await serverCa?.cleanup();
    await ccm?.close();
    await installation?.destroy();
    if (subscriberId) {
      const queue = new Queue(subscriberQueueName(subscriberId), { connection: { url: REDIS_URL } });
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
    if (workDirectory) await rm(workDirectory, { recursive: true, force: true });
    assert.equal(agentExit ?? 0, 0, 'the agent stops cleanly on SIGTERM');
  });

  test('after the agent\'s first reconciliation every device of the tenant connects with its ccm certificate, as the user identityOf names', async () => {
    for (const device of [sensor, bystander, fromCsr, ...burst]) await eventually(() => outcomeOf(device), 'connected');
    const users = (await node.management('GET', '/users?columns=name,tags')).json() as Array<{ name: string; tags: string[] }>;
    assert.equal(users.filter((user) => user.tags.includes('ccm-device')).length, 33);
    assert.equal(rabbitMqUsernameOf(fromCsr.subject), `CN=pump\\, Nr. 7 ${run},OU=Plant 7,O=Z\\C3\\A4hler M\\C3\\BCller GmbH`);
    const client = await connected(fromCsr);
    const tracked = (await node.management('GET', `/connections/username/${encodeURIComponent(rabbitMqUsernameOf(fromCsr.subject)!)}`)).json() as unknown[];
    assert.equal(tracked.length, 1, `RabbitMQ names ${fromCsr.subject} as its user`);
    client.end(true);
    bystanderClient = await connected(bystander);
    bystanderClosedAt = closeOf(bystanderClient).then((at) => {
      bystanderClosed = true;
      return at;
    });
  });

  test('suspension closes the device\'s session and refuses its reconnect; the bystander stays connected', async () => {
    const client = await connected(sensor);
    const closedAt = closeOf(client);
    const suspended = await api<{ state: string }>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates/${sensor.id}/suspend`, {});
    assert.equal(suspended.status, 200, JSON.stringify(suspended.body));
    assert.equal(suspended.body.state, 'suspended');
    const latency = (await closedAt) - suspended.at;
    console.log(`# suspend API returned → MQTT connection closed: ${latency.toFixed(1)} ms`);
    assert.ok(latency < 10_000);
    assert.equal(await outcomeOf(sensor), 'refused:Not authorized');
    const enforced = await agent!.waitFor((line) => line['msg'] === 'event enforced' && line['eventType'] === 'certificate.suspended');
    console.log(`# agent: event committed → enforced: ${String(enforced['eventLagMs'])} ms`);
    assert.equal(bystanderClosed, false);
    assert.ok(bystanderClient.connected);
  });

  test('reactivation lets the device connect again', async () => {
    const reactivated = await api<{ state: string }>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates/${sensor.id}/reactivate`, {});
    assert.equal(reactivated.status, 200, JSON.stringify(reactivated.body));
    const latency = await eventually(() => outcomeOf(sensor), 'connected');
    console.log(`# reactivate API returned → device accepted again: ≤ ${latency.toFixed(1)} ms`);
  });

  test('revocation closes the session and shuts the device out for good', async () => {
    const client = await connected(sensor);
    const closedAt = closeOf(client);
    const revoked = await api<{ state: string }>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates/${sensor.id}/revoke`, { reason: 'keyCompromise' });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    console.log(`# revoke API returned → MQTT connection closed: ${((await closedAt) - revoked.at).toFixed(1)} ms`);
    assert.equal(await outcomeOf(sensor), 'refused:Bad username or password');
    assert.equal((await node.management('GET', `/users/${encodeURIComponent(rabbitMqUsernameOf(sensor.subject)!)}`)).status, 404, 'the user is deleted');
    assert.equal(bystanderClosed, false);
  });

  test('an agent killed (SIGKILL) during a burst of suspensions shuts every suspended device out after its restart', async () => {
    const suspendedDevices = burst.slice(0, 20);
    const keptDevices = burst.slice(20);
    const open = new Map<Issued, { client: MqttClient; closed: Promise<number> }>();
    for (const device of burst) {
      const client = await connected(device);
      open.set(device, { client, closed: closeOf(client) });
    }
    // The burst goes out one suspension after another; the agent is killed as soon as it has shut the first device out, so the
    // rest of the burst arrives while it is handling it or while it is down.
    const burstDone = (async () => {
      for (const device of suspendedDevices) assert.equal((await api(ccm, 'POST', `/v1/tenants/${tenantId}/certificates/${device.id}/suspend`, {})).status, 200);
    })();
    await Promise.race(suspendedDevices.map((device) => open.get(device)!.closed));
    await agent!.kill();
    const closedBeforeKill = suspendedDevices.filter((device) => !open.get(device)!.client.connected).length;
    await burstDone;
    const restarted = performance.now();
    agent = await RabbitMqAgentProcess.start(agentEnv);
    await Promise.all(suspendedDevices.map((device) => open.get(device)!.closed));
    console.log(`# SIGKILL with ${closedBeforeKill} of ${suspendedDevices.length} suspended devices out; restart (process start + reconciliation) → all out: ${(performance.now() - restarted).toFixed(0)} ms`);
    for (const device of suspendedDevices) assert.equal(await outcomeOf(device), 'refused:Not authorized', device.subject);
    for (const device of keptDevices) {
      assert.ok(open.get(device)!.client.connected, `${device.subject} was not suspended and stays connected`);
      assert.equal(await outcomeOf(device), 'connected');
    }
    assert.equal(bystanderClosed, false);
  });

  test('revoking the tenant CA drops the remaining devices and refuses them all', async () => {
    assert.equal(bystanderClosed, false, 'the bystander was connected throughout');
    const revoked = await api<unknown>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/revoke`, { reason: 'cACompromise' });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    console.log(`# revoke tenant CA API returned → bystander's connection closed: ${((await bystanderClosedAt) - revoked.at).toFixed(1)} ms`);
    for (const device of [sensor, bystander, fromCsr, ...burst]) await eventually(() => outcomeOf(device), 'refused:Bad username or password');
    const users = (await node.management('GET', '/users?columns=name,tags')).json() as Array<{ name: string; tags: string[] }>;
    assert.deepEqual(users.filter((user) => user.tags.includes('ccm-device')), []);
  });
});
