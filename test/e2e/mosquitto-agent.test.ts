/**
 * The Mosquitto agent end to end, on a real Mosquitto 2.0 with real MQTT
 * clients over mutual TLS.
 *
 * Part 1 pins down the broker behaviour the agent is built on, with the
 * agent's own adapters (crlfile writer, SIGHUP, dynsec control) and CRLs from
 * a throwaway CA: what a reload does and does not do, how fast a kick is, and
 * the ways a crlfile can lock everyone out or let everyone in.
 *
 * Part 2 is the whole chain: ccm (PostgreSQL, Redis relay) → subscriber
 * queue → agent (child process of dist/src/mosquitto-agent/main.js) →
 * Mosquitto, with certificates issued by ccm: suspend drops the device and
 * refuses its reconnect, reactivate lets it back, revoke shuts it out for
 * good, and a second device of the tenant stays connected throughout; the
 * same through the HTTP event feed without Redis; and revoking the tenant CA
 * drops the remaining device and refuses all of them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import type { MqttClient } from 'mqtt';
import { AtomicCrlFile } from '../../src/mosquitto-agent/crl-file.js';
import { DynsecBrokerControl } from '../../src/mosquitto-agent/dynsec-control.js';
import { SighupReloader } from '../../src/mosquitto-agent/process-signaller.js';
import { subscriberQueueName } from '../../src/events/certificate-event.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { MosquittoAgentProcess, MosquittoUnderTest, ThrowawayPki, type DeviceCredentials } from '../support/mosquitto.js';

const REDIS_URL = process.env['CCM_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Connects and waits for CONNACK. */
async function connected(broker: MosquittoUnderTest, device: Pick<DeviceCredentials, 'certificatePem' | 'privateKeyPem'>, options: Parameters<MosquittoUnderTest['connectDevice']>[2] = {}): Promise<MqttClient> {
  const client = broker.connectDevice(device.certificatePem, device.privateKeyPem, options);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return client;
}

function closeOf(client: MqttClient): Promise<number> {
  return new Promise((resolve) => client.once('close', () => resolve(performance.now())));
}

/** Polls connection attempts until one is refused; resolves ms from `since` to the first refused attempt's start. */
async function refusedWithin(broker: MosquittoUnderTest, device: DeviceCredentials, since: number, timeoutMs = 5000): Promise<number> {
  for (;;) {
    const started = performance.now();
    if ((await broker.tryConnect(device.certificatePem, device.privateKeyPem)) === 'refused') return started - since;
    if (started - since > timeoutMs) throw new Error(`${device.commonName} still accepted ${timeoutMs} ms after the reload`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('Mosquitto 2.0 under the agent\'s adapters (throwaway CA)', () => {
  let pki: ThrowawayPki;
  let broker: MosquittoUnderTest;
  let control: DynsecBrokerControl;
  let crlFile: AtomicCrlFile;
  let reloader: SighupReloader;
  let alpha: DeviceCredentials;
  let beta: DeviceCredentials;
  let gamma: DeviceCredentials;
  const clients: MqttClient[] = [];

  before(async () => {
    pki = await ThrowawayPki.create();
    [alpha, beta, gamma] = await Promise.all([pki.issueDevice('device-alpha'), pki.issueDevice('device-beta'), pki.issueDevice('device-gamma')]);
    broker = await MosquittoUnderTest.start({ clientCaPem: pki.chainPem, crlPem: await pki.crl() });
    control = await DynsecBrokerControl.connect({ url: broker.adminUrl, username: broker.adminUsername, password: broker.adminPassword });
    crlFile = new AtomicCrlFile(broker.crlFile);
    reloader = new SighupReloader({ kind: 'file', path: broker.pidFile });
  });

  after(async () => {
    for (const client of clients) client.end(true);
    await control?.close();
    await broker?.stop();
  });

  /** Writes the crlfile, SIGHUPs, and (unless told not to) waits one admin round trip, after which the reload is applied. */
  async function install(pem: string, options: { barrier?: boolean } = {}): Promise<number> {
    await crlFile.install(pem);
    const signalledAt = performance.now();
    assert.equal(await reloader.reload(), true);
    if (options.barrier !== false) await control.roundTrip();
    return performance.now() - signalledAt;
  }

  test('devices with valid certificates connect; the username is the certificate CN', async () => {
    const client = await connected(broker, alpha);
    clients.push(client);
    client.end(true);
    const log = await broker.log();
    assert.match(log, /New client connected from 127\.0\.0\.1:\d+ as device-alpha \(.*u'device-alpha'\)/);
  });

  test('once an admin round trip after the SIGHUP has answered, the new CRL is in force', async () => {
    const waits: number[] = [];
    for (let round = 0; round < 6; round++) {
      const listed = round % 2 === 0;
      waits.push(await install(await pki.crl({ entries: listed ? [{ serialNumber: gamma.serialNumber, reason: 6 }] : [] })));
      assert.equal(await broker.tryConnect(gamma.certificatePem, gamma.privateKeyPem), listed ? 'refused' : 'connected', `round ${round}`);
    }
    console.log(`# SIGHUP → admin round trip answered (reload applied): ${waits.map((w) => w.toFixed(1)).join(', ')} ms`);
  });

  test('an idle broker applies a SIGHUP on its own within its loop timeout (about 100 ms)', async () => {
    const delays = [0, 25, 50, 100, 150, 250];
    const refused = new Map<number, number>(delays.map((d) => [d, 0]));
    const rounds = 4;
    for (let round = 0; round < rounds; round++) {
      for (const delay of delays) {
        await install(await pki.crl());
        await sleep(150); // let the broker go idle again
        await install(await pki.crl({ entries: [{ serialNumber: gamma.serialNumber, reason: 6 }] }), { barrier: false });
        await sleep(delay);
        if ((await broker.tryConnect(gamma.certificatePem, gamma.privateKeyPem)) === 'refused') refused.set(delay, refused.get(delay)! + 1);
      }
    }
    console.log(`# idle broker, SIGHUP then a connection attempt after d ms, refused/attempts: ${delays.map((d) => `${d} ms ${refused.get(d)}/${rounds}`).join(', ')}`);
    assert.equal(refused.get(250), rounds, 'a quarter second after the signal the reload is always in force');
    await install(await pki.crl());
  });

  test('a reload never drops a live session, even of a device the new CRL lists; the kick does, and its reconnect is refused', async () => {
    await install(await pki.crl());
    const live = await connected(broker, alpha);
    const other = await connected(broker, beta);
    clients.push(live, other);
    let dropped = false;
    live.once('close', () => (dropped = true));
    await install(await pki.crl({ entries: [{ serialNumber: alpha.serialNumber, reason: 6 }] }));
    await sleep(300);
    assert.equal(dropped, false, 'SIGHUP must not drop the live session (that is why the agent kicks)');
    assert.equal(live.connected, true);
    const closed = closeOf(live);
    const kickedAt = performance.now();
    await control.disableClients(['device-alpha']);
    console.log(`# kick of a listed device: session closed after ${((await closed) - kickedAt).toFixed(1)} ms`);
    assert.equal(await broker.tryConnect(alpha.certificatePem, alpha.privateKeyPem), 'refused');
    assert.equal(other.connected, true, 'the other device stays connected');
    other.end(true);
  });

  test('disableClient kicks a live session within milliseconds, again when repeated, and does not refuse the reconnect by itself', async () => {
    await install(await pki.crl());
    const latencies: number[] = [];
    for (let round = 0; round < 5; round++) {
      const client = await connected(broker, beta);
      clients.push(client);
      const start = performance.now();
      const closed = closeOf(client);
      await control.disableClients(['device-beta']);
      latencies.push((await closed) - start);
    }
    console.log(`# disableClient → session closed: ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`);
    assert.ok(Math.max(...latencies) < 500);
    assert.equal(await broker.tryConnect(beta.certificatePem, beta.privateKeyPem), 'connected', 'dynsec disable does not refuse a certificate client (measured on 2.0.11)');
    await control.enableClients(['device-beta', 'nobody-at-all']);
  });

  test('admin round trips take milliseconds (no Nagle stall), and commands issued while one is answered all get theirs', async () => {
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const at = performance.now();
      await control.roundTrip();
      times.push(performance.now() - at);
    }
    console.log(`# admin round trips: ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
    // A QoS 1 command's answer waited ~40 ms behind its PUBACK (Nagle's algorithm against a delayed ACK).
    assert.ok([...times].sort((a, b) => a - b)[5]! < 30, 'median under 30 ms');
    const calls: Array<Promise<void>> = [];
    for (let i = 0; i < 5; i++) {
      calls.push(control.roundTrip(), control.enableClients([`never-seen-${i}`]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(calls);
  });

  test('without a CRL for the devices\' CA in the crlfile, Mosquitto refuses them', async () => {
    const strangers = await ThrowawayPki.create('another tenant CA');
    await install(await strangers.crl());
    assert.equal(await broker.tryConnect(beta.certificatePem, beta.privateKeyPem), 'refused');
    await install(`${await pki.crl()}${await strangers.crl()}`);
    assert.equal(await broker.tryConnect(beta.certificatePem, beta.privateKeyPem), 'connected', 'a bundle holding a CRL per CA works');
  });

  test('an expired CRL refuses every device of its CA', async () => {
    const longAgo = new Date(Date.now() - 3 * 86400_000);
    await install(await pki.crl({ thisUpdate: longAgo, nextUpdate: new Date(longAgo.getTime() + 86400_000) }));
    assert.equal(await broker.tryConnect(beta.certificatePem, beta.privateKeyPem), 'refused');
    await install(await pki.crl());
  });

  test('hazard the agent guards against: a crlfile Mosquitto cannot read on reload turns revocation checking off', async () => {
    await install(await pki.crl({ entries: [{ serialNumber: gamma.serialNumber, reason: 6 }] }));
    assert.equal(await broker.tryConnect(gamma.certificatePem, gamma.privateKeyPem), 'refused');
    await install('this is not a CRL\n');
    assert.equal(await broker.tryConnect(gamma.certificatePem, gamma.privateKeyPem), 'connected', 'Mosquitto 2.0.11 fails open here');
    await install(await pki.crl());
    assert.ok(broker.running);
  });
});

interface Issued extends DeviceCredentials {
  readonly id: string;
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

async function issue(ccm: CcmUnderTest, tenantId: string, commonName: string): Promise<Issued> {
  const res = await api<{ id: string; serialNumber: string; certificatePem: string; privateKeyPem: string; message?: string }>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates`, { commonName, ttlSeconds: 3600 });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, commonName, serialNumber: res.body.serialNumber, certificatePem: res.body.certificatePem, privateKeyPem: res.body.privateKeyPem };
}

/** Polls until `attempt` answers `wanted`; resolves the ms it took. */
async function eventually(attempt: () => Promise<string>, wanted: string, timeoutMs = 15_000): Promise<number> {
  const start = performance.now();
  for (;;) {
    if ((await attempt()) === wanted) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`never became ${wanted} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('ccm → Redis → agent → Mosquitto: suspend, reactivate and revoke reach a live MQTT session', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let broker: MosquittoUnderTest;
  let agent: MosquittoAgentProcess | null = null;
  let feedAgent: MosquittoAgentProcess | null = null;
  let feedBroker: MosquittoUnderTest | null = null;
  let workDirectory: string;
  let tenantId: string;
  let subscriberId: string;
  let first: Issued;
  let second: Issued;
  let third: Issued;
  let fourth: Issued;
  const clients: MqttClient[] = [];
  const run = randomUUID().slice(0, 8);

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' }, { CCM_REDIS_URL: REDIS_URL });
    ccm = await installation.start();
    workDirectory = await mkdtemp(join(tmpdir(), 'ccm-agent-e2e-'));
    const tenant = await api<{ id: string }>(ccm, 'POST', '/v1/tenants', { name: `mqtt-e2e-${run}` });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    tenantId = tenant.body.id;
    [first, second, third, fourth] = await Promise.all([1, 2, 3, 4].map((n) => issue(ccm, tenantId, `meter-${run}-${n}`)));
    const subscriber = await api<{ id: string; queue: string }>(ccm, 'POST', '/v1/event-subscribers', { name: `mosquitto-e2e-${run}`, tenantIds: [tenantId] });
    assert.equal(subscriber.status, 201, JSON.stringify(subscriber.body));
    subscriberId = subscriber.body.id;
    assert.equal(subscriber.body.queue, subscriberQueueName(subscriberId));
    const chain = await api<string>(ccm, 'GET', `/v1/tenants/${tenantId}/ca-chain`);
    const crl = await api<string>(ccm, 'GET', `/v1/tenants/${tenantId}/crl?format=pem`);
    assert.equal(crl.status, 200);
    broker = await MosquittoUnderTest.start({ clientCaPem: chain.body, crlPem: crl.body });
    await writeFile(join(workDirectory, 'mqtt-password'), `${broker.adminPassword}\n`, { mode: 0o600 });
    agent = await MosquittoAgentProcess.start({
      CCM_AGENT_CCM_URL: ccm.url,
      // The agent works with a broker key, the least it needs.
      CCM_AGENT_CCM_AUTHORIZATION: `Bearer ${await ccm.createApiKey('broker')}`,
      CCM_AGENT_TENANT_IDS: tenantId,
      ...broker.agentEnvironment(join(workDirectory, 'mqtt-password')),
      CCM_AGENT_REDIS_URL: REDIS_URL,
      CCM_AGENT_SUBSCRIBER_ID: subscriberId,
      CCM_AGENT_LOG_LEVEL: 'debug',
    });
  });

  after(async () => {
    for (const client of clients) client.end(true);
    const agentExit = await agent?.stop();
    await feedAgent?.stop();
    await feedBroker?.stop();
    await broker?.stop();
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

  test('both devices connect over mutual TLS with ccm-issued certificates', async () => {
    assert.equal(await broker.tryConnect(first.certificatePem, first.privateKeyPem), 'connected');
    assert.equal(await broker.tryConnect(second.certificatePem, second.privateKeyPem), 'connected');
    const crlFile = await readFile(broker.crlFile, 'utf8');
    assert.match(crlFile, /^-----BEGIN X509 CRL-----/, 'the agent installed the tenant CRL');
  });

  test('suspension disconnects the device and refuses its reconnects; the other device stays connected', async () => {
    const bystander = await connected(broker, second);
    clients.push(bystander);
    let bystanderDropped = false;
    bystander.on('close', () => (bystanderDropped = true));
    // A device that reconnects as fast as it can, to race the reload.
    const device = await connected(broker, first, { reconnectPeriod: 20 });
    clients.push(device);
    let reconnects = 0;
    device.on('connect', () => (reconnects += 1));
    const closed = closeOf(device);

    const suspended = await api<{ state: string }>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates/${first.id}/suspend`, {});
    assert.equal(suspended.status, 200, JSON.stringify(suspended.body));
    assert.equal(suspended.body.state, 'suspended');
    const latency = (await closed) - suspended.at;
    console.log(`# suspend API returned → device connection closed: ${latency.toFixed(1)} ms`);
    assert.ok(latency < 10_000);

    await sleep(2000); // beyond the agent's re-kicks
    device.end(true);
    assert.equal(reconnects, 0, 'the suspended device never got back in');
    assert.equal(await broker.tryConnect(first.certificatePem, first.privateKeyPem), 'refused');
    assert.equal(bystanderDropped, false);
    assert.equal(bystander.connected, true);
    const kicked = await agent!.waitFor((line) => line['msg'] === 'device kicked' && line['username'] === first.commonName);
    console.log(`# agent: event committed → device kicked: ${String(kicked['eventLagMs'])} ms`);
  });

  test('reactivation lets the device back in', async () => {
    const reactivated = await api<{ state: string }>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates/${first.id}/reactivate`, {});
    assert.equal(reactivated.status, 200, JSON.stringify(reactivated.body));
    const latency = await eventually(() => broker.tryConnect(first.certificatePem, first.privateKeyPem), 'connected');
    console.log(`# reactivate API returned → device accepted again: ≤ ${latency.toFixed(1)} ms`);
    await agent!.waitFor((line) => line['msg'] === 'device allowed back' && line['username'] === first.commonName);
  });

  test('revocation shuts the device out for good; the other device is still connected', async () => {
    const device = await connected(broker, first, { reconnectPeriod: 20 });
    clients.push(device);
    let reconnects = 0;
    device.on('connect', () => (reconnects += 1));
    const closed = closeOf(device);
    const revoked = await api<{ state: string }>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates/${first.id}/revoke`, { reason: 'keyCompromise' });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.state, 'revoked');
    console.log(`# revoke API returned → device connection closed: ${((await closed) - revoked.at).toFixed(1)} ms`);
    await sleep(2000);
    device.end(true);
    assert.equal(reconnects, 0);
    assert.equal(await broker.tryConnect(first.certificatePem, first.privateKeyPem), 'refused');
    const bystander = clients[0]!;
    // (Not probed with a second connection: with use_username_as_clientid that would take its session over.)
    assert.equal(bystander.connected, true, 'the second device stayed connected throughout');
  });

  test('without Redis the agent follows the HTTP event feed and does the same', async () => {
    const chain = await api<string>(ccm, 'GET', `/v1/tenants/${tenantId}/ca-chain`);
    const crl = await api<string>(ccm, 'GET', `/v1/tenants/${tenantId}/crl?format=pem`);
    feedBroker = await MosquittoUnderTest.start({ clientCaPem: chain.body, crlPem: crl.body });
    const feed = await api<{ items: Array<{ position: string }>; nextCursor: string | null }>(ccm, 'GET', `/v1/events?tenantId=${tenantId}&limit=1000`);
    assert.equal(feed.status, 200, JSON.stringify(feed.body));
    const cursorFile = join(workDirectory, 'feed.cursor');
    // Start after what has already happened, as an operator would for a new broker.
    if (feed.body.nextCursor) await writeFile(cursorFile, `${feed.body.nextCursor}\n`);
    feedAgent = await MosquittoAgentProcess.start({
      CCM_AGENT_CCM_URL: ccm.url,
      // The agent works with a broker key, the least it needs.
      CCM_AGENT_CCM_AUTHORIZATION: `Bearer ${await ccm.createApiKey('broker')}`,
      CCM_AGENT_TENANT_IDS: tenantId,
      CCM_AGENT_CRL_FILE: feedBroker.crlFile,
      CCM_AGENT_MOSQUITTO_PID: String(feedBroker.pid),
      CCM_AGENT_MQTT_URL: feedBroker.adminUrl,
      CCM_AGENT_MQTT_USERNAME: feedBroker.adminUsername,
      CCM_AGENT_MQTT_PASSWORD: feedBroker.adminPassword,
      CCM_AGENT_CURSOR_FILE: cursorFile,
      CCM_AGENT_POLL_INTERVAL_MS: '100',
    });
    assert.equal(await feedBroker.tryConnect(first.certificatePem, first.privateKeyPem), 'refused', 'the revoked device is refused from the start');
    const device = await connected(feedBroker, third);
    clients.push(device);
    const closed = closeOf(device);
    const suspended = await api<{ state: string }>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates/${third.id}/suspend`, {});
    assert.equal(suspended.status, 200);
    console.log(`# HTTP feed (100 ms polls): suspend API returned → device connection closed: ${((await closed) - suspended.at).toFixed(1)} ms`);
    assert.equal(await feedBroker.tryConnect(third.certificatePem, third.privateKeyPem), 'refused');
    await sleep(300);
    assert.ok(Number((await readFile(cursorFile, 'utf8')).trim()) > Number(feed.body.nextCursor ?? 0), 'the cursor moved on');
  });

  test('revoking the tenant CA drops every device it issued and refuses them all', async () => {
    const bystander = clients[0]!;
    assert.equal(bystander.connected, true);
    const closed = closeOf(bystander);
    const revoked = await api<{ revokedCertificates?: number }>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/revoke`, { reason: 'cACompromise' });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    console.log(`# revoke tenant CA API returned → remaining device's connection closed: ${((await closed) - revoked.at).toFixed(1)} ms`);
    await agent!.waitFor((line) => line['msg'] === 'device kicked' && line['eventType'] === 'authority.revoked');
    for (const device of [first, second, third, fourth]) assert.equal(await broker.tryConnect(device.certificatePem, device.privateKeyPem), 'refused', device.commonName);
  });
});
