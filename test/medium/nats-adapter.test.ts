/**
 * The NATS adapter (@ccm/nats-agent) on a real nats-server 2.9 with real
 * `nats` clients over mutual TLS, certificates made by openssl:
 * - the life cycle: let in → connects; shut out → the live session closes
 *   (measured) and the reconnect gets Authorization Violation; let back in;
 *   ended for good; a bystander connected throughout; repeated calls write
 *   and reload nothing; a restarted adapter touches nothing;
 * - identityOf for every certificate shape, proven by connecting and by the
 *   user /connz reports;
 * - the users file included in an account's block as well;
 * - the cost of one reload with 1,000 users in the file.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from 'nats';
import { JsonLineLog, type CertificateStatus, type Device } from '@ccm/broker-agent';
import { DEFAULT_DEVICE_PERMISSIONS, NatsAdapter, type NatsAdapterSettings } from '@ccm/nats-agent';
import { NatsTestPki, NatsUnderTest, type DeviceCertificate } from '../support/nats.js';

function statusOf(subject: string): CertificateStatus {
  return {
    id: '00000000-0000-7000-8000-000000000000',
    tenantId: '00000000-0000-7000-8000-000000000001',
    authorityId: '00000000-0000-7000-8000-000000000002',
    serialNumber: '1',
    subject,
    commonName: '',
    state: 'active',
    notAfter: new Date(Date.now() + 86_400_000),
  };
}

function settingsFor(server: NatsUnderTest): NatsAdapterSettings {
  return {
    usersFile: server.usersFile,
    pidFile: server.pidFile,
    monitorUrl: server.monitorUrl,
    permissions: DEFAULT_DEVICE_PERMISSIONS,
    reloadTimeoutMs: 5000,
    sessionCloseTimeoutMs: 5000,
    systemAccount: null,
  };
}

/** A quiet log that keeps the lines, so a test can read the adapter's measurements. */
function recordingLog(): { log: JsonLineLog; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: new JsonLineLog('debug', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>)), lines };
}

describe('NATS adapter on nats-server 2.9 (verify_and_map, users file in the authorization block)', () => {
  let pki: NatsTestPki;
  let server: NatsUnderTest;
  let adapter: NatsAdapter;
  let lines: Array<Record<string, unknown>>;
  let sensor: DeviceCertificate;
  let bystander: DeviceCertificate;
  let bystanderConnection: NatsConnection;
  let bystanderClosed = false;
  const open: NatsConnection[] = [];

  const deviceOf = (certificate: DeviceCertificate): Device => {
    const identity = adapter.identityOf(statusOf(certificate.subject));
    assert.ok(identity, `no identity for ${certificate.subject}`);
    return { identity, certificates: [statusOf(certificate.subject)] };
  };

  before(async () => {
    pki = await NatsTestPki.create();
    [sensor, bystander] = [await pki.issue('/O=Acme/CN=sensor-1'), await pki.issue('/O=Acme/CN=bystander')];
    server = await NatsUnderTest.start({ serverCertificatePem: pki.serverCertificatePem, serverKeyPem: pki.serverKeyPem, trustBundlePem: pki.deviceCaPem, clientTrustPem: pki.serverCaPem });
    const recording = recordingLog();
    lines = recording.lines;
    adapter = NatsAdapter.create(settingsFor(server), recording.log);
    await adapter.start();
  });

  after(async () => {
    for (const connection of open) await connection.close().catch(() => undefined);
    await bystanderConnection?.close().catch(() => undefined);
    await adapter?.close();
    await server?.stop();
    await pki?.cleanup();
  });

  test('a device whose identity is not in the users file is refused; letBackIn lets it connect', async () => {
    assert.equal(adapter.identityOf(statusOf(sensor.subject)), 'CN=sensor-1,O=Acme');
    const refused = await server.tryConnect(sensor);
    assert.equal(refused.outcome, 'refused');
    assert.equal((refused as { code: string }).code, 'AUTHORIZATION_VIOLATION');
    await adapter.letBackIn([deviceOf(sensor), deviceOf(bystander)]);
    assert.deepEqual(await server.tryConnect(sensor), { outcome: 'connected' });
    bystanderConnection = await server.connectDevice(bystander);
    void bystanderConnection.closed().then(() => (bystanderClosed = true));
    const users = (await server.connz()).map((connection) => connection.authorized_user);
    assert.ok(users.includes('CN=bystander,O=Acme'), 'connz names the mapped user');
  });

  test('shutOut closes the live session within a bounded time and the reconnect gets Authorization Violation', async () => {
    const rounds: Array<{ clientSawCloseMs: number; callMs: number; adapterMs: number }> = [];
    for (let round = 0; round < 5; round++) {
      if (round > 0) await adapter.letBackIn([deviceOf(sensor)]);
      const connection = await server.connectDevice(sensor);
      const closedAt = connection.closed().then(() => performance.now());
      const started = performance.now();
      await adapter.shutOut([deviceOf(sensor)]);
      const returned = performance.now();
      const clientSawClose = await Promise.race([closedAt, new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), 2000))]);
      assert.ok(!Number.isNaN(clientSawClose), 'the client saw its connection closed within 2 s');
      const closedLine = lines.filter((line) => line['msg'] === 'nats sessions of shut-out devices closed').at(-1)!;
      rounds.push({ clientSawCloseMs: clientSawClose - started, callMs: returned - started, adapterMs: closedLine['msAfterReloadSignal'] as number });
      assert.ok(!(await server.connz()).some((c) => c.authorized_user === 'CN=sensor-1,O=Acme'), 'connz shows no connection of it when shutOut returns');
      const again = await server.tryConnect(sensor);
      assert.equal(again.outcome, 'refused');
      assert.equal((again as { code: string }).code, 'AUTHORIZATION_VIOLATION');
    }
    const fmt = (values: number[]) => values.map((value) => value.toFixed(1)).join(', ');
    console.log(`# shutOut → client saw close: ${fmt(rounds.map((r) => r.clientSawCloseMs))} ms`);
    console.log(`# shutOut call (write + SIGHUP + reload confirmed + connz clear): ${fmt(rounds.map((r) => r.callMs))} ms`);
    console.log(`# SIGHUP → connz shows none (adapter's log): ${fmt(rounds.map((r) => r.adapterMs))} ms`);
    for (const round of rounds) assert.ok(round.clientSawCloseMs < 1000, `closed ${round.clientSawCloseMs} ms after the call started`);
  });

  test('calling shutOut again writes nothing and reloads nothing', async () => {
    const [fileBefore, varzBefore, countsBefore] = [await stat(server.usersFile), await server.varz(), { ...adapter.counts }];
    await adapter.shutOut([deviceOf(sensor)]);
    await adapter.shutOut([deviceOf(sensor)]);
    const [fileAfter, varzAfter] = [await stat(server.usersFile), await server.varz()];
    assert.equal(fileAfter.ino, fileBefore.ino);
    assert.equal(fileAfter.mtimeMs, fileBefore.mtimeMs);
    assert.equal(varzAfter.config_load_time, varzBefore.config_load_time);
    assert.deepEqual(adapter.counts, countsBefore);
  });

  test('letBackIn lets the device connect again', async () => {
    await adapter.letBackIn([deviceOf(sensor)]);
    const connection = await server.connectDevice(sensor);
    open.push(connection);
    await connection.flush();
  });

  test('endForGood closes it and refuses it', async () => {
    const connection = open.pop()!;
    const closed = connection.closed();
    await adapter.endForGood([deviceOf(sensor)]);
    await closed;
    const again = await server.tryConnect(sensor);
    assert.equal((again as { code?: string }).code, 'AUTHORIZATION_VIOLATION');
  });

  test('a restarted adapter finds the file in force and writes and reloads nothing', async () => {
    const [fileBefore, varzBefore] = [await stat(server.usersFile), await server.varz()];
    const restarted = NatsAdapter.create(settingsFor(server), recordingLog().log);
    await restarted.start();
    await restarted.letBackIn([deviceOf(bystander)]);
    await restarted.endForGood([deviceOf(sensor)]);
    await restarted.close();
    assert.deepEqual(restarted.counts, { writes: 0, reloads: 0, kicks: 0 });
    assert.equal((await stat(server.usersFile)).mtimeMs, fileBefore.mtimeMs);
    assert.equal((await server.varz()).config_load_time, varzBefore.config_load_time);
  });

  test('the device permissions written into the file are enforced', async () => {
    const connection = await server.connectDevice(bystander);
    try {
      const allowed = connection.subscribe('devices.bystander.commands', { max: 1 });
      const denied = connection.subscribe('billing.>');
      // Attached before anything is awaited: the server's -ERR arrives during the flush.
      const deniedRejected = assert.rejects(
        (async () => {
          for await (const message of denied) void message;
        })(),
        /Permissions Violation for Subscription to "billing\.>"/,
      );
      await connection.flush();
      await deniedRejected;
      connection.publish('devices.bystander.commands', 'ping');
      for await (const message of allowed) assert.equal(new TextDecoder().decode(message.data), 'ping');
    } finally {
      await connection.close();
    }
  });

  test('each certificate shape maps: identityOf of ccm\'s subject text is the user nats-server admits it as', async () => {
    const shapes: ReadonlyArray<readonly [string, string, boolean?]> = [
      ['CN only', '/CN=shape-cn'],
      ['CN and O', '/O=Acme/CN=shape-cn-o'],
      ['a comma in the CN', '/CN=shape\\, with comma'],
      ['a plus in the CN', '/CN=shape\\+plus'],
      ['non-ASCII', '/O=Müller GmbH/CN=Gerät-ü-設備 🌡'],
      ['quote, semicolon, angle brackets, leading #', '/CN=#shape"q";<x>'],
      ['a leading and a trailing space', '/CN= shape-spaces '],
      ['a multi-valued RDN with an attribute NATS does not map (UID)', '/O=Acme/CN=shape-mv+UID=u1', true],
      ['a multi-valued RDN of mapped types', '/O=Acme/CN=shape-mv2+OU=Lab', true],
      ['many RDNs, serialNumber included', '/C=DE/ST=Bayern/L=München/O=Acme/OU=Lab/OU=Ops/CN=shape-many/serialNumber=SN-7'],
      ['DC components', '/DC=com/DC=acme/CN=shape-dc'],
      ['emailAddress in the subject', '/emailAddress=dev@acme.test/CN=shape-email'],
      ['a reversed certificate (CN encoded first)', '/CN=shape-reversed/O=Acme'],
    ];
    const certificates = await Promise.all(shapes.map(([, subj, multiValued]) => pki.issue(subj, { multiValued: multiValued ?? false })));
    const devices = certificates.map(deviceOf);
    await adapter.letBackIn(devices);
    const report: string[] = [];
    for (const [index, [shape]] of shapes.entries()) {
      const certificate = certificates[index]!;
      const identity = devices[index]!.identity;
      const connection = await server.connectDevice(certificate, { name: `shape-${index}` });
      try {
        await connection.flush();
        const mine = (await server.connz()).filter((c) => c.authorized_user === identity);
        assert.ok(mine.length >= 1, `${shape}: connz shows the connection as ${JSON.stringify(identity)}`);
      } finally {
        await connection.close();
      }
      report.push(`#   ${shape}: ccm ${JSON.stringify(certificate.subject)} → nats ${JSON.stringify(identity)}`);
    }
    console.log(`# identityOf, each admitted by nats-server:\n${report.join('\n')}`);
    await adapter.endForGood(devices);
    for (const [index, certificate] of certificates.entries()) assert.equal((await server.tryConnect(certificate)).outcome, 'refused', shapes[index]![0]);
  });

  test('certificates that differ only in attributes nats-server ignores share one identity; a different O is a different one', async () => {
    const [plain, withEmail, withDc, otherOrganization] = await Promise.all([
      pki.issue('/O=Acme/CN=alias'),
      pki.issue('/O=Acme/CN=alias/emailAddress=alias@acme.test'),
      pki.issue('/DC=test/O=Acme/CN=alias'),
      pki.issue('/O=Evil/CN=alias'),
    ]);
    const identities = [plain, withEmail, withDc, otherOrganization].map((certificate) => deviceOf(certificate).identity);
    assert.deepEqual(identities, ['CN=alias,O=Acme', 'CN=alias,O=Acme', 'CN=alias,O=Acme', 'CN=alias,O=Evil']);
    await adapter.letBackIn([deviceOf(plain)]);
    // The broker cannot tell the first three apart: letting one in lets in all three, which is why they are one identity to the core.
    for (const certificate of [plain, withEmail, withDc]) assert.deepEqual(await server.tryConnect(certificate), { outcome: 'connected' });
    assert.equal((await server.tryConnect(otherOrganization)).outcome, 'refused');
    await adapter.shutOut([deviceOf(plain)]);
    for (const certificate of [plain, withEmail, withDc]) assert.equal((await server.tryConnect(certificate)).outcome, 'refused');
  });

  test('a certificate that carries its ccm URN is the URN user, a DNS name beside it or not; its subject is no user then', async () => {
    const [urnId, dnsId] = ['0193b000-0000-7000-8000-0000000000e1', '0193b000-0000-7000-8000-0000000000e2'];
    const withUrn = await pki.issue('/O=Acme/CN=urn-device', { subjectAltName: `URI:urn:uuid:${urnId}` });
    const sameSubject = await pki.issue('/O=Acme/CN=urn-device');
    const urnAndDns = await pki.issue('/O=Acme/CN=urn-and-dns', { subjectAltName: `URI:urn:uuid:${dnsId},DNS:urn-and-dns.example` });
    const carrying = (certificate: DeviceCertificate, id: string, dns: readonly string[] = []): Device => {
      const status: CertificateStatus = { ...statusOf(certificate.subject), id, subjectAltNames: { uri: [`urn:uuid:${id}`], dns } };
      return { identity: adapter.identityOf(status)!, certificates: [status] };
    };
    await adapter.letBackIn([carrying(withUrn, urnId), carrying(urnAndDns, dnsId, ['urn-and-dns.example'])]);
    assert.deepEqual(await server.tryConnect(withUrn), { outcome: 'connected' });
    assert.equal((await server.tryConnect(sameSubject)).outcome, 'refused', 'the subject is not a user: only the certificate with the URN is let in');
    assert.deepEqual(await server.tryConnect(urnAndDns), { outcome: 'connected' }, 'nats-server looks the URI up beside a DNS name too');

    const live = await server.connectDevice(withUrn);
    open.push(live);
    assert.ok((await server.connz()).some((connection) => connection.authorized_user === `urn:uuid:${urnId}`), '/connz names the URN user');
    assert.ok((await adapter.listSessions()).has('CN=urn-device,O=Acme'), 'listSessions speaks of the identity');
    const closed = live.closed();
    await adapter.shutOut([{ identity: 'CN=urn-device,O=Acme', certificates: [{ ...statusOf(withUrn.subject), id: urnId, state: 'suspended' }] }]);
    await closed;
    assert.equal((await server.tryConnect(withUrn)).outcome, 'refused');
  });

  test('1,000 users in the file: the cost of one reload', async () => {
    const bulk: Device[] = Array.from({ length: 1000 }, (_, i) => ({ identity: `CN=bulk-${String(i).padStart(4, '0')},O=Acme`, certificates: [statusOf(`CN=bulk-${i},O=Acme`)] }));
    let started = performance.now();
    await adapter.letBackIn(bulk);
    const firstMs = performance.now() - started;
    const { size } = await stat(server.usersFile);
    const reloadMs: number[] = [];
    const callMs: number[] = [];
    for (let round = 0; round < 5; round++) {
      const connection = await server.connectDevice(bystander);
      await connection.flush();
      await connection.close();
      started = performance.now();
      await adapter.shutOut([bulk[round]!]);
      callMs.push(performance.now() - started);
      reloadMs.push(lines.filter((line) => line['msg'] === 'nats-server reloaded the users file').at(-1)!['ms'] as number);
    }
    const connectStarted = performance.now();
    const late = await server.connectDevice(bystander);
    await late.flush();
    const connectMs = performance.now() - connectStarted;
    await late.close();
    console.log(`# 1,000 users (${(size / 1024).toFixed(0)} KiB file): first write + reload ${firstMs.toFixed(1)} ms; one shutOut (write + SIGHUP + confirmed + connz clear) ${callMs.map((ms) => ms.toFixed(1)).join(', ')} ms; of which SIGHUP → config_load_time moved ${reloadMs.join(', ')} ms; a device connect+flush with 1,000 users ${connectMs.toFixed(1)} ms`);
    for (const ms of callMs) assert.ok(ms < 2000, `one reload with 1,000 users took ${ms} ms`);
    await adapter.endForGood(bulk);
  });

  test('the bystander stayed connected throughout', async () => {
    assert.equal(bystanderClosed, false);
    assert.equal(bystanderConnection.isClosed(), false);
    await bystanderConnection.flush();
    assert.ok((await server.connz()).some((c) => c.authorized_user === 'CN=bystander,O=Acme'));
  });
});

describe('NATS adapter with the users file included in an account block', () => {
  test('devices of the account are let in and shut out the same way', async (t) => {
    const pki = await NatsTestPki.create();
    t.after(() => pki.cleanup());
    const server = await NatsUnderTest.start({ serverCertificatePem: pki.serverCertificatePem, serverKeyPem: pki.serverKeyPem, trustBundlePem: pki.deviceCaPem, clientTrustPem: pki.serverCaPem, layout: 'account' });
    t.after(() => server.stop());
    const adapter = NatsAdapter.create(settingsFor(server), recordingLog().log);
    await adapter.start();
    t.after(() => adapter.close());
    const device = await pki.issue('/O=Acme/CN=account-device');
    const identity = adapter.identityOf(statusOf(device.subject))!;
    await adapter.letBackIn([{ identity, certificates: [statusOf(device.subject)] }]);
    const connection = await server.connectDevice(device);
    const closed = connection.closed();
    await connection.flush();
    assert.deepEqual(
      (await server.connz()).map((c) => [c.authorized_user, c.account]),
      [[identity, 'DEVICES']],
    );
    await adapter.shutOut([{ identity, certificates: [statusOf(device.subject)] }]);
    await closed;
    assert.equal((await server.tryConnect(device)).outcome, 'refused');
  });
});

describe('the hazard of an empty users list', () => {
  test('nats-server 2.9 with "users = []" admits every trusted certificate; the adapter replaces it at start and they are refused', async (t) => {
    const pki = await NatsTestPki.create();
    t.after(() => pki.cleanup());
    const server = await NatsUnderTest.start({ serverCertificatePem: pki.serverCertificatePem, serverKeyPem: pki.serverKeyPem, trustBundlePem: pki.deviceCaPem, clientTrustPem: pki.serverCaPem, usersFileContent: 'users = []\n' });
    t.after(() => server.stop());
    const stranger = await pki.issue('/O=Acme/CN=in-no-list');
    assert.deepEqual(await server.tryConnect(stranger), { outcome: 'connected' }, 'no user configured: no authorization asked');
    const adapter = NatsAdapter.create(settingsFor(server), recordingLog().log);
    await adapter.start();
    t.after(() => adapter.close());
    assert.deepEqual(adapter.counts, { writes: 1, reloads: 1, kicks: 0 });
    const refused = await server.tryConnect(stranger);
    assert.equal((refused as { code?: string }).code, 'AUTHORIZATION_VIOLATION');
  });
});
