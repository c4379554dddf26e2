/**
 * The Mosquitto adapter against a real Mosquitto 2.0 (test/support/mosquitto.ts)
 * with real MQTT clients over mutual TLS and CRLs from a throwaway CA.
 *
 * Part 1 pins down the broker behaviour the adapter is built on, with its own
 * building blocks (crlfile writer, SIGHUP, dynsec control): what a reload
 * does and does not do, how fast a kick is, what disableClient does not do,
 * and the ways a crlfile can lock everyone out or let everyone in.
 *
 * Part 2 is MosquittoAdapter itself, as the core drives it: shutOut ends a
 * live session and refuses the reconnect, letBackIn admits it again,
 * endForGood refuses it for good, a bystander stays connected throughout;
 * repeated calls send nothing; a second adapter started over the same broker
 * with nothing changed writes nothing, reloads nothing and kicks nobody (read
 * from Mosquitto's own log); a certificate without a CN cannot log in at all.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { CertificateStatus, Device } from '@ccm/broker-agent';
import { RecordingAgentLog } from '@ccm/broker-agent/testing';
import { AtomicCrlFile, CrlSource, DynsecBrokerControl, MosquittoAdapter, SighupReloader, SystemAdapterClock, verifiedTenantCrl, type TenantCrl } from '@ccm/mosquitto-agent';
import type { MqttClient } from 'mqtt';
import { MosquittoUnderTest, ThrowawayPki, type DeviceCredentials } from '../support/mosquitto.js';
import { closeOf } from '../support/mqtt-session.js';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('Mosquitto 2.0 under the adapter\'s building blocks (throwaway CA)', () => {
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
    assert.equal(await reloader.reload(), broker.pid);
    if (options.barrier !== false) await control.roundTrip();
    return performance.now() - signalledAt;
  }

  test('devices with valid certificates connect; the username is the certificate CN', async () => {
    const client = await broker.connectedDevice(alpha);
    clients.push(client);
    client.end(true);
    const log = await broker.log();
    assert.match(log, /New client connected from 127\.0\.0\.1:\d+ as device-alpha \(.*u'device-alpha'\)/);
  });

  test('a certificate without a CN cannot log in (use_identity_as_username), so the adapter has no identity for it', async () => {
    const nameless = await pki.issueDevice('');
    assert.equal(await broker.tryConnect(nameless.certificatePem, nameless.privateKeyPem), 'refused');
  });

  test('the broker logs each reload and each dynsec command (what part 2 reads to tell what the adapter did)', async () => {
    const reloadsBefore = await broker.reloads();
    await install(await pki.crl());
    await control.disableClients(['log-probe']);
    await control.releaseClients(['log-probe']);
    await sleep(100);
    assert.equal(await broker.reloads(), reloadsBefore + 1);
    const commands = await broker.dynsecCommands();
    for (const command of ['createClient log-probe', 'disableClient log-probe', 'deleteClient log-probe']) assert.ok(commands.includes(command), command);
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

  test('an idle broker applies a SIGHUP on its own within its loop timeout', async () => {
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
    const live = await broker.connectedDevice(alpha);
    const other = await broker.connectedDevice(beta);
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
    await control.releaseClients(['device-alpha']);
  });

  test('disableClient kicks a live session within milliseconds, again when repeated, and does not refuse the reconnect by itself', async () => {
    await install(await pki.crl());
    const latencies: number[] = [];
    for (let round = 0; round < 5; round++) {
      const client = await broker.connectedDevice(beta);
      clients.push(client);
      const start = performance.now();
      const closed = closeOf(client);
      await control.disableClients(['device-beta']);
      latencies.push((await closed) - start);
    }
    console.log(`# disableClient → session closed: ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`);
    assert.ok(Math.max(...latencies) < 500);
    assert.equal(await broker.tryConnect(beta.certificatePem, beta.privateKeyPem), 'connected', 'dynsec disable does not refuse a certificate client (measured on 2.0.11)');
    assert.ok((await control.disabledClients()).has('device-beta'), 'listClients reports the client disabled');
    await control.releaseClients(['device-beta', 'nobody-at-all']);
    assert.ok(!(await control.disabledClients()).has('device-beta'));
  });

  test('releasing deletes the clients the agent created and only enables an operator\'s own, which keeps its roles', async () => {
    type Answer = { command: string; error?: string; data?: { client?: Record<string, unknown> } };
    const admin = broker.connectAdmin();
    await new Promise<void>((resolve, reject) => {
      admin.once('connect', () => resolve());
      admin.once('error', reject);
    });
    await admin.subscribeAsync('$CONTROL/dynamic-security/v1/response');
    // Every admin client subscribed gets every answer (the adapter's too): ours are told by their correlationData.
    let asked = 0;
    const ask = async (commands: object[]): Promise<Answer[]> => {
      const tag = `operator-test-${++asked}`;
      const tagged = commands.map((command, index) => ({ ...command, correlationData: `${tag}-${index}` }));
      const answer = new Promise<Answer[]>((resolve) => {
        const listener = (_topic: string, payload: Buffer): void => {
          const responses = (JSON.parse(payload.toString()) as { responses: Array<Answer & { correlationData?: string }> }).responses;
          if (!responses.some((response) => response.correlationData?.startsWith(`${tag}-`))) return;
          admin.off('message', listener);
          resolve(tagged.map((command) => responses.find((response) => response.correlationData === command.correlationData)!));
        };
        admin.on('message', listener);
      });
      await admin.publishAsync('$CONTROL/dynamic-security/v1', JSON.stringify({ commands: tagged }));
      return answer;
    };
    try {
      // An operator's client for a device, with a role of its own.
      const created = await ask([
        { command: 'createRole', rolename: 'operator-meter-role' },
        { command: 'createClient', username: 'operator-meter', roles: [{ rolename: 'operator-meter-role' }] },
      ]);
      assert.deepEqual(created.map((response) => response.error), [undefined, undefined]);
      await control.disableClients(['operator-meter', 'agent-meter']);
      const disabled = await control.disabledClients();
      assert.ok(disabled.has('operator-meter') && disabled.has('agent-meter'));
      await control.releaseClients(['operator-meter', 'agent-meter']);
      const [operatorMeter, agentMeter] = await ask([
        { command: 'getClient', username: 'operator-meter' },
        { command: 'getClient', username: 'agent-meter' },
      ]);
      assert.equal(agentMeter!.error, 'Client not found', 'the client the agent created is gone');
      assert.notEqual(operatorMeter!.data?.client?.['disabled'], true, 'the operator\'s client is enabled again');
      assert.deepEqual(operatorMeter!.data?.client?.['roles'], [{ rolename: 'operator-meter-role' }]);
      const commands = await broker.dynsecCommands();
      assert.ok(commands.includes('deleteClient agent-meter') && commands.includes('enableClient operator-meter') && !commands.includes('deleteClient operator-meter'));
    } finally {
      admin.end(true);
    }
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
    const calls: Array<Promise<unknown>> = [];
    for (let i = 0; i < 5; i++) {
      calls.push(control.roundTrip(), control.releaseClients([`never-seen-${i}`]), control.disabledClients());
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

  test('hazard the adapter guards against: a crlfile Mosquitto cannot read on reload turns revocation checking off', async () => {
    await install(await pki.crl({ entries: [{ serialNumber: gamma.serialNumber, reason: 6 }] }));
    assert.equal(await broker.tryConnect(gamma.certificatePem, gamma.privateKeyPem), 'refused');
    await install('this is not a CRL\n');
    assert.equal(await broker.tryConnect(gamma.certificatePem, gamma.privateKeyPem), 'connected', 'Mosquitto 2.0.11 fails open here');
    await install(await pki.crl());
    assert.ok(broker.running);
  });
});

// ---------------------------------------------------------------------------------------------
// Part 2: MosquittoAdapter.

const TENANT = '0190f0c2-0000-7000-8000-0000000000a1';
const ROOT = '0190f0c2-0000-7000-8000-0000000000a2';

/** ccm's side, in memory: the tenant CRL lists whatever the test says is suspended or revoked; like ccm, a new CRL only when that changes. */
class ThrowawayCrlSource extends CrlSource {
  readonly listed = new Set<string>();
  private issued: { key: string; pem: string } | null = null;
  constructor(private readonly pki: ThrowawayPki) {
    super();
  }
  async currentCrl(tenantId: string): Promise<TenantCrl> {
    const key = [...this.listed].sort().join(',');
    if (this.issued?.key !== key) this.issued = { key, pem: await this.pki.crl({ entries: [...this.listed].map((serialNumber) => ({ serialNumber, reason: 6 })) }) };
    return verifiedTenantCrl(tenantId, this.issued.pem, this.pki.tenantCa.toString('pem'), ROOT);
  }
}

describe('MosquittoAdapter on a real Mosquitto', () => {
  let pki: ThrowawayPki;
  let broker: MosquittoUnderTest;
  let crls: ThrowawayCrlSource;
  let adapter: MosquittoAdapter;
  let log: RecordingAgentLog;
  let suspect: DeviceCredentials;
  let bystander: DeviceCredentials;
  let bystanderClient: MqttClient;
  const clients: MqttClient[] = [];

  function statusOf(device: DeviceCredentials, state: CertificateStatus['state']): CertificateStatus {
    return { id: `${device.commonName}-certificate`, tenantId: TENANT, authorityId: ROOT, serialNumber: device.serialNumber, subject: `CN=${device.commonName}`, commonName: device.commonName, state, notAfter: new Date(Date.now() + 86400_000) };
  }

  function deviceOf(device: DeviceCredentials, state: CertificateStatus['state']): Device {
    return { identity: device.commonName, certificates: [statusOf(device, state)] };
  }

  function build(): MosquittoAdapter {
    return new MosquittoAdapter(
      {
        crls,
        crlFile: new AtomicCrlFile(broker.crlFile),
        reloader: new SighupReloader({ kind: 'file', path: broker.pidFile }),
        connectControl: () => DynsecBrokerControl.connect({ url: broker.adminUrl, username: broker.adminUsername, password: broker.adminPassword, timeoutMs: 5000 }),
        clock: new SystemAdapterClock(),
        log,
      },
      { tenantIds: [TENANT], rekickDelaysMs: [250, 1000], crlMinimumValidityMs: 600_000, crlRefreshMs: 3_600_000 },
    );
  }

  before(async () => {
    pki = await ThrowawayPki.create();
    [suspect, bystander] = await Promise.all([pki.issueDevice('meter-suspect'), pki.issueDevice('meter-bystander')]);
    broker = await MosquittoUnderTest.start({ clientCaPem: pki.chainPem, crlPem: await pki.crl() });
    crls = new ThrowawayCrlSource(pki);
    log = new RecordingAgentLog();
    adapter = build();
    await adapter.start();
    bystanderClient = await broker.connectedDevice(bystander);
    clients.push(bystanderClient);
  });

  after(async () => {
    for (const client of clients) client.end(true);
    await adapter?.close();
    await broker?.stop();
  });

  test('start installed the tenant CRL and reloaded Mosquitto; the admin connection answers', async () => {
    assert.match(await broker.log(), /Reloading config/);
    assert.ok(log.lines.some((line) => line.message === 'CRLs installed, Mosquitto reloading'));
    await adapter.check();
  });

  test('shutOut ends the live session and refuses the reconnect of a device racing back in; the bystander stays', async () => {
    const live = await broker.connectedDevice(suspect, { reconnectPeriod: 20 });
    clients.push(live);
    let reconnects = 0;
    live.on('connect', () => (reconnects += 1));
    const closed = closeOf(live);
    crls.listed.add(suspect.serialNumber);
    const started = performance.now();
    await adapter.shutOut([deviceOf(suspect, 'suspended')]);
    console.log(`# shutOut → session closed: ${((await closed) - started).toFixed(1)} ms (the call: ${JSON.stringify(log.lines.find((line) => line.message === 'devices kicked')?.fields)})`);
    await sleep(1500); // beyond the re-kicks
    live.end(true);
    assert.equal(reconnects, 0, 'the device never got back in');
    assert.equal(await broker.tryConnect(suspect.certificatePem, suspect.privateKeyPem), 'refused');
    assert.equal(bystanderClient.connected, true);
  });

  test('shutOut again changes nothing on the broker: no write, no reload, no command', async () => {
    const [reloads, commands, written] = [await broker.reloads(), (await broker.dynsecCommands()).length, (await stat(broker.crlFile)).mtimeMs];
    await adapter.shutOut([deviceOf(suspect, 'suspended')]);
    await sleep(100);
    assert.equal(await broker.reloads(), reloads);
    assert.equal((await broker.dynsecCommands()).length, commands);
    assert.equal((await stat(broker.crlFile)).mtimeMs, written);
  });

  test('letBackIn admits the device again; again it changes nothing', async () => {
    crls.listed.delete(suspect.serialNumber);
    await adapter.letBackIn([deviceOf(suspect, 'active'), deviceOf(bystander, 'active')]);
    assert.equal(await broker.tryConnect(suspect.certificatePem, suspect.privateKeyPem), 'connected');
    assert.ok((await broker.dynsecCommands()).includes('deleteClient meter-suspect'));
    assert.ok(!(await broker.dynsecCommands()).some((command) => command.endsWith(' meter-bystander')), 'an identity never shut out is not touched');
    const reloads = await broker.reloads();
    const commands = (await broker.dynsecCommands()).length;
    await adapter.letBackIn([deviceOf(suspect, 'active'), deviceOf(bystander, 'active')]);
    await sleep(100);
    assert.equal(await broker.reloads(), reloads);
    assert.equal((await broker.dynsecCommands()).length, commands);
    assert.equal(bystanderClient.connected, true);
  });

  test('endForGood ends the session and refuses the device', async () => {
    const live = await broker.connectedDevice(suspect);
    clients.push(live);
    const closed = closeOf(live);
    crls.listed.add(suspect.serialNumber);
    await adapter.endForGood([deviceOf(suspect, 'revoked')]);
    await closed;
    assert.equal(await broker.tryConnect(suspect.certificatePem, suspect.privateKeyPem), 'refused');
    assert.equal(bystanderClient.connected, true);
  });

  test('a second adapter started over the same broker with nothing changed writes nothing, reloads nothing and kicks nobody', async () => {
    await adapter.close();
    await sleep(300);
    const [reloads, commands, written] = [await broker.reloads(), (await broker.dynsecCommands()).length, (await stat(broker.crlFile)).mtimeMs];
    adapter = build();
    await adapter.start();
    await adapter.endForGood([deviceOf(suspect, 'revoked')]);
    await adapter.letBackIn([deviceOf(bystander, 'active')]);
    await sleep(300);
    assert.equal(await broker.reloads(), reloads, 'no reload');
    assert.equal((await broker.dynsecCommands()).length, commands, 'no dynsec command');
    assert.equal((await stat(broker.crlFile)).mtimeMs, written, 'no crlfile write');
    assert.ok(adapter.disabledClients.has('meter-suspect'), 'the disabled client was read from the plugin');
    assert.equal(bystanderClient.connected, true);
    assert.ok(log.lines.some((line) => line.message === 'crlfile already current; nothing written, no reload'));
  });
});
