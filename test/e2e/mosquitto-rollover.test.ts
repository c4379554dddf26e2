/**
 * A tenant root rollover with a real Mosquitto 2.0 and its agent (ccm on
 * PostgreSQL, events over Redis): devices holding certificates of the old
 * root stay connected through the rollover; the agent follows it on the
 * authority.rolled-over event by installing the new root's CRL beside the
 * old one's (Mosquitto, checking CRLs, refuses a certificate whose issuer
 * has none), so a device of the new root connects; once the old root is
 * retired (its last certificate expired, as ccm's clock has it) the agent
 * drops its CRL and Mosquitto refuses the old certificate, while the new
 * one still works. Retiring a root early ends its devices' live sessions.
 * A staged rollover lets the agent take the new root in before it signs
 * anything.
 *
 * Mosquitto 2.0 reads its cafile at start only (a SIGHUP reloads the
 * crlfile, not the cafile: pinned below), so devices of a new root present
 * their chain (ccm's chainPem) until the broker is restarted with the new
 * ca-chain; the platform CA in the cafile anchors it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { RetireTenantRoots } from '../../src/lifecycle/retire-tenant-roots.js';
import { FixedClock } from '../../src/shared/clock.js';
import { AgentProcess } from '../support/agent-process.js';
import { api, BrokerE2e, certificateAction, eventually, issueDevice } from '../support/broker-e2e.js';
import type { CcmUnderTest } from '../support/ccm-under-test.js';
import { MosquittoUnderTest } from '../support/mosquitto.js';
import { closeOf } from '../support/mqtt-session.js';

type Issued = Awaited<ReturnType<typeof issueDevice>>;

interface Rollover {
  readonly rootAuthority: { readonly id: string };
  readonly previousAuthority: { readonly id: string };
}

describe('tenant root rollover through the Mosquitto agent to a live broker', () => {
  const clock = new FixedClock(new Date());
  let e2e: BrokerE2e;
  let ccm: CcmUnderTest;
  let tenantId: string;
  let broker: MosquittoUnderTest;
  let agent: AgentProcess;
  const clients: MqttClient[] = [];
  const run = randomUUID().slice(0, 8);
  let oldDevice: Issued;
  let oldSession: MqttClient;
  let oldSessionClosed: Promise<number>;
  let newDevice: Issued;
  let newSession: MqttClient;
  let firstRoot: string;
  let secondRoot: string;

  /** Connects presenting the certificate and its chain (tenant root, platform CA), as a device given ccm's chainPem does. */
  const withChain = (device: Issued) => ({ certificatePem: `${device.certificatePem}${device.chainPem}`, privateKeyPem: device.privateKeyPem });
  const rollOver = async (): Promise<{ rollover: Rollover; answeredAt: number }> => {
    const answer = await api<Rollover>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/rollover`, {});
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return { rollover: answer.body, answeredAt: answer.at };
  };
  /** The agent's line saying it installed the tenant's CRLs after a change of its CAs, that names `authorityId`. */
  const installedFor = (authorityId: string, present: boolean, from: number) =>
    agent.waitFor((line) => line['msg'] === 'tenant CAs changed; their CRLs installed' && Array.isArray(line['authorities']) && (line['authorities'] as unknown[]).includes(authorityId) === present, 15_000, from);

  before(async () => {
    e2e = await BrokerE2e.start(`rollover-${run}`, { clock });
    ({ ccm, tenantId } = e2e);
    oldDevice = await issueDevice(ccm, tenantId, `old-${run}`);
    await e2e.subscribe(`rollover-${run}`);
    const crl = await api<string>(ccm, 'GET', `/v1/tenants/${tenantId}/crl?format=pem`);
    broker = await MosquittoUnderTest.start({ clientCaPem: await e2e.caChain(), crlPem: crl.body });
    agent = await AgentProcess.start('mosquitto-agent', { ...(await e2e.agentEnvironment()), ...broker.agentEnvironment(await e2e.secretFile('mqtt-password', broker.adminPassword)) });
  });

  after(async () => {
    for (const client of clients) client.end(true);
    await agent?.stop();
    await broker?.stop();
    await e2e?.close();
  });

  test('a rollover leaves the old root\'s devices connected; the agent brings the new root\'s CRL in and its devices connect', async () => {
    oldSession = await broker.connectedDevice(oldDevice);
    clients.push(oldSession);
    oldSessionClosed = closeOf(oldSession);
    const from = agent.lines.length;
    const { rollover, answeredAt } = await rollOver();
    firstRoot = rollover.previousAuthority.id;
    secondRoot = rollover.rootAuthority.id;
    const installed = await installedFor(secondRoot, true, from);
    console.log(`# rollover answered → agent installed the new root's CRL: ${(Date.parse(String(installed['time'])) - (Date.now() - (performance.now() - answeredAt))).toFixed(0)} ms`);

    newDevice = await issueDevice(ccm, tenantId, `new-${run}`);
    assert.equal(await broker.tryConnect(withChain(newDevice).certificatePem, newDevice.privateKeyPem), 'connected');
    // Mosquitto did not reload its cafile: the new root is known to it from the chain the device presents.
    assert.equal(await broker.tryConnect(newDevice.certificatePem, newDevice.privateKeyPem), 'refused');
    newSession = await broker.connectedDevice(withChain(newDevice));
    clients.push(newSession);
    assert.equal(oldSession.connected, true, 'the old root\'s device stayed connected');
    // And it reconnects (the broker takes the client id from the CN: a second connection would take the session over).
    oldSession.end(true);
    oldSession = await broker.connectedDevice(oldDevice);
    clients.push(oldSession);
    oldSessionClosed = closeOf(oldSession);
  });

  test('suspending a device of the new root drops it and its reconnect is refused: its root\'s CRL is in force at the broker', async () => {
    const suspended = await issueDevice(ccm, tenantId, `new-suspended-${run}`);
    const session = await broker.connectedDevice(withChain(suspended));
    clients.push(session);
    const closed = closeOf(session);
    await certificateAction(ccm, tenantId, suspended, 'suspend');
    await closed;
    assert.equal(await eventually(() => broker.tryConnect(withChain(suspended).certificatePem, suspended.privateKeyPem), 'refused', 10_000) >= 0, true);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past the re-kicks
    assert.equal(await broker.tryConnect(withChain(suspended).certificatePem, suspended.privateKeyPem), 'refused');
    assert.equal(newSession.connected, true);
    assert.equal(oldSession.connected, true);
  });

  test('once the old root is retired (its last certificate expired, by ccm\'s clock) Mosquitto refuses its certificates; the new root\'s still work', async () => {
    const from = agent.lines.length;
    const now = clock.now();
    try {
      clock.set(new Date(now.getTime() + 2 * 3600_000));
      const retired = await ccm.app.get(RetireTenantRoots).sweep();
      assert.deepEqual(retired.map((root) => root.id), [firstRoot]);
    } finally {
      clock.set(now);
    }
    await installedFor(firstRoot, false, from);
    // The agent keeps the retired root's devices out: the live session is ended, and without its root's CRL Mosquitto refuses it.
    await oldSessionClosed;
    assert.equal(await broker.tryConnect(oldDevice.certificatePem, oldDevice.privateKeyPem), 'refused');
    assert.equal(newSession.connected, true, 'the new root\'s device stayed connected');
    newSession.end(true);
    newSession = await broker.connectedDevice(withChain(newDevice));
    clients.push(newSession);
    const chain = await e2e.caChain();
    assert.equal(chain.split('-----BEGIN CERTIFICATE-----').length - 1, 2, 'the trust bundle: the new root and the platform CA');
  });

  test('retiring a root early ends its devices\' sessions at once; the next root\'s devices stay connected', async () => {
    const from = agent.lines.length;
    const { rollover } = await rollOver();
    assert.equal(rollover.previousAuthority.id, secondRoot);
    await installedFor(rollover.rootAuthority.id, true, from);
    const third = await issueDevice(ccm, tenantId, `third-${run}`);
    const thirdSession = await broker.connectedDevice(withChain(third));
    clients.push(thirdSession);
    const newClosed = closeOf(newSession);

    const retired = await api<{ revokedCertificates: number }>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/${secondRoot}/retire`, { reason: 'superseded' });
    assert.equal(retired.status, 200, JSON.stringify(retired.body));
    const latency = (await newClosed) - retired.at;
    console.log(`# early retirement answered → the retired root's device disconnected: ${latency.toFixed(0)} ms`);
    assert.equal(await broker.tryConnect(withChain(newDevice).certificatePem, newDevice.privateKeyPem), 'refused');
    assert.equal(thirdSession.connected, true);
    assert.equal(await broker.tryConnect(withChain(third).certificatePem, third.privateKeyPem), 'connected');
  });

  test('a staged rollover: the agent trusts the published root before it signs anything, so its first device connects at its first attempt', async () => {
    const from = agent.lines.length;
    const staged = await api<Rollover & { rootAuthority: { status: string } }>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/rollover`, { activate: false });
    assert.equal(staged.status, 201, JSON.stringify(staged.body));
    assert.equal(staged.body.rootAuthority.status, 'published');
    await installedFor(staged.body.rootAuthority.id, true, from);
    const activated = await api<Rollover>(ccm, 'POST', `/v1/tenants/${tenantId}/ca/${staged.body.rootAuthority.id}/activate`, {});
    assert.equal(activated.status, 200, JSON.stringify(activated.body));
    const device = await issueDevice(ccm, tenantId, `staged-${run}`);
    assert.equal(await broker.tryConnect(withChain(device).certificatePem, device.privateKeyPem), 'connected', 'no window in which the broker does not know the root');
  });
});
