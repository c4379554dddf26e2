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
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { rabbitMqUsernameOf } from '@ccm/rabbitmq-agent';
import { AgentProcess } from '../support/agent-process.js';
import { api, BrokerE2e, certificateAction, eventually, issueDevice, issueFromCsr, type IssuedDevice as Issued } from '../support/broker-e2e.js';
import type { CcmUnderTest } from '../support/ccm-under-test.js';
import { closeOf, connack } from '../support/mqtt-session.js';
import { OpensslTestCa } from '../support/openssl.js';
import { RabbitMqUnderTest } from '../support/rabbitmq.js';

describe('ccm → Redis → RabbitMQ agent → RabbitMQ MQTT: suspend, reactivate and revoke reach a live MQTT session', () => {
  let e2e: BrokerE2e;
  let ccm: CcmUnderTest;
  let serverCa: OpensslTestCa;
  let node: RabbitMqUnderTest;
  let agent: AgentProcess | null = null;
  let tenantId: string;
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
  let afterRollover: Issued;

  /** 'connected', or 'refused:' and the reason (CONNACK "Bad username or password": a suspended or revoked device's user is deleted). */
  const outcomeOf = async (device: Issued): Promise<string> => {
    const tried = await node.tryConnect(device.certificatePem, device.privateKeyPem);
    return tried.outcome === 'connected' ? 'connected' : `refused:${tried.reason.replace(/^Connection refused: /, '')}`;
  };

  const connected = (device: Issued): Promise<MqttClient> => {
    const client = node.connectDevice(device.certificatePem, device.privateKeyPem);
    clients.push(client);
    return connack(client, device.subject);
  };

  before(async () => {
    [e2e, serverCa] = await Promise.all([BrokerE2e.start(`rabbitmq-e2e-${run}`), OpensslTestCa.create('ccm e2e RabbitMQ server CA')]);
    ({ ccm, tenantId } = e2e);
    [sensor, bystander] = await Promise.all([issueDevice(ccm, tenantId, `sensor-${run}`), issueDevice(ccm, tenantId, `bystander-${run}`)]);
    fromCsr = await issueFromCsr(ccm, tenantId, `/O=Zähler Müller GmbH/OU=Plant 7/CN=pump\\, Nr. 7 ${run}`, e2e.workDirectory);
    burst = await Promise.all(Array.from({ length: 30 }, (_, i) => issueDevice(ccm, tenantId, `burst-${run}-${i}`)));
    await e2e.subscribe(`rabbitmq-e2e-${run}`);
    const chain = await e2e.caChain();
    const server = await serverCa.serverCertificate();
    node = await RabbitMqUnderTest.start({ serverCertificatePem: server.certificatePem, serverKeyPem: server.privateKeyPem, trustBundlePem: chain, serverCaPem: serverCa.caPem });
    agentEnv = {
      ...(await e2e.agentEnvironment()),
      CCM_AGENT_HEALTH_LISTEN: `127.0.0.1:${node.ports.spare}`,
      ...node.agentEnvironment(await e2e.secretFile('rabbitmq-password', node.agentPassword)),
    };
    agent = await AgentProcess.start('rabbitmq-agent', agentEnv);
  });

  after(async () => {
    for (const client of clients) client.end(true);
    const agentExit = await agent?.stop();
    await node?.stop();
    await serverCa?.cleanup();
    await e2e?.close();
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
    const suspended = await certificateAction(ccm, tenantId, sensor, 'suspend');
    assert.equal(suspended.body.state, 'suspended');
    const latency = (await closedAt) - suspended.at;
    console.log(`# suspend API returned → MQTT connection closed: ${latency.toFixed(1)} ms`);
    assert.ok(latency < 10_000);
    assert.equal(await outcomeOf(sensor), 'refused:Bad username or password');
    const enforced = await agent!.waitFor((line) => line['msg'] === 'event enforced' && line['eventType'] === 'certificate.suspended');
    console.log(`# agent: event committed → enforced: ${String(enforced['eventLagMs'])} ms`);
    assert.equal(bystanderClosed, false);
    assert.ok(bystanderClient.connected);
  });

  test('reactivation lets the device connect again', async () => {
    const reactivated = await certificateAction(ccm, tenantId, sensor, 'reactivate');
    const latency = await eventually(() => outcomeOf(sensor), 'connected');
    console.log(`# reactivate API returned → device accepted again: ≤ ${latency.toFixed(1)} ms`);
  });

  test('revocation closes the session and shuts the device out for good', async () => {
    const client = await connected(sensor);
    const closedAt = closeOf(client);
    const revoked = await certificateAction(ccm, tenantId, sensor, 'revoke', { reason: 'keyCompromise' });
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
      for (const device of suspendedDevices) await certificateAction(ccm, tenantId, device, 'suspend');
    })();
    await Promise.race(suspendedDevices.map((device) => open.get(device)!.closed));
    await agent!.kill();
    const closedBeforeKill = suspendedDevices.filter((device) => !open.get(device)!.client.connected).length;
    await burstDone;
    const restarted = performance.now();
    agent = await AgentProcess.start('rabbitmq-agent', agentEnv);
    await Promise.all(suspendedDevices.map((device) => open.get(device)!.closed));
    console.log(`# SIGKILL with ${closedBeforeKill} of ${suspendedDevices.length} suspended devices out; restart (process start + reconciliation) → all out: ${(performance.now() - restarted).toFixed(0)} ms`);
    for (const device of suspendedDevices) assert.equal(await outcomeOf(device), 'refused:Bad username or password', device.subject);
    for (const device of keptDevices) {
      assert.ok(open.get(device)!.client.connected, `${device.subject} was not suspended and stays connected`);
      assert.equal(await outcomeOf(device), 'connected');
    }
    assert.equal(bystanderClosed, false);
  });

  test('a root rollover leaves every device connected; a device of the new root, presenting its chain, connects once the agent has discovered it', async () => {
    const rolled = await api<{ rootAuthority: { id: string } }>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/rollover`, {});
    assert.equal(rolled.status, 201, JSON.stringify(rolled.body));
    const fresh = await issueDevice(ccm, tenantId, `after-rollover-${run}`);
    // The listener's cacertfile (the tenant's ca-chain from before the rollover) holds the platform CA, which anchors the chain.
    afterRollover = { ...fresh, certificatePem: `${fresh.certificatePem}${fresh.chainPem}` };
    await eventually(() => outcomeOf(afterRollover), 'connected');
    assert.equal(bystanderClosed, false, 'the old root\'s device stayed connected');
    assert.equal(await outcomeOf(bystander), 'connected', 'and reconnects');
  });

  test('revoking the tenant CA drops the remaining devices and refuses them all', async () => {
    assert.equal(bystanderClosed, false, 'the bystander was connected throughout');
    const revoked = await api<unknown>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/revoke`, { reason: 'cACompromise' });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    console.log(`# revoke tenant CA API returned → bystander's connection closed: ${((await bystanderClosedAt) - revoked.at).toFixed(1)} ms`);
    // The root the rollover left retiring is revoked with the active one: devices of both are refused.
    for (const device of [sensor, bystander, fromCsr, ...burst, afterRollover]) await eventually(() => outcomeOf(device), 'refused:Bad username or password');
    const users = (await node.management('GET', '/users?columns=name,tags')).json() as Array<{ name: string; tags: string[] }>;
    assert.deepEqual(users.filter((user) => user.tags.includes('ccm-device')), []);
  });
});
