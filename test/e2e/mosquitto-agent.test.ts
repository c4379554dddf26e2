/**
 * The Mosquitto agent end to end: ccm (PostgreSQL, Redis relay) → subscriber
 * queue → agent (child process of packages/mosquitto-agent/dist/src/main.js)
 * → a real Mosquitto 2.0, with real MQTT clients over mutual TLS and
 * certificates issued by ccm. (What the broker itself does and does not do
 * is pinned down in test/medium/mosquitto-adapter.test.ts.)
 *
 * Suspend drops the device and refuses its reconnect, reactivate lets it
 * back, revoke shuts it out for good, and a second device of the tenant
 * stays connected throughout. An agent killed (SIGKILL) in the middle of a
 * burst of suspensions, with more suspended while it is down, shuts every one
 * of them out once restarted, kicking the sessions that stayed connected. An
 * agent restarted with nothing changed changes nothing: no crlfile write, no
 * reload, no dynsec command (read from Mosquitto's own log), bystanders
 * untouched. The same through the HTTP event feed without Redis; and
 * revoking the tenant CA drops the remaining devices and refuses all of them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { subscriberQueueName } from '@ccm/event-consumer/contract';
import { AgentProcess } from '../support/agent-process.js';
import { api, BrokerE2e, certificateAction, eventually, issueDevice, sleep } from '../support/broker-e2e.js';
import type { CcmUnderTest } from '../support/ccm-under-test.js';
import { MosquittoUnderTest } from '../support/mosquitto.js';
import { closeOf } from '../support/mqtt-session.js';

/** Devices suspended in the burst the agent is killed in (half before the kill, half while it is down). */
const BURST = 16;

type Issued = Awaited<ReturnType<typeof issueDevice>>;

async function suspend(ccm: CcmUnderTest, tenantId: string, device: Issued): Promise<number> {
  const suspended = await certificateAction(ccm, tenantId, device, 'suspend');
  assert.equal(suspended.body.state, 'suspended');
  return suspended.at;
}

/** What the broker has been made to do so far, read from its own log and the crlfile. */
async function brokerFootprint(broker: MosquittoUnderTest): Promise<{ reloads: number; dynsecCommands: string[]; crlFileWrittenAt: number }> {
  return { reloads: await broker.reloads(), dynsecCommands: await broker.dynsecCommands(), crlFileWrittenAt: (await stat(broker.crlFile)).mtimeMs };
}

/** Whether an agent log line is the adapter's kick of this username. */
function kickOf(username: string): (line: Record<string, unknown>) => boolean {
  return (line) => line['msg'] === 'devices kicked' && Array.isArray(line['usernames']) && (line['usernames'] as unknown[]).includes(username);
}

describe('ccm → Redis → agent → Mosquitto: suspend, reactivate and revoke reach a live MQTT session', () => {
  let e2e: BrokerE2e;
  let ccm: CcmUnderTest;
  let broker: MosquittoUnderTest;
  let agent: AgentProcess | null = null;
  let feedAgent: AgentProcess | null = null;
  let feedBroker: MosquittoUnderTest | null = null;
  let workDirectory: string;
  let agentEnvironment: Record<string, string>;
  let tenantId: string;
  let first: Issued;
  let second: Issued;
  let third: Issued;
  let fourth: Issued;
  let bystander: MqttClient;
  const clients: MqttClient[] = [];
  const run = randomUUID().slice(0, 8);

  before(async () => {
    e2e = await BrokerE2e.start(`mqtt-e2e-${run}`);
    ({ ccm, tenantId, workDirectory } = e2e);
    [first, second, third, fourth] = await Promise.all([1, 2, 3, 4].map((n) => issueDevice(ccm, tenantId, `meter-${run}-${n}`)));
    const subscriber = await e2e.subscribe(`mosquitto-e2e-${run}`);
    assert.equal(subscriber.queue, subscriberQueueName(subscriber.id));
    const chain = await e2e.caChain();
    const crl = await api<string>(ccm, 'GET', `/v1/tenants/${tenantId}/crl?format=pem`);
    assert.equal(crl.status, 200);
    broker = await MosquittoUnderTest.start({ clientCaPem: chain, crlPem: crl.body });
    agentEnvironment = {
      ...(await e2e.agentEnvironment()),
      ...broker.agentEnvironment(await e2e.secretFile('mqtt-password', broker.adminPassword)),
    };
    agent = await AgentProcess.start('mosquitto-agent', agentEnvironment);
  });

  after(async () => {
    for (const client of clients) client.end(true);
    const agentExit = await agent?.stop();
    await feedAgent?.stop();
    await feedBroker?.stop();
    await broker?.stop();
    await e2e?.close();
    assert.equal(agentExit ?? 0, 0, 'the agent stops cleanly on SIGTERM');
  });

  test('both devices connect over mutual TLS with ccm-issued certificates; the agent is ready', async () => {
    assert.equal(await broker.tryConnect(first.certificatePem, first.privateKeyPem), 'connected');
    assert.equal(await broker.tryConnect(second.certificatePem, second.privateKeyPem), 'connected');
    const crlFile = await readFile(broker.crlFile, 'utf8');
    assert.match(crlFile, /^-----BEGIN X509 CRL-----/, 'the agent installed the tenant CRL');
    const ready = await fetch(`http://127.0.0.1:${agent!.healthPort}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
  });

  test('suspension disconnects the device and refuses its reconnects; the other device stays connected', async () => {
    bystander = await broker.connectedDevice(second);
    clients.push(bystander);
    let bystanderDropped = false;
    bystander.on('close', () => (bystanderDropped = true));
    // A device that reconnects as fast as it can, to race the reload.
    const device = await broker.connectedDevice(first, { reconnectPeriod: 20 });
    clients.push(device);
    let reconnects = 0;
    device.on('connect', () => (reconnects += 1));
    const closed = closeOf(device);

    const answeredAt = await suspend(ccm, tenantId, first);
    const latency = (await closed) - answeredAt;
    console.log(`# suspend API returned → device connection closed: ${latency.toFixed(1)} ms`);
    assert.ok(latency < 10_000);

    await sleep(2000); // beyond the agent's re-kicks
    device.end(true);
    assert.equal(reconnects, 0, 'the suspended device never got back in');
    assert.equal(await broker.tryConnect(first.certificatePem, first.privateKeyPem), 'refused');
    assert.equal(bystanderDropped, false);
    assert.equal(bystander.connected, true);
    const kicked = await agent!.waitFor(kickOf(first.commonName));
    const enforced = await agent!.waitFor((line) => line['msg'] === 'event enforced' && line['eventType'] === 'certificate.suspended' && line['certificateId'] === first.id);
    console.log(`# agent: event committed → enforced: ${String(enforced['eventLagMs'])} ms (CRL read ${String(kicked['readMs'])} ms, install ${String(kicked['installMs'])} ms, kick ${String(kicked['kickMs'])} ms)`);
  });

  test('reactivation lets the device back in', async () => {
    const reactivated = await certificateAction(ccm, tenantId, first, 'reactivate');
    const latency = await eventually(() => broker.tryConnect(first.certificatePem, first.privateKeyPem), 'connected', 15_000);
    console.log(`# reactivate API returned → device accepted again: ≤ ${latency.toFixed(1)} ms`);
    await agent!.waitFor((line) => line['msg'] === 'devices allowed back' && Array.isArray(line['usernames']) && (line['usernames'] as unknown[]).includes(first.commonName));
  });

  test('revocation shuts the device out for good; the other device is still connected', async () => {
    const device = await broker.connectedDevice(first, { reconnectPeriod: 20 });
    clients.push(device);
    let reconnects = 0;
    device.on('connect', () => (reconnects += 1));
    const closed = closeOf(device);
    const revoked = await certificateAction(ccm, tenantId, first, 'revoke', { reason: 'keyCompromise' });
    assert.equal(revoked.body.state, 'revoked');
    console.log(`# revoke API returned → device connection closed: ${((await closed) - revoked.at).toFixed(1)} ms`);
    await sleep(2000);
    device.end(true);
    assert.equal(reconnects, 0);
    assert.equal(await broker.tryConnect(first.certificatePem, first.privateKeyPem), 'refused');
    // (Not probed with a second connection: with use_username_as_clientid that would take its session over.)
    assert.equal(bystander.connected, true, 'the second device stayed connected throughout');
  });

  test('killed (SIGKILL) in the middle of a burst of suspensions, with more while it is down, the restarted agent shuts every one out', async () => {
    const burst = await Promise.all(Array.from({ length: BURST }, (_, i) => issueDevice(ccm, tenantId, `meter-${run}-burst-${i}`)));
    // Reconnecting every 200 ms: a device kicked before the CRL refuses it would get back in.
    const sessions = await Promise.all(burst.map((device) => broker.connectedDevice(device, { reconnectPeriod: 200 })));
    clients.push(...sessions);

    const firstWave = burst.slice(0, BURST / 2);
    const secondWave = burst.slice(BURST / 2);
    const killAt = agent!.lines.length;
    const suspensions = firstWave.map((device) => suspend(ccm, tenantId, device));
    await agent!.waitFor((line) => line['msg'] === 'devices kicked' && firstWave.some((device) => kickOf(device.commonName)(line)), 15_000, killAt);
    await agent!.kill();
    await Promise.all(suspensions);
    await Promise.all(secondWave.map((device) => suspend(ccm, tenantId, device)));
    await sleep(500);
    const stillConnected = burst.filter((_, i) => sessions[i]!.connected);
    console.log(`# killed mid-burst: ${BURST - stillConnected.length} of ${BURST} sessions ended before the kill, ${stillConnected.length} still connected while the agent is down`);
    assert.ok(stillConnected.length >= secondWave.length, 'the devices suspended while the agent was down are still connected');

    const restartedAt = performance.now();
    agent = await AgentProcess.start('mosquitto-agent', agentEnvironment);
    const closedAt = await Promise.all(sessions.map((session) => (session.connected ? closeOf(session) : Promise.resolve(performance.now()))));
    console.log(`# restarted agent: every suspended session ended ${(Math.max(...closedAt) - restartedAt).toFixed(0)} ms after the restart began`);
    let reconnects = 0;
    for (const session of sessions) session.on('connect', () => (reconnects += 1));
    await sleep(2500); // several reconnect periods, beyond the re-kicks
    assert.equal(reconnects, 0, 'no suspended device got back in');
    for (const session of sessions) session.end(true);
    for (const device of burst) assert.equal(await broker.tryConnect(device.certificatePem, device.privateKeyPem), 'refused', device.commonName);
    assert.equal(bystander.connected, true, 'the bystander stayed connected throughout');
    const reconciled = await agent.waitFor((line) => line['msg'] === 'reconciled with ccm');
    console.log(`# restarted agent reconciled: ${JSON.stringify(reconciled)}`);
  });

  test('an agent restarted with nothing changed changes nothing: no crlfile write, no reload, no dynsec command, bystanders untouched', async () => {
    assert.equal(await agent!.stop(), 0);
    await sleep(300);
    const before = await brokerFootprint(broker);
    agent = await AgentProcess.start('mosquitto-agent', agentEnvironment);
    await agent.waitFor((line) => line['msg'] === 'reconciled with ccm');
    await sleep(1500);
    const after = await brokerFootprint(broker);
    assert.equal(after.reloads, before.reloads, 'Mosquitto logged no reload');
    assert.deepEqual(after.dynsecCommands.slice(before.dynsecCommands.length), [], 'Mosquitto logged no dynamic-security command');
    assert.equal(after.crlFileWrittenAt, before.crlFileWrittenAt, 'the crlfile was not written');
    const changes = agent.lines.filter((line) => ['devices kicked', 'devices allowed back', 'CRLs installed, Mosquitto reloading'].includes(String(line['msg'])));
    assert.deepEqual(changes, []);
    assert.ok(agent.lines.some((line) => line['msg'] === 'crlfile already current; nothing written, no reload'));
    assert.equal(bystander.connected, true);
    const metrics = await agent.metrics();
    assert.match(metrics, /ccm_agent_reconciliations_total\{[^}]*outcome="ok"[^}]*\} [1-9]/);
    assert.match(metrics, /ccm_agent_devices\{[^}]*verdict="shut-out"[^}]*\} [1-9]/);
  });

  test('without Redis the agent follows the HTTP event feed and does the same', async () => {
    const chain = await e2e.caChain();
    const crl = await api<string>(ccm, 'GET', `/v1/tenants/${tenantId}/crl?format=pem`);
    feedBroker = await MosquittoUnderTest.start({ clientCaPem: chain, crlPem: crl.body });
    const feed = await api<{ items: Array<{ position: string }>; nextCursor: string | null }>(ccm, 'GET', `/v1/events?tenantId=${tenantId}&limit=1000`);
    assert.equal(feed.status, 200, JSON.stringify(feed.body));
    const cursorFile = join(workDirectory, 'feed.cursor');
    // Start after what has already happened, as an operator would for a new broker.
    if (feed.body.nextCursor) await writeFile(cursorFile, `${feed.body.nextCursor}\n`);
    feedAgent = await AgentProcess.start('mosquitto-agent', {
      ...(await e2e.ccmEnvironment()),
      CCM_MOSQUITTO_CRL_FILE: feedBroker.crlFile,
      CCM_MOSQUITTO_PID: String(feedBroker.pid),
      CCM_MOSQUITTO_MQTT_URL: feedBroker.adminUrl,
      CCM_MOSQUITTO_USERNAME: feedBroker.adminUsername,
      CCM_MOSQUITTO_PASSWORD: feedBroker.adminPassword,
      CCM_AGENT_CURSOR_FILE: cursorFile,
      CCM_AGENT_POLL_INTERVAL_MS: '100',
    });
    assert.equal(await feedBroker.tryConnect(first.certificatePem, first.privateKeyPem), 'refused', 'the revoked device is refused from the start');
    const device = await feedBroker.connectedDevice(third);
    clients.push(device);
    const closed = closeOf(device);
    const answeredAt = await suspend(ccm, tenantId, third);
    console.log(`# HTTP feed (100 ms polls): suspend API returned → device connection closed: ${((await closed) - answeredAt).toFixed(1)} ms`);
    assert.equal(await feedBroker.tryConnect(third.certificatePem, third.privateKeyPem), 'refused');
    await sleep(300);
    assert.ok(Number((await readFile(cursorFile, 'utf8')).trim()) > Number(feed.body.nextCursor ?? 0), 'the cursor moved on');
  });

  test('revoking the tenant CA drops every device it issued and refuses them all', async () => {
    assert.equal(bystander.connected, true);
    const closed = closeOf(bystander);
    const from = agent!.lines.length;
    const revoked = await api<{ revokedCertificates?: number }>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/revoke`, { reason: 'cACompromise' });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    console.log(`# revoke tenant CA API returned → remaining device's connection closed: ${((await closed) - revoked.at).toFixed(1)} ms`);
    await agent!.waitFor((line) => line['msg'] === 'event enforced' && line['eventType'] === 'authority.revoked', 15_000, from);
    for (const device of [first, second, third, fourth]) assert.equal(await broker.tryConnect(device.certificatePem, device.privateKeyPem), 'refused', device.commonName);
  });
});
