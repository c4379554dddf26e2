/**
 * RabbitMqAdapter against a real RabbitMQ 3.10 node (test/support/rabbitmq.ts)
 * with real MQTT clients over mutual TLS: the DN mapping admits every
 * certificate shape; shutOut closes a live session at once and refuses the
 * reconnect, letBackIn admits it again, endForGood refuses it for good; a
 * bystander stays connected throughout; repeated calls send nothing; the
 * agent's user needs the administrator tag and nothing else; a device can
 * log in only as itself; many new devices are let in by definitions
 * import (10,000 with CCM_TEST_RABBITMQ_BULK_USERS=10000).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { CertificateStatus, Device } from '@ccm/broker-agent';
import { RecordingAgentLog } from '@ccm/broker-agent/testing';
import { DEFAULT_DEVICE_PERMISSIONS, RabbitMqAdapter, RabbitMqPermissionError, type RabbitMqAdapterSettings } from '@ccm/rabbitmq-agent';
import type { MqttClient } from 'mqtt';
import { decodeName, formatDistinguishedName } from '../../src/codec/distinguished-name.js';
import { closeOf } from '../support/mqtt-session.js';
import { RabbitMqUnderTest, subjectDer } from '../support/rabbitmq.js';
import { openssl, OpensslTestCa, type IssuedCertificate } from '../support/openssl.js';

/**
 * New users in the bulk case: 2,000 by default (two import batches, two
 * bulk deletes: ~5 s); CCM_TEST_RABBITMQ_BULK_USERS=10000 for the figure
 * in the README (~23 s on 2 cores).
 */
const BULK_USERS = Number(process.env['CCM_TEST_RABBITMQ_BULK_USERS'] ?? 2000);

interface TestDevice extends IssuedCertificate {
  /** The subject as ccm prints it (ccm's own decoder and formatter). */
  readonly subject: string;
}

/** Device certificates of every shape the mapping must handle, in openssl's -subj form. */
const SHAPES: ReadonlyArray<readonly [string, string]> = [
  ['CN only', '/CN=sensor-1'],
  ['CN and O', '/O=Acme/CN=sensor-2'],
  ['a comma in CN and O', '/O=Acme, Inc./CN=sensor,3'],
  ['a plus in CN', '/O=Acme/CN=a\\+b'],
  ['non-ASCII', '/O=Müller/CN=Zähler-ü'],
  ['RFC 4514 specials, a tilde, a leading hash', '/O=#1 "Acme"/CN=x;y<z>~w'],
  ['several RDNs of one type', '/DC=com/DC=example/OU=Plant 1/OU=Line 2/CN=sensor-7'],
];

function status(subject: string): CertificateStatus {
  return {
    id: `certificate-${subject}`,
    tenantId: '0190a000-0000-7000-8000-000000000001',
    authorityId: '0190a000-0000-7000-8000-000000000002',
    serialNumber: '1',
    subject,
    commonName: '',
    state: 'active',
    notAfter: new Date(Date.now() + 86_400_000),
  };
}

describe('RabbitMqAdapter on RabbitMQ 3.10 with MQTT over mutual TLS', () => {
  let node: RabbitMqUnderTest;
  let tenantCa: OpensslTestCa;
  let serverCa: OpensslTestCa;
  let log: RecordingAgentLog;
  let adapter: RabbitMqAdapter;
  let settings: RabbitMqAdapterSettings;
  const devices = new Map<string, TestDevice>();
  const clients: MqttClient[] = [];

  async function makeDevice(subject: string, options: { multiValuedRdns?: boolean } = {}): Promise<TestDevice> {
    const issued = await tenantCa.deviceCertificate(subject, options);
    return { ...issued, subject: formatDistinguishedName(decodeName(subjectDer(issued.certificatePem))) };
  }

  function deviceOf(subject: string): Device {
    const certificate = status(subject);
    const identity = adapter.identityOf(certificate);
    assert.ok(identity, `no identity for ${subject}`);
    return { identity, certificates: [certificate] };
  }

  before(async () => {
    [tenantCa, serverCa] = await Promise.all([OpensslTestCa.create('ccm test tenant CA'), OpensslTestCa.create('ccm test server CA')]);
    const server = await serverCa.serverCertificate();
    node = await RabbitMqUnderTest.start({ serverCertificatePem: server.certificatePem, serverKeyPem: server.privateKeyPem, trustBundlePem: tenantCa.caPem, serverCaPem: serverCa.caPem });
    for (const [shape, subject] of SHAPES) devices.set(shape, await makeDevice(subject));
    devices.set('bystander', await makeDevice('/O=Acme/CN=bystander'));
    log = new RecordingAgentLog();
    settings = {
      managementUrl: node.managementUrl,
      username: node.agentUsername,
      password: node.agentPassword,
      vhost: '/',
      devicePermissions: DEFAULT_DEVICE_PERMISSIONS,
      deviceTag: 'ccm-device',
      timeoutMs: 5000,
      concurrency: 8,
    };
    adapter = new RabbitMqAdapter(settings, log);
    await adapter.start();
  });

  after(async () => {
    for (const client of clients) client.end(true);
    await adapter?.close();
    await node?.stop();
    await tenantCa?.cleanup();
    await serverCa?.cleanup();
  });

  test('the node starts with its own name, ports and cookie, reachable by rabbitmqctl', async (t) => {
    t.diagnostic(`start-up: ${node.startupMs} ms`);
    const status = await node.rabbitmqctl(['eval', 'node().']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(status.stdout.trim(), `'${node.nodeName}'`);
    assert.ok(node.ports.mqttTls >= 25600 && node.ports.cli[1] <= 25699);
  });

  test('the DN mapping admits each certificate shape: refused before letBackIn, connected after', async (t) => {
    for (const [shape] of SHAPES) {
      const device = devices.get(shape)!;
      const target = deviceOf(device.subject);
      t.diagnostic(`${shape}: ccm "${device.subject}" → RabbitMQ "${target.identity}"`);
      assert.equal((await node.tryConnect(device.certificatePem, device.privateKeyPem)).outcome, 'refused', `${shape} connected before its user existed`);
      await adapter.letBackIn([target]);
      assert.deepEqual(await node.tryConnect(device.certificatePem, device.privateKeyPem), { outcome: 'connected', reason: '' }, shape);
    }
  });

  test('a multi-valued RDN maps when written with "+" (RFC 4514); ccm\'s flattened subject does not (known limit)', async () => {
    const device = await makeDevice('/C=DE/O=Acme/CN=sensor-5+serialNumber=42', { multiValuedRdns: true });
    const printed = await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], { input: device.certificatePem });
    const rfc4514 = printed.stdout.trim().replace(/^subject=/, '');
    assert.equal(rfc4514, 'CN=sensor-5+serialNumber=42,O=Acme,C=DE');
    // ccm flattens the RDN: two RDNs, the grouping lost.
    assert.equal(device.subject, 'CN=sensor-5,serialNumber=42,O=Acme,C=DE');
    const flattened = deviceOf(device.subject);
    await adapter.letBackIn([flattened]);
    assert.equal((await node.tryConnect(device.certificatePem, device.privateKeyPem)).outcome, 'refused');
    const grouped = deviceOf(rfc4514);
    assert.equal(grouped.identity, 'SERIALNUMBER=42+CN=sensor-5,O=Acme,C=DE');
    await adapter.letBackIn([grouped]);
    assert.equal((await node.tryConnect(device.certificatePem, device.privateKeyPem)).outcome, 'connected');
    await adapter.endForGood([flattened, grouped]);
  });

  test('suspend, reactivate, revoke: the session is closed at once, reconnects refused, a bystander never drops', async (t) => {
    const device = devices.get('CN and O')!;
    const bystanderCertificate = devices.get('bystander')!;
    const target = deviceOf(device.subject);
    const bystander = deviceOf(bystanderCertificate.subject);
    await adapter.letBackIn([target, bystander]);
    const watcher = await node.connectedDevice(bystanderCertificate);
    clients.push(watcher);
    let bystanderDrops = 0;
    watcher.on('close', () => bystanderDrops++);

    const live = await node.connectedDevice(device);
    clients.push(live);
    const closed = closeOf(live);
    const shutOutStarted = performance.now();
    await adapter.shutOut([target]);
    const closedAt = await Promise.race([closed, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('session still open 2 s after shutOut')), 2000))]);
    t.diagnostic(`shutOut → session closed: ${(closedAt - shutOutStarted).toFixed(1)} ms (the call itself ${(performance.now() - shutOutStarted).toFixed(1)} ms)`);
    // The user is deleted: the reconnect finds none.
    const refused = await node.tryConnect(device.certificatePem, device.privateKeyPem);
    assert.equal(refused.outcome, 'refused');
    assert.match(refused.reason, /Bad username or password/);
    assert.equal((await node.management('GET', `/users/${encodeURIComponent(target.identity)}`)).status, 404);

    // Again: nothing is sent, nothing changes.
    const fetches = t.mock.method(globalThis, 'fetch');
    await adapter.shutOut([target]);
    assert.equal(fetches.mock.callCount(), 0);
    fetches.mock.restore();

    await adapter.letBackIn([target]);
    const back = await node.connectedDevice(device);
    clients.push(back);

    const ended = closeOf(back);
    const endStarted = performance.now();
    await adapter.endForGood([target]);
    const endedAt = await Promise.race([ended, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('session still open 2 s after endForGood')), 2000))]);
    t.diagnostic(`endForGood → session closed: ${(endedAt - endStarted).toFixed(1)} ms`);
    const gone = await node.tryConnect(device.certificatePem, device.privateKeyPem);
    assert.equal(gone.outcome, 'refused');
    assert.match(gone.reason, /Bad username or password/);
    assert.equal((await node.management('GET', `/users/${encodeURIComponent(target.identity)}`)).status, 404);

    const again = t.mock.method(globalThis, 'fetch');
    await adapter.endForGood([target]);
    assert.equal(again.mock.callCount(), 0);
    again.mock.restore();

    assert.equal(bystanderDrops, 0);
    assert.ok(watcher.connected);
  });

  test('listSessions names the users of live MQTT connections (after the statistics interval); a device an earlier agent version shut out with max-connections 0 whose session survived is ended by the next shutOut', async (t) => {
    const device = devices.get('non-ASCII')!;
    const target = deviceOf(device.subject);
    await adapter.letBackIn([target]);
    const client = await node.connectedDevice(device);
    clients.push(client);
    const started = performance.now();
    let live: ReadonlySet<string> | null = null;
    while (!(live = await adapter.listSessions())?.has(target.identity)) {
      assert.ok(performance.now() - started < 12_000, 'the live connection never appeared in /api/connections');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    t.diagnostic(`listed after ${Math.round(performance.now() - started)} ms`);
    assert.ok(live.has(deviceOf(devices.get('bystander')!.subject).identity));
    // An earlier agent version killed between its limit and its close: the new one deletes the user, which ends the session.
    await node.management('PUT', `/user-limits/${encodeURIComponent(target.identity)}/max-connections`, { value: 0 });
    const restarted = new RabbitMqAdapter(settings, log);
    await restarted.start();
    const closed = closeOf(client);
    await restarted.shutOut([target]);
    await closed;
    await restarted.close();
  });

  test('a device logs in as itself only: another device\'s name or the agent\'s password are refused', async () => {
    const device = devices.get('CN only')!;
    const other = deviceOf(devices.get('bystander')!.subject);
    assert.equal((await node.tryConnect(device.certificatePem, device.privateKeyPem, { username: other.identity, password: '' })).outcome, 'refused');
    assert.equal((await node.tryConnect(device.certificatePem, device.privateKeyPem, { username: other.identity })).outcome, 'refused');
    // A password user with access to the vhost could be logged into over this listener: the agent's has none.
    const agent = await node.tryConnect(device.certificatePem, device.privateKeyPem, { username: node.agentUsername, password: node.agentPassword });
    assert.equal(agent.outcome, 'refused');
    assert.match(agent.reason, /Not authorized/);
  });

  test('least rights: the agent\'s user has the administrator tag and no vhost permissions; policymaker or monitoring are not enough', async () => {
    const agent = (await node.management('GET', `/users/${node.agentUsername}`)).json() as { tags: string[] };
    assert.deepEqual(agent.tags, ['administrator']);
    assert.deepEqual((await node.management('GET', `/users/${node.agentUsername}/permissions`)).json(), []);
    for (const tag of ['policymaker', 'monitoring']) {
      const name = `ccm-agent-${tag}`;
      assert.equal((await node.management('PUT', `/users/${name}`, { password: 'pw', tags: tag })).status, 201);
      const weaker = new RabbitMqAdapter({ ...settings, username: name, password: 'pw' }, log);
      await assert.rejects(weaker.start(), RabbitMqPermissionError);
      // What the adapter would need, refused by the node itself:
      const response = await fetch(`${node.managementUrl}/api/user-limits/${encodeURIComponent('CN=sensor-1')}/max-connections`, {
        method: 'PUT',
        headers: { authorization: `Basic ${Buffer.from(`${name}:pw`).toString('base64')}`, 'content-type': 'application/json' },
        body: '{"value":0}',
      });
      assert.equal(response.status, 401, tag);
      await weaker.close();
    }
  });

  test('a user of a device\'s name without the marker tag is left as it is', async () => {
    const name = deviceOf(devices.get('a plus in CN')!.subject).identity;
    await adapter.endForGood([deviceOf(devices.get('a plus in CN')!.subject)]);
    assert.equal((await node.management('PUT', `/users/${encodeURIComponent(name)}`, { password: 'operator-pw', tags: 'monitoring' })).status, 201);
    const restarted = new RabbitMqAdapter(settings, log);
    await restarted.start();
    const target = deviceOf(devices.get('a plus in CN')!.subject);
    await restarted.shutOut([target]);
    await restarted.endForGood([target]);
    await restarted.letBackIn([target]);
    const user = (await node.management('GET', `/users/${encodeURIComponent(name)}`)).json() as { tags: string[]; limits: Record<string, number> };
    assert.deepEqual(user.tags, ['monitoring']);
    assert.deepEqual(user.limits, {});
    assert.deepEqual((await node.management('GET', `/users/${encodeURIComponent(name)}/permissions`)).json(), []);
    await restarted.close();
  });

  test(`${BULK_USERS} new devices are let in by definitions import, then ended in bulk`, async (t: TestContext) => {
    const many: Device[] = Array.from({ length: BULK_USERS }, (_, i) => deviceOf(`CN=bulk-${i},O=Tenant ${i % 7}`));
    const started = performance.now();
    await adapter.letBackIn(many);
    const letIn = performance.now() - started;
    const users = (await node.management('GET', '/users?columns=name,tags')).json() as Array<{ name: string; tags: string[] }>;
    assert.equal(users.filter((user) => user.name.startsWith('CN=bulk-') && user.tags.includes('ccm-device')).length, BULK_USERS);
    const fresh = new RabbitMqAdapter(settings, log);
    const restartStarted = performance.now();
    await fresh.start();
    const readMs = performance.now() - restartStarted;
    const fetches = t.mock.method(globalThis, 'fetch');
    await fresh.letBackIn(many);
    assert.equal(fetches.mock.callCount(), 0);
    fetches.mock.restore();
    const endStarted = performance.now();
    await fresh.endForGood(many);
    t.diagnostic(`${BULK_USERS} users: letBackIn ${Math.round(letIn)} ms, start() reading them ${Math.round(readMs)} ms, endForGood ${Math.round(performance.now() - endStarted)} ms`);
    await fresh.close();
  });
});
