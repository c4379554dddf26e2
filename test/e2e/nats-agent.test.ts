/**
 * The NATS agent end to end: ccm (PostgreSQL, Redis relay) → subscriber
 * queue → agent (child process of packages/nats-agent/dist/src/main.js) →
 * nats-server 2.9 (verify_and_map, the tenant's ca-chain as trust bundle),
 * with real `nats` clients over mutual TLS and ccm-issued certificates:
 * suspend closes the session and refuses the reconnect; reactivate lets the
 * device back; revoke, and revoking the tenant CA, shut devices out for
 * good; a bystander stays connected until its own CA is revoked; and an
 * agent killed (SIGKILL) during a burst of suspensions catches up after its
 * restart, every suspended device shut out.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from 'nats';
import { natsUserOf, parseUsersFile } from '@ccm/nats-agent';
import { AgentProcess } from '../support/agent-process.js';
import { api, BrokerE2e, certificateAction, eventually, issueDevice, issueFromCsr, type IssuedDevice as Issued } from '../support/broker-e2e.js';
import type { CcmUnderTest } from '../support/ccm-under-test.js';
import { NatsTestPki, NatsUnderTest, portInRange } from '../support/nats.js';

describe('ccm → Redis → NATS agent → nats-server: suspend, reactivate and revoke reach a live NATS session', () => {
  let e2e: BrokerE2e;
  let ccm: CcmUnderTest;
  let pki: NatsTestPki;
  let server: NatsUnderTest;
  let agent: AgentProcess | null = null;
  let tenantId: string;
  let agentEnv: Record<string, string>;
  let sensor: Issued;
  let bystander: Issued;
  let fromCsr: Issued;
  let burst: Issued[];
  let bystanderConnection: NatsConnection;
  let bystanderClosedAt: Promise<number>;
  let bystanderClosed = false;
  const connections: NatsConnection[] = [];
  const run = randomUUID().slice(0, 8);
  let afterRollover: Issued;

  const outcomeOf = async (device: Issued): Promise<string> => {
    const tried = await server.tryConnect(device);
    return tried.outcome === 'connected' ? 'connected' : `refused:${tried.code}`;
  };

  before(async () => {
    e2e = await BrokerE2e.start(`nats-e2e-${run}`);
    ({ ccm, tenantId } = e2e);
    [sensor, bystander] = await Promise.all([issueDevice(ccm, tenantId, `sensor-${run}`), issueDevice(ccm, tenantId, `bystander-${run}`)]);
    fromCsr = await issueFromCsr(ccm, tenantId, `/O=Acme Devices/OU=Plant 7/CN=pump\\, Nr. 7 ${run}`, e2e.workDirectory);
    burst = await Promise.all(Array.from({ length: 30 }, (_, i) => issueDevice(ccm, tenantId, `burst-${run}-${i}`)));
    await e2e.subscribe(`nats-e2e-${run}`);
    const chain = await e2e.caChain();
    pki = await NatsTestPki.create();
    server = await NatsUnderTest.start({ serverCertificatePem: pki.serverCertificatePem, serverKeyPem: pki.serverKeyPem, trustBundlePem: chain, clientTrustPem: pki.serverCaPem });
    agentEnv = {
      ...(await e2e.agentEnvironment()),
      CCM_AGENT_HEALTH_LISTEN: `127.0.0.1:${await portInRange([server.clientPort, server.monitorPort])}`,
      ...server.agentEnvironment(),
    };
    agent = await AgentProcess.start('nats-agent', agentEnv);
  });

  after(async () => {
    for (const connection of connections) await connection.close().catch(() => undefined);
    await bystanderConnection?.close().catch(() => undefined);
    const agentExit = await agent?.stop();
    await server?.stop();
    await pki?.cleanup();
    await e2e?.close();
    assert.equal(agentExit ?? 0, 0, 'the agent stops cleanly on SIGTERM');
  });

  test('after the agent\'s first reconciliation every device of the tenant connects with its ccm certificate, as the user of its URN', async () => {
    const devices = [sensor, bystander, fromCsr, ...burst];
    for (const device of devices) await eventually(() => outcomeOf(device), 'connected');
    // ccm's certificates carry urn:uuid:<id>, which nats-server looks up before comparing subjects with every user.
    const users = parseUsersFile(await readFile(server.usersFile, 'utf8'), server.usersFile);
    assert.deepEqual(users.sort(), devices.map((device) => `urn:uuid:${device.id}`).sort());
    assert.equal(natsUserOf(fromCsr.subject), `CN=pump\\, Nr. 7 ${run},OU=Plant 7,O=Acme Devices`, 'the identity the agent decides for');
    const connection = await server.connectDevice(fromCsr);
    await connection.flush();
    assert.ok((await server.connz()).some((c) => c.authorized_user === `urn:uuid:${fromCsr.id}`), `connz names the URN of ${fromCsr.subject} as its NATS user`);
    await connection.close();
    bystanderConnection = await server.connectDevice(bystander);
    bystanderClosedAt = bystanderConnection.closed().then(() => {
      bystanderClosed = true;
      return performance.now();
    });
  });

  test('suspension closes the device\'s session and refuses its reconnect; the bystander stays connected', async () => {
    const connection = await server.connectDevice(sensor);
    const closedAt = connection.closed().then(() => performance.now());
    const suspended = await certificateAction(ccm, tenantId, sensor, 'suspend');
    const latency = (await closedAt) - suspended.at;
    console.log(`# suspend API returned → NATS connection closed: ${latency.toFixed(1)} ms`);
    assert.ok(latency < 10_000);
    assert.equal(await outcomeOf(sensor), 'refused:AUTHORIZATION_VIOLATION');
    const closedLine = await agent!.waitFor((line) => line['msg'] === 'nats sessions of shut-out devices closed');
    console.log(`# agent: SIGHUP → connz shows no connection of it: ${String(closedLine['msAfterReloadSignal'])} ms`);
    assert.equal(bystanderClosed, false);
    await bystanderConnection.flush();
  });

  test('reactivation lets the device connect again', async () => {
    const reactivated = await certificateAction(ccm, tenantId, sensor, 'reactivate');
    const latency = await eventually(() => outcomeOf(sensor), 'connected');
    console.log(`# reactivate API returned → device accepted again: ≤ ${latency.toFixed(1)} ms`);
  });

  test('revocation closes the session and shuts the device out for good', async () => {
    const connection = await server.connectDevice(sensor);
    const closedAt = connection.closed().then(() => performance.now());
    const revoked = await certificateAction(ccm, tenantId, sensor, 'revoke', { reason: 'keyCompromise' });
    console.log(`# revoke API returned → NATS connection closed: ${((await closedAt) - revoked.at).toFixed(1)} ms`);
    assert.equal(await outcomeOf(sensor), 'refused:AUTHORIZATION_VIOLATION');
    assert.ok(!parseUsersFile(await readFile(server.usersFile, 'utf8'), server.usersFile).includes(natsUserOf(sensor.subject)!));
    assert.equal(bystanderClosed, false);
  });

  test('an agent killed (SIGKILL) during a burst of suspensions shuts every suspended device out after its restart', async () => {
    const suspendedDevices = burst.slice(0, 20);
    const keptDevices = burst.slice(20);
    const open = new Map<Issued, { connection: NatsConnection; closed: Promise<void> }>();
    for (const device of burst) {
      const connection = await server.connectDevice(device);
      connections.push(connection);
      open.set(device, { connection, closed: connection.closed().then(() => undefined) });
    }
    // The burst goes out one suspension after another; the agent is killed as soon as it has shut the first device out, so the
    // rest of the burst arrives while it is handling it or while it is down.
    const burstDone = (async () => {
      for (const device of suspendedDevices) await certificateAction(ccm, tenantId, device, 'suspend');
    })();
    await Promise.race(suspendedDevices.map((device) => open.get(device)!.closed));
    await agent!.kill();
    const closedBeforeKill = suspendedDevices.filter((device) => open.get(device)!.connection.isClosed()).length;
    await burstDone;
    const restarted = performance.now();
    agent = await AgentProcess.start('nats-agent', agentEnv);
    await Promise.all(suspendedDevices.map((device) => open.get(device)!.closed));
    console.log(`# SIGKILL with ${closedBeforeKill} of ${suspendedDevices.length} suspended devices out; restart (process start + reconciliation) → all out: ${(performance.now() - restarted).toFixed(0)} ms`);
    for (const device of suspendedDevices) assert.equal(await outcomeOf(device), 'refused:AUTHORIZATION_VIOLATION', device.subject);
    for (const device of keptDevices) {
      assert.equal(open.get(device)!.connection.isClosed(), false, `${device.subject} was not suspended and stays connected`);
      assert.equal(await outcomeOf(device), 'connected');
    }
    assert.equal(bystanderClosed, false);
    await bystanderConnection.flush();
  });

  test('a root rollover leaves every device connected; a device of the new root, presenting its chain, connects once the agent has discovered it', async () => {
    const rolled = await api<{ rootAuthority: { id: string } }>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/rollover`, {});
    assert.equal(rolled.status, 201, JSON.stringify(rolled.body));
    const fresh = await issueDevice(ccm, tenantId, `after-rollover-${run}`);
    const withChain = { ...fresh, certificatePem: `${fresh.certificatePem}${fresh.chainPem}` };
    // nats-server's ca_file (the tenant's ca-chain from before the rollover) holds the platform CA, which anchors the chain.
    await eventually(async () => ((await server.tryConnect(withChain)).outcome === 'connected' ? 'connected' : 'refused'), 'connected');
    await bystanderConnection.flush();
    assert.equal(bystanderClosed, false, 'the old root\'s device stayed connected');
    assert.equal(await outcomeOf(bystander), 'connected', 'and reconnects');
    afterRollover = withChain;
  });

  test('revoking the tenant CA drops the remaining devices and refuses them all', async () => {
    assert.equal(bystanderClosed, false, 'the bystander was connected throughout');
    const revoked = await api<unknown>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/revoke`, { reason: 'cACompromise' });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    console.log(`# revoke tenant CA API returned → bystander's connection closed: ${((await bystanderClosedAt) - revoked.at).toFixed(1)} ms`);
    // The root the rollover left retiring is revoked with the active one: devices of both are refused.
    for (const device of [sensor, bystander, fromCsr, ...burst, afterRollover]) assert.equal(await eventually(() => outcomeOf(device), 'refused:AUTHORIZATION_VIOLATION').then(() => 'refused'), 'refused', device.subject);
    assert.deepEqual(parseUsersFile(await readFile(server.usersFile, 'utf8'), server.usersFile), []);
  });
});
