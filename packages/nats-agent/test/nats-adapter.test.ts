/**
 * NatsAdapter against an in-memory users file and a fake nats-server
 * (test/fakes.ts): what it writes, when it reloads, that bursts coalesce,
 * that repeated calls touch nothing, and how it fails. The real server is
 * in test/medium/nats-adapter.test.ts of the repository root.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdapterNotStartedError, NatsAdapter, parseUsersFile, renderUsersFile, ReloadNotConfirmedError, SessionsStillOpenError, DEFAULT_DEVICE_PERMISSIONS, UsersFileError, type NatsAdapterSettings } from '../src/index.js';
import { RecordingAgentLog } from '@ccm/broker-agent/testing';
import { FakeKicker, FakeNatsServer, MemoryUsersFile, device, deviceWith } from './fakes.js';

const SETTINGS: NatsAdapterSettings = {
  usersFile: '/fake/nats-users.conf',
  pidFile: '/fake/nats.pid',
  monitorUrl: 'http://127.0.0.1:8222',
  permissions: DEFAULT_DEVICE_PERMISSIONS,
  reloadTimeoutMs: 1500,
  sessionCloseTimeoutMs: 1500,
  systemAccount: null,
};

interface Rig {
  readonly file: MemoryUsersFile;
  readonly server: FakeNatsServer;
  readonly kicker: FakeKicker;
  readonly log: RecordingAgentLog;
  adapter(options?: { settings?: Partial<NatsAdapterSettings>; kick?: boolean }): NatsAdapter;
}

function rig(): Rig {
  const file = new MemoryUsersFile();
  const server = new FakeNatsServer(file);
  const kicker = new FakeKicker(server);
  const log = new RecordingAgentLog();
  return {
    file,
    server,
    kicker,
    log,
    adapter: (options = {}) =>
      new NatsAdapter({ ...SETTINGS, ...options.settings }, { file, monitor: server.monitor, signaller: server.signaller, kicker: options.kick ? kicker : null, log, pollIntervalMs: 1 }),
  };
}

async function started(r: Rig, options?: Parameters<Rig['adapter']>[0]): Promise<NatsAdapter> {
  const adapter = r.adapter(options);
  await adapter.start();
  return adapter;
}

function fileUsers(r: Rig): string[] {
  return r.file.content ? parseUsersFile(r.file.content.text, r.file.path) : [];
}

describe('NatsAdapter: the allow list', () => {
  test('identityOf is the user name nats-server maps the certificate\'s subject to', () => {
    const adapter = rig().adapter();
    assert.equal(adapter.identityOf({ ...device('x').certificates[0]!, subject: 'CN=s1,serialNumber=9' }), 'SERIALNUMBER=9,CN=s1');
    assert.equal(adapter.identityOf({ ...device('x').certificates[0]!, subject: 'UID=only' }), null);
  });

  test('a first start without a file writes nothing; the first letBackIn writes it once and reloads once', async () => {
    const r = rig();
    const adapter = await started(r);
    assert.equal(r.file.writes.length, 0);
    assert.equal(r.server.signals, 0);
    await adapter.letBackIn([device('CN=a'), device('CN=b')]);
    assert.deepEqual(fileUsers(r), ['CN=a', 'CN=b']);
    assert.deepEqual(adapter.counts, { writes: 1, reloads: 1, kicks: 0 });
    assert.equal(r.server.connect('CN=a') !== 'Authorization Violation', true, 'admitted after the reload');
    assert.equal(r.file.content!.text, renderUsersFile(['CN=a', 'CN=b'], DEFAULT_DEVICE_PERMISSIONS));
  });

  test('shutOut removes the user, reloads, and returns once its connection is gone; a bystander keeps its connection', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([device('CN=a'), device('CN=bystander')]);
    r.server.connect('CN=a');
    r.server.connect('CN=a');
    r.server.connect('CN=bystander');
    r.server.reloadDelayMs = 20;
    await adapter.shutOut([device('CN=a')]);
    assert.equal(r.server.connected('CN=a'), false);
    assert.equal(r.server.connected('CN=bystander'), true);
    assert.equal(r.server.connect('CN=a'), 'Authorization Violation');
    assert.deepEqual(fileUsers(r), ['CN=bystander']);
    const closed = r.log.lines.find((line) => line.message === 'nats sessions of shut-out devices closed');
    assert.equal(typeof closed?.fields?.['msAfterReloadSignal'], 'number');
    // Timers run on libuv's loop clock, which can trail performance.now() by a millisecond or so: the 20 ms reload may measure 19.
    assert.ok((closed!.fields!['msAfterReloadSignal'] as number) >= 15, 'measured from the signal, not from the end of the reload');
  });

  test('asking for what is already so writes nothing and reloads nothing', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([device('CN=a'), device('CN=b')]);
    await adapter.shutOut([device('CN=b')]);
    const before = { ...adapter.counts };
    await adapter.letBackIn([device('CN=a')]);
    await adapter.shutOut([device('CN=b')]);
    await adapter.endForGood([device('CN=b'), device('CN=never-seen')]);
    assert.deepEqual(adapter.counts, before);
    assert.equal(r.file.writes.length, before.writes);
  });

  test('endForGood removes the identity as shutOut does', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([device('CN=a')]);
    r.server.connect('CN=a');
    await adapter.endForGood([device('CN=a')]);
    assert.deepEqual(fileUsers(r), []);
    assert.equal(r.server.connected('CN=a'), false);
  });

  test('a burst of 100 calls while a reload is in flight gives one more reload, not 100', async () => {
    const r = rig();
    const adapter = await started(r);
    const first = Array.from({ length: 100 }, (_, i) => device(`CN=d${i}`));
    await adapter.letBackIn(first);
    r.server.reloadDelayMs = 30;
    const inFlight = adapter.letBackIn([device('CN=first')]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const burst = first.map((d, i) => (i % 2 === 0 ? adapter.shutOut([d]) : adapter.letBackIn([device(`CN=new${i}`)])));
    await Promise.all([inFlight, ...burst]);
    assert.equal(adapter.counts.reloads, 3, 'the first load, the one in flight, one for the whole burst');
    assert.equal(adapter.counts.writes, 3);
    const users = fileUsers(r);
    assert.equal(users.length, 100 - 50 + 50 + 1);
    assert.ok(users.includes('CN=first') && users.includes('CN=new1') && !users.includes('CN=d0'));
  });

  test('a shut-out\'s proof does not read /connz while the next shut-out\'s reload runs; both sessions end', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([device('CN=a'), device('CN=b')]);
    const [a, b] = [r.server.connect('CN=a'), r.server.connect('CN=b')];
    assert.ok(typeof a === 'number' && typeof b === 'number');
    r.server.reloadDelayMs = 30;
    r.server.connectionsReadMs = 10;
    const first = adapter.shutOut([device('CN=a')]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = adapter.shutOut([device('CN=b')]);
    await Promise.all([first, second]);
    assert.equal(adapter.counts.reloads, 3);
    assert.equal(r.server.connectionReadsDuringReload, 0);
    assert.ok(!r.server.connected('CN=a') && !r.server.connected('CN=b'));
  });

  test('a let-in and a shut-out that cancel out before the reload cost nothing', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([device('CN=a')]);
    r.server.reloadDelayMs = 20;
    const inFlight = adapter.letBackIn([device('CN=b')]);
    const [x, y] = [adapter.letBackIn([device('CN=c')]), adapter.shutOut([device('CN=c')])];
    await Promise.all([inFlight, x, y]);
    assert.equal(adapter.counts.reloads, 2, 'the first load and CN=b; CN=c came and went');
  });

  test('listSessions is the set of users with an open connection', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([device('CN=a'), device('CN=b')]);
    r.server.connect('CN=a');
    r.server.connect('CN=a');
    assert.deepEqual([...(await adapter.listSessions())], ['CN=a']);
  });

  test('calls before start() fail with a typed error', async () => {
    const adapter = rig().adapter();
    await assert.rejects(adapter.letBackIn([device('CN=a')]), AdapterNotStartedError);
    await assert.rejects(adapter.listSessions(), AdapterNotStartedError);
  });
});

describe('NatsAdapter: certificates that carry ccm\'s URN are users by URN', () => {
  const A1 = '0193a000-0000-7000-8000-0000000000a1';
  const A2 = '0193a000-0000-7000-8000-0000000000a2';
  const A3 = '0193a000-0000-7000-8000-0000000000a3';

  test('a certificate with its URN is written under the URN, not its subject; shutOut removes it and closes its session', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([deviceWith('CN=a', [{ id: A1, state: 'active', carriesUrn: true }]), device('CN=bystander')]);
    assert.deepEqual(fileUsers(r), ['CN=bystander', `urn:uuid:${A1}`]);
    assert.equal(r.server.connect('CN=a'), 'Authorization Violation', 'no subject user: a certificate of that subject without the URN finds no user');
    r.server.connect(`urn:uuid:${A1}`);
    r.server.connect('CN=bystander');
    assert.deepEqual([...(await adapter.listSessions())].sort(), ['CN=a', 'CN=bystander'], 'sessions are reported by identity');
    // The event's view of a certificate does not know its SANs: the URN is removed all the same.
    await adapter.shutOut([deviceWith('CN=a', [{ id: A1, state: 'suspended' }])]);
    assert.deepEqual(fileUsers(r), ['CN=bystander']);
    assert.equal(r.server.connected(`urn:uuid:${A1}`), false);
    assert.equal(r.server.connected('CN=bystander'), true);
  });

  test('an identity let in is the URNs of its certificates in force, and its subject only for one without a URN', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([deviceWith('CN=a', [{ id: A1, state: 'active', carriesUrn: false }, { id: A2, state: 'active', carriesUrn: true }, { id: A3, state: 'revoked', carriesUrn: true }])]);
    assert.deepEqual(fileUsers(r), ['CN=a', `urn:uuid:${A2}`]);
    // The certificate without a URN expires: the subject goes, and the revoked certificate A3 can no longer come in by subject either.
    await adapter.letBackIn([deviceWith('CN=a', [{ id: A1, state: 'revoked', carriesUrn: false }, { id: A2, state: 'active', carriesUrn: true }, { id: A3, state: 'revoked', carriesUrn: true }])]);
    assert.deepEqual(fileUsers(r), [`urn:uuid:${A2}`]);
    await adapter.endForGood([deviceWith('CN=a', [{ id: A1, state: 'revoked' }, { id: A2, state: 'revoked' }, { id: A3, state: 'revoked' }])]);
    assert.deepEqual(fileUsers(r), []);
  });

  test('a certificate whose SANs are not known, or that has no URN, keeps the subject; a DNS name beside the URN changes nothing', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([
      deviceWith('CN=a', [{ id: A1, state: 'active' }]),
      deviceWith('CN=b', [{ id: A2, state: 'active', carriesUrn: false, dns: ['b.example'] }]),
      deviceWith('CN=c', [{ id: A3, state: 'active', carriesUrn: true, dns: ['c.example'] }]),
    ]);
    assert.deepEqual(fileUsers(r), ['CN=a', 'CN=b', `urn:uuid:${A3}`]);
  });

  test('asking again for what is so writes nothing; identityOf falls back to the URN for a subject NATS cannot map', async () => {
    const r = rig();
    const adapter = await started(r);
    const a = deviceWith('CN=a', [{ id: A1, state: 'active', carriesUrn: true }]);
    await adapter.letBackIn([a]);
    const before = { ...adapter.counts };
    await adapter.letBackIn([a]);
    await adapter.shutOut([deviceWith('CN=gone', [{ id: A3, state: 'suspended' }])]);
    assert.deepEqual(adapter.counts, before);
    const [certificate] = deviceWith('UID=only', [{ id: A2, state: 'active', carriesUrn: true }]).certificates;
    assert.equal(adapter.identityOf({ ...certificate!, subject: 'UID=only' }), `urn:uuid:${A2}`);
    assert.equal(adapter.identityOf({ ...certificate!, subject: 'UID=only', subjectAltNames: {} }), null);
  });
});

describe('NatsAdapter: restarts', () => {
  test('a restarted agent that finds the file in force writes nothing and reloads nothing', async () => {
    const r = rig();
    await (await started(r)).letBackIn([device('CN=a'), device('CN=b')]);
    const [writes, signals] = [r.file.writes.length, r.server.signals];
    const again = await started(r);
    await again.letBackIn([device('CN=a'), device('CN=b')]);
    await again.shutOut([device('CN=c')]);
    assert.equal(r.file.writes.length, writes);
    assert.equal(r.server.signals, signals);
  });

  test('a file written after the server\'s last load (agent killed before the SIGHUP) is reloaded at start, not rewritten', async () => {
    const r = rig();
    r.server.loadNow();
    r.file.content = { text: renderUsersFile(['CN=a'], DEFAULT_DEVICE_PERMISSIONS), modifiedMs: r.server.configLoadTimeMs + 10 };
    const adapter = await started(r);
    assert.equal(adapter.counts.writes, 0);
    assert.equal(adapter.counts.reloads, 1);
    assert.ok(r.server.loadedUsers.has('CN=a'));
  });

  test('changed permissions rewrite the file once at start, for the same users', async () => {
    const r = rig();
    await (await started(r)).letBackIn([device('CN=a')]);
    const adapter = await started(r, { settings: { permissions: { publish: { allow: ['other.>'] } } } });
    assert.deepEqual(adapter.counts, { writes: 1, reloads: 1, kicks: 0 });
    assert.deepEqual(fileUsers(r), ['CN=a']);
    assert.match(r.file.content!.text, /other\.>/);
  });

  test('an operator\'s "users = []" (which admits every certificate) is replaced with the placeholder list at start', async () => {
    const r = rig();
    r.file.content = { text: 'users = []\n', modifiedMs: 0 };
    r.server.loadNow();
    const adapter = await started(r);
    assert.deepEqual(adapter.counts, { writes: 1, reloads: 1, kicks: 0 });
    assert.equal(r.file.content!.text, renderUsersFile([], DEFAULT_DEVICE_PERMISSIONS));
  });

  test('a users file the agent did not write stops start() instead of being replaced', async () => {
    const r = rig();
    r.file.content = { text: 'users = [\n  { user: "svc", password: "secret" }\n]\n', modifiedMs: 0 };
    await assert.rejects(r.adapter().start(), UsersFileError);
    assert.equal(r.file.writes.length, 0);
  });

  test('a shut-out identity still connected long after the last reload makes the adapter reload again', async () => {
    const r = rig();
    // The server runs a configuration that still has CN=a, although the file (written by an agent that died before signalling) does not.
    r.file.content = { text: renderUsersFile(['CN=a'], DEFAULT_DEVICE_PERMISSIONS), modifiedMs: 0 };
    r.server.loadNow();
    r.server.connect('CN=a');
    r.file.content = { text: renderUsersFile([], DEFAULT_DEVICE_PERMISSIONS), modifiedMs: 0 };
    const adapter = await started(r);
    assert.equal(adapter.counts.reloads, 0, 'the file looks loaded (older than the load)');
    await adapter.shutOut([device('CN=a')]);
    assert.equal(adapter.counts.reloads, 1);
    assert.equal(r.server.connected('CN=a'), false);
    assert.ok(r.log.lines.some((line) => line.level === 'warn' && /reloading nats-server/.test(line.message)));
  });
});

describe('NatsAdapter: failures are typed and retried without redoing what was done', () => {
  test('a reload nats-server does not confirm fails with ReloadNotConfirmedError; the retry reloads without rewriting', async () => {
    const r = rig();
    const adapter = await started(r);
    r.server.rejectReloads = true;
    await assert.rejects(adapter.letBackIn([device('CN=a')]), ReloadNotConfirmedError);
    assert.equal(adapter.counts.writes, 1);
    r.server.rejectReloads = false;
    await adapter.letBackIn([device('CN=a')]);
    assert.deepEqual(adapter.counts, { writes: 1, reloads: 2, kicks: 0 });
    assert.ok(r.server.loadedUsers.has('CN=a'));
  });

  test('a failed write is retried by the next call for the same change', async () => {
    const r = rig();
    const adapter = await started(r);
    r.file.failNextWrite = new UsersFileError(r.file.path, 'disk full');
    await assert.rejects(adapter.letBackIn([device('CN=a')]), UsersFileError);
    assert.equal(r.server.signals, 0);
    await adapter.letBackIn([device('CN=a')]);
    assert.deepEqual(fileUsers(r), ['CN=a']);
  });

  test('connections that outlive the reload fail the call with SessionsStillOpenError', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.letBackIn([device('CN=a')]);
    r.server.connect('CN=a');
    r.server.reloadClosesConnections = false;
    await assert.rejects(adapter.shutOut([device('CN=a')]), (error: unknown) => error instanceof SessionsStillOpenError && error.identities[0] === 'CN=a');
  });

  test('check() fails when the server is down', async () => {
    const r = rig();
    const adapter = await started(r);
    await adapter.check();
    r.server.running = false;
    await assert.rejects(adapter.check());
  });
});

describe('NatsAdapter: the kick of nats-server 2.10+', () => {
  test('connections the reload left open are kicked by id where the server has the kick', async () => {
    const r = rig();
    r.server.version = '2.10.22';
    const adapter = await started(r, { kick: true });
    await adapter.letBackIn([device('CN=a'), device('CN=b')]);
    const cid = r.server.connect('CN=a') as number;
    const bystander = r.server.connect('CN=b') as number;
    r.server.reloadClosesConnections = false;
    await adapter.shutOut([device('CN=a')]);
    assert.deepEqual(r.kicker.kicked, [cid]);
    assert.equal(adapter.counts.kicks, 1);
    assert.ok(r.server.connections.has(bystander));
    await adapter.close();
    assert.equal(r.kicker.closed, true);
  });

  test('on 2.9 the kicker is never asked: the reload alone closes the connections', async () => {
    const r = rig();
    const adapter = await started(r, { kick: true });
    await adapter.letBackIn([device('CN=a')]);
    r.server.connect('CN=a');
    await adapter.shutOut([device('CN=a')]);
    assert.deepEqual(r.kicker.kicked, []);
    assert.equal(r.server.connected('CN=a'), false);
  });

  test('a server that says it has no kick (no responders) is left to the reload', async () => {
    const r = rig();
    r.server.version = '2.10.0';
    r.kicker.supported = false;
    const adapter = await started(r, { kick: true });
    await adapter.letBackIn([device('CN=a')]);
    const cid = r.server.connect('CN=a') as number;
    // This server closes the connection a little after confirming the reload, so the adapter finds it open and tries the kick.
    r.server.reloadClosesConnections = false;
    const closing = setTimeout(() => r.server.connections.delete(cid), 60);
    await adapter.shutOut([device('CN=a')]);
    clearTimeout(closing);
    assert.equal(r.server.connected('CN=a'), false);
    assert.equal(adapter.counts.kicks, 0);
    assert.equal(r.log.lines.filter((line) => /has no kick request/.test(line.message)).length, 1, 'asked once, then left alone');
  });
});
