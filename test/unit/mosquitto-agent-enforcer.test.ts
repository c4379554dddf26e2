/**
 * The Mosquitto agent's decision logic (RevocationEnforcer) with fakes behind
 * every port: what is installed, reloaded and kicked, in which order, for
 * each event, including retried and out-of-order deliveries, a CRL that lags
 * the certificate's state, and CRLs that must never be installed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { beforeEach, describe, test } from 'node:test';
import type { CcmEvent } from '../../src/events/certificate-event.js';
import type { TenantCrl } from '../../src/mosquitto-agent/crl.js';
import { AgentClock, AgentLog, BrokerControl, BrokerReloader, CertificateDirectory, CrlFile, CrlSource, type CertificateStatus } from '../../src/mosquitto-agent/ports.js';
import { CrlBehindStateError, RevocationEnforcer, type EnforcerSettings } from '../../src/mosquitto-agent/revocation-enforcer.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const HOUR = 3600_000;

/** Every side effect, in order, as one list: the order is what the rules are about. */
type Step = string;

class ManualClock extends AgentClock {
  current = NOW.getTime();
  readonly timers: Array<{ at: number; callback: () => void; cancelled: boolean }> = [];
  sleeps: number[] = [];
  now(): Date {
    return new Date(this.current);
  }
  schedule(ms: number, callback: () => void): () => void {
    const timer = { at: this.current + ms, callback, cancelled: false };
    this.timers.push(timer);
    return () => (timer.cancelled = true);
  }
  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
  }
  /** Moves time on and runs what fell due. */
  async advance(ms: number): Promise<void> {
    this.current += ms;
    for (const timer of this.timers.filter((t) => !t.cancelled && t.at <= this.current).sort((a, b) => a.at - b.at)) {
      timer.cancelled = true;
      timer.callback();
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}

class FakeCrls extends CrlSource {
  readonly current = new Map<string, TenantCrl>();
  /** CRLs to hand out before `current`, one per read (a CRL that lags behind). */
  readonly queued = new Map<string, TenantCrl[]>();
  failing = new Set<string>();
  reads = 0;
  /** While set, answers wait for it (a slow ccm); what they answer is decided when asked. */
  hold: Promise<void> | null = null;
  async currentCrl(tenantId: string): Promise<TenantCrl> {
    this.reads += 1;
    if (this.failing.has(tenantId)) throw new Error(`ccm unreachable for ${tenantId}`);
    const next = this.queued.get(tenantId)?.shift();
    const crl = next ?? this.current.get(tenantId);
    if (!crl) throw new Error(`no CRL for ${tenantId}`);
    if (this.hold) await this.hold;
    return crl;
  }
}

class FakeDirectory extends CertificateDirectory {
  readonly certificates = new Map<string, CertificateStatus>();
  roots = new Map<string, string>();
  async certificate(tenantId: string, certificateId: string): Promise<CertificateStatus | null> {
    const found = this.certificates.get(certificateId);
    return found && found.tenantId === tenantId ? found : null;
  }
  async revokedCertificatesOf(tenantId: string, authorityId: string): Promise<CertificateStatus[]> {
    return [...this.certificates.values()].filter((c) => c.tenantId === tenantId && c.authorityId === authorityId && c.state === 'revoked');
  }
  async tenantRootAuthorityId(tenantId: string): Promise<string> {
    return this.roots.get(tenantId)!;
  }
}

class Recorder {
  readonly steps: Step[] = [];
  readonly files: string[] = [];
  brokerRunning = true;
  brokerFails = 0;
  /** What the broker's settled() waits for: a reload still running. */
  settling: Promise<void> = Promise.resolve();
}

class FakeCrlFile extends CrlFile {
  constructor(private readonly recorder: Recorder) {
    super();
  }
  async install(pemBundle: string): Promise<void> {
    this.recorder.files.push(pemBundle);
    this.recorder.steps.push('write');
  }
}

class FakeReloader extends BrokerReloader {
  constructor(private readonly recorder: Recorder) {
    super();
  }
  async reload(): Promise<boolean> {
    this.recorder.steps.push('reload');
    return this.recorder.brokerRunning;
  }
}

class FakeBroker extends BrokerControl {
  constructor(private readonly recorder: Recorder) {
    super();
  }
  async disableClients(usernames: readonly string[]): Promise<void> {
    if (this.recorder.brokerFails > 0) {
      this.recorder.brokerFails -= 1;
      throw new Error('no answer from the dynamic-security plugin');
    }
    this.recorder.steps.push(`kick ${usernames.join(',')}`);
  }
  async enableClients(usernames: readonly string[]): Promise<void> {
    this.recorder.steps.push(`enable ${usernames.join(',')}`);
  }
  async settled(): Promise<void> {
    await this.recorder.settling;
  }
}

class MemoryLog extends AgentLog {
  readonly lines: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  error(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'error', message, fields });
  }
  warn(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  info(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'info', message, fields });
  }
  debug(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'debug', message, fields });
  }
}

let crlCounter = 0;
function crl(tenantId: string, serials: readonly string[] = [], options: { thisUpdate?: Date; nextUpdate?: Date; number?: number } = {}): TenantCrl {
  const number = options.number ?? ++crlCounter;
  const thisUpdate = options.thisUpdate ?? new Date(NOW.getTime() - 1000 + number);
  return {
    tenantId,
    pem: `-----CRL ${tenantId.slice(0, 4)} #${number} [${[...serials].sort().join(' ')}]-----\n`,
    issuer: `CN=${tenantId}`,
    thisUpdate,
    nextUpdate: options.nextUpdate ?? new Date(thisUpdate.getTime() + 24 * HOUR),
    crlNumber: BigInt(number),
    revokedSerials: new Set(serials),
  };
}

describe('RevocationEnforcer', () => {
  const tenantA = randomUUID();
  const tenantB = randomUUID();
  const authorityA = randomUUID();
  let clock: ManualClock;
  let crls: FakeCrls;
  let directory: FakeDirectory;
  let recorder: Recorder;
  let log: MemoryLog;
  let enforcer: RevocationEnforcer;
  let device: CertificateStatus;

  function build(settings: Partial<EnforcerSettings> = {}): RevocationEnforcer {
    return new RevocationEnforcer(
      { crls, directory, crlFile: new FakeCrlFile(recorder), reloader: new FakeReloader(recorder), broker: new FakeBroker(recorder), clock, log },
      { tenantIds: [tenantA, tenantB], rekickDelaysMs: [250, 1000], crlMinimumValidityMs: 10 * 60_000, consistencyAttempts: 3, consistencyDelayMs: 100, ...settings },
    );
  }

  function eventFor(certificate: CertificateStatus, type: CcmEvent['type'], overrides: Partial<CcmEvent> = {}): CcmEvent {
    return {
      schemaVersion: 1,
      id: randomUUID(),
      type,
      time: new Date(clock.current - 20).toISOString(),
      tenantId: certificate.tenantId,
      authorityId: certificate.authorityId,
      certificateId: certificate.id,
      serialNumber: certificate.serialNumber,
      fingerprintSha256: 'ab'.repeat(32),
      commonName: certificate.commonName,
      issuer: 'CN=tenant A root',
      reason: type === 'certificate.suspended' ? 'certificateHold' : type === 'certificate.revoked' ? 'keyCompromise' : null,
      state: type === 'certificate.suspended' ? 'suspended' : type === 'certificate.revoked' ? 'revoked' : 'active',
      ...overrides,
    };
  }

  /** Moves the certificate to `state` in ccm, with the CRL to match. */
  function transition(certificate: CertificateStatus, state: CertificateStatus['state']): CertificateStatus {
    const updated = { ...certificate, state };
    directory.certificates.set(certificate.id, updated);
    const listed = [...directory.certificates.values()].filter((c) => c.tenantId === certificate.tenantId && (c.state === 'suspended' || c.state === 'revoked')).map((c) => c.serialNumber);
    crls.current.set(certificate.tenantId, crl(certificate.tenantId, listed));
    return updated;
  }

  beforeEach(async () => {
    clock = new ManualClock();
    crls = new FakeCrls();
    directory = new FakeDirectory();
    directory.roots.set(tenantA, authorityA);
    directory.roots.set(tenantB, randomUUID());
    recorder = new Recorder();
    log = new MemoryLog();
    crls.current.set(tenantA, crl(tenantA));
    crls.current.set(tenantB, crl(tenantB));
    device = { id: randomUUID(), tenantId: tenantA, authorityId: authorityA, serialNumber: '1a2b3c', commonName: 'sensor-0042', state: 'active' };
    directory.certificates.set(device.id, device);
    enforcer = build();
    await enforcer.installAll();
    recorder.steps.length = 0;
    recorder.files.length = 0;
    crls.reads = 0;
  });

  test('start-up installs one bundle holding every tenant\'s CRL, in configured order, and reloads once', async () => {
    const fresh = build();
    await fresh.installAll();
    assert.deepEqual(recorder.steps, ['write', 'reload']);
    assert.equal(recorder.files[0], crls.current.get(tenantA)!.pem + crls.current.get(tenantB)!.pem);
  });

  test('start-up fails, writing nothing, when any tenant\'s CRL cannot be had (a missing CRL locks that tenant out)', async () => {
    crls.failing.add(tenantB);
    const fresh = build();
    await assert.rejects(fresh.installAll(), new RegExp(`${tenantB}: ccm unreachable`));
    assert.deepEqual(recorder.steps, []);
  });

  test('a suspension installs the new CRL, reloads, then kicks the device (username = CN)', async () => {
    const suspended = transition(device, 'suspended');
    assert.equal(await enforcer.handle(eventFor(suspended, 'certificate.suspended')), 'blocked');
    assert.deepEqual(recorder.steps, ['write', 'reload', 'kick sensor-0042']);
    assert.match(recorder.files[0]!, /\[1a2b3c\]/);
    const kicked = log.lines.find((l) => l.message === 'device kicked');
    assert.equal(kicked?.fields['eventLagMs'], 20);
  });

  test('the device is kicked again after each re-kick delay while it stays suspended, then the re-kicks end', async () => {
    await enforcer.handle(eventFor(transition(device, 'suspended'), 'certificate.suspended'));
    recorder.steps.length = 0;
    await clock.advance(249);
    assert.deepEqual(recorder.steps, []);
    await clock.advance(1);
    assert.deepEqual(recorder.steps, ['kick sensor-0042']);
    await clock.advance(750);
    assert.deepEqual(recorder.steps, ['kick sensor-0042', 'kick sensor-0042']);
    await clock.advance(10_000);
    assert.equal(recorder.steps.length, 2);
    assert.equal(clock.pending, 0);
  });

  test('a reactivation installs the CRL, reloads, then enables the client, and cancels pending re-kicks', async () => {
    await enforcer.handle(eventFor(transition(device, 'suspended'), 'certificate.suspended'));
    recorder.steps.length = 0;
    assert.equal(await enforcer.handle(eventFor(transition(device, 'active'), 'certificate.reactivated')), 'unblocked');
    assert.deepEqual(recorder.steps, ['write', 'reload', 'enable sensor-0042']);
    await clock.advance(5000);
    assert.deepEqual(recorder.steps, ['write', 'reload', 'enable sensor-0042'], 'no re-kick after the reactivation');
  });

  test('a suspension retried after the reactivation that followed it leaves the device in (current state wins over the event)', async () => {
    const suspendedEvent = eventFor(transition(device, 'suspended'), 'certificate.suspended');
    // The first delivery failed; the reactivation went through meanwhile.
    await enforcer.handle(eventFor(transition(device, 'active'), 'certificate.reactivated'));
    recorder.steps.length = 0;
    assert.equal(await enforcer.handle(suspendedEvent), 'unblocked');
    assert.ok(!recorder.steps.some((s) => s.startsWith('kick')), recorder.steps.join(' | '));
  });

  test('a reactivation delivered after a later suspension keeps the device out', async () => {
    transition(device, 'suspended');
    const reactivated = eventFor(transition(device, 'active'), 'certificate.reactivated');
    const suspendedAgain = transition(device, 'suspended');
    await enforcer.handle(eventFor(suspendedAgain, 'certificate.suspended'));
    recorder.steps.length = 0;
    assert.equal(await enforcer.handle(reactivated), 'blocked');
    assert.deepEqual(recorder.steps, ['kick sensor-0042']);
  });

  test('a CRL that lags the certificate\'s state is read again until it agrees', async () => {
    const suspended = transition(device, 'suspended');
    crls.queued.set(tenantA, [crl(tenantA, [], { number: 1_000 }), crl(tenantA, [], { number: 1_001 })]);
    crls.current.set(tenantA, crl(tenantA, ['1a2b3c'], { number: 1_002 }));
    assert.equal(await enforcer.handle(eventFor(suspended, 'certificate.suspended')), 'blocked');
    assert.deepEqual(clock.sleeps, [100], 'fast read, then a state+CRL read at once, then one more after a pause');
    assert.deepEqual(recorder.steps, ['write', 'reload', 'kick sensor-0042']);
    assert.match(recorder.files[0]!, /#1002/);
  });

  test('when the CRL already says what the event says, the certificate is not looked up', async () => {
    let lookups = 0;
    const original = directory.certificate.bind(directory);
    directory.certificate = async (tenantId, certificateId) => {
      lookups += 1;
      return original(tenantId, certificateId);
    };
    await enforcer.handle(eventFor(transition(device, 'suspended'), 'certificate.suspended'));
    assert.equal(lookups, 0);
    assert.deepEqual(recorder.steps, ['write', 'reload', 'kick sensor-0042']);
  });

  test('events handled together share CRL fetches and coalesce into one crlfile write', async () => {
    const fleet = Array.from({ length: 8 }, (_, i): CertificateStatus => ({ ...device, id: randomUUID(), serialNumber: `f${i}`, commonName: `sensor-1${i}` }));
    for (const certificate of fleet) directory.certificates.set(certificate.id, certificate);
    const events = fleet.map((certificate) => eventFor(transition(certificate, 'suspended'), 'certificate.suspended'));
    crls.reads = 0;
    const outcomes = await Promise.all(events.map((event) => enforcer.handle(event)));
    assert.deepEqual(new Set(outcomes), new Set(['blocked']));
    assert.equal(crls.reads, 1, 'the first event\'s request, which the seven that came while it ran find their certificates in');
    assert.equal(recorder.steps.filter((s) => s === 'write').length, 1);
    assert.equal(recorder.steps.filter((s) => s.startsWith('kick')).length, 8);
  });

  test('an event the CRL request in flight predates waits for a request that starts after it', async () => {
    const [first, second] = [0, 1].map((i): CertificateStatus => ({ ...device, id: randomUUID(), serialNumber: `e${i}`, commonName: `sensor-2${i}` }));
    for (const certificate of [first!, second!]) directory.certificates.set(certificate.id, certificate);
    let release!: () => void;
    crls.hold = new Promise((resolve) => (release = resolve));
    crls.reads = 0;
    const handledFirst = enforcer.handle(eventFor(transition(first!, 'suspended'), 'certificate.suspended'));
    while (crls.reads === 0) await new Promise((resolve) => setImmediate(resolve));
    const handledSecond = enforcer.handle(eventFor(transition(second!, 'suspended'), 'certificate.suspended'));
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    crls.hold = null;
    release();
    assert.deepEqual(await Promise.all([handledFirst, handledSecond]), ['blocked', 'blocked']);
    assert.equal(crls.reads, 2);
    assert.match(recorder.files.at(-1)!, /\[e0 e1\]/, 'the installed CRL lists both');
    assert.ok(recorder.steps.lastIndexOf('kick sensor-21') > recorder.steps.lastIndexOf('write'), 'the second device is kicked only after a CRL listing it is written');
  });

  test('a reload is signalled only once the broker is done with the previous one (Mosquitto drops a SIGHUP during a reload)', async () => {
    let finish!: () => void;
    recorder.settling = new Promise((resolve) => (finish = resolve));
    const [first, second] = [0, 1].map((i): CertificateStatus => ({ ...device, id: randomUUID(), serialNumber: `c${i}`, commonName: `sensor-4${i}` }));
    for (const certificate of [first!, second!]) directory.certificates.set(certificate.id, certificate);
    assert.equal(await enforcer.handle(eventFor(transition(first!, 'suspended'), 'certificate.suspended')), 'blocked');
    assert.deepEqual(recorder.steps, ['write', 'reload', 'kick sensor-40']);
    const handled = enforcer.handle(eventFor(transition(second!, 'suspended'), 'certificate.suspended'));
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(recorder.steps, ['write', 'reload', 'kick sensor-40', 'write'], 'written, but not signalled while the first reload runs');
    finish();
    assert.equal(await handled, 'blocked');
    assert.deepEqual(recorder.steps, ['write', 'reload', 'kick sensor-40', 'write', 'reload', 'kick sensor-41']);
  });

  test('a broker that never says it is done holds the next reload back 1 s at most', async () => {
    recorder.settling = new Promise(() => undefined);
    const [first, second] = [0, 1].map((i): CertificateStatus => ({ ...device, id: randomUUID(), serialNumber: `b${i}`, commonName: `sensor-5${i}` }));
    for (const certificate of [first!, second!]) directory.certificates.set(certificate.id, certificate);
    await enforcer.handle(eventFor(transition(first!, 'suspended'), 'certificate.suspended'));
    const handled = enforcer.handle(eventFor(transition(second!, 'suspended'), 'certificate.suspended'));
    while (recorder.steps.filter((step) => step === 'write').length < 2) await new Promise((resolve) => setImmediate(resolve));
    await clock.advance(999);
    assert.equal(recorder.steps.filter((step) => step === 'reload').length, 1);
    await clock.advance(1);
    assert.equal(await handled, 'blocked');
    assert.equal(recorder.steps.filter((step) => step === 'reload').length, 2);
  });

  test('an unblock never acts on the CRL request in flight: it may predate a suspension still to be handled', async () => {
    const [other, returning] = [0, 1].map((i): CertificateStatus => ({ ...device, id: randomUUID(), serialNumber: `d${i}`, commonName: `sensor-3${i}` }));
    for (const certificate of [other!, returning!]) directory.certificates.set(certificate.id, certificate);
    let release!: () => void;
    crls.hold = new Promise((resolve) => (release = resolve));
    crls.reads = 0;
    const handledOther = enforcer.handle(eventFor(transition(other!, 'suspended'), 'certificate.suspended'));
    while (crls.reads === 0) await new Promise((resolve) => setImmediate(resolve));
    // The request in flight does not list `returning`; by now it has been suspended again after the reactivation
    // whose (late) event comes first.
    const stale = eventFor({ ...returning!, state: 'active' }, 'certificate.reactivated');
    transition(returning!, 'suspended');
    const handledStale = enforcer.handle(stale);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    crls.hold = null;
    release();
    assert.deepEqual(await Promise.all([handledOther, handledStale]), ['blocked', 'blocked']);
    assert.ok(!recorder.steps.some((step) => step.startsWith('enable')), 'never let in');
  });

  test('a CRL that never catches up: the device is kicked anyway and the event fails, to be retried', async () => {
    const suspended = transition(device, 'suspended');
    crls.current.set(tenantA, crl(tenantA, []));
    await assert.rejects(enforcer.handle(eventFor(suspended, 'certificate.suspended')), CrlBehindStateError);
    assert.deepEqual(recorder.steps, ['kick sensor-0042'], 'nothing installed that contradicts the state');
  });

  test('a reactivation whose CRL still lists the device is not enabled yet; the event fails, to be retried', async () => {
    await enforcer.handle(eventFor(transition(device, 'suspended'), 'certificate.suspended'));
    recorder.steps.length = 0;
    const stale = crls.current.get(tenantA)!;
    const active = transition(device, 'active');
    crls.current.set(tenantA, stale);
    await assert.rejects(enforcer.handle(eventFor(active, 'certificate.reactivated')), CrlBehindStateError);
    assert.deepEqual(recorder.steps, []);
  });

  test('the same CRL again is neither rewritten nor reloaded, but the device is still kicked', async () => {
    const suspended = transition(device, 'suspended');
    const event = eventFor(suspended, 'certificate.suspended');
    await enforcer.handle(event);
    recorder.steps.length = 0;
    await enforcer.handle(event);
    assert.deepEqual(recorder.steps, ['kick sensor-0042']);
  });

  test('a revocation kicks like a suspension', async () => {
    assert.equal(await enforcer.handle(eventFor(transition(device, 'revoked'), 'certificate.revoked')), 'blocked');
    assert.deepEqual(recorder.steps, ['write', 'reload', 'kick sensor-0042']);
  });

  test('a certificate ccm does not know: a suspension event still kicks the device it names', async () => {
    const ghost: CertificateStatus = { ...device, id: randomUUID(), serialNumber: '77', commonName: 'ghost' };
    crls.current.set(tenantA, crl(tenantA, ['77']));
    assert.equal(await enforcer.handle(eventFor(ghost, 'certificate.suspended')), 'blocked');
    assert.deepEqual(recorder.steps, ['write', 'reload', 'kick ghost']);
  });

  test('events of tenants this broker does not serve, and activations, change nothing', async () => {
    const foreign = { ...device, tenantId: randomUUID() };
    assert.equal(await enforcer.handle(eventFor(foreign, 'certificate.suspended')), 'ignored');
    assert.equal(await enforcer.handle(eventFor(device, 'certificate.activated')), 'ignored');
    assert.deepEqual(recorder.steps, []);
    assert.equal(crls.reads, 0);
  });

  test('a CRL about to pass its nextUpdate is never installed (an expired CRL locks every device out)', async () => {
    const suspended = { ...device, state: 'suspended' as const };
    directory.certificates.set(device.id, suspended);
    crls.current.set(tenantA, crl(tenantA, ['1a2b3c'], { thisUpdate: new Date(NOW.getTime() - 24 * HOUR), nextUpdate: new Date(NOW.getTime() + 60_000) }));
    await assert.rejects(enforcer.handle(eventFor(suspended, 'certificate.suspended')), /too close/);
    assert.ok(!recorder.steps.includes('write'));
  });

  test('a CRL older than the installed one is ignored: a lagging replica cannot undo a suspension', async () => {
    await enforcer.handle(eventFor(transition(device, 'suspended'), 'certificate.suspended'));
    const installed = recorder.files.at(-1);
    recorder.steps.length = 0;
    crls.current.set(tenantA, crl(tenantA, [], { number: 1 }));
    await enforcer.refresh();
    assert.deepEqual(recorder.steps, []);
    assert.ok(log.lines.some((l) => l.message === 'ignoring a CRL older than the installed one'));
    assert.equal(enforcer.installedCrls.get(tenantA)!.pem, installed!.split('\n')[0] + '\n');
  });

  test('refresh installs what changed; a tenant whose CRL cannot be fetched keeps its installed CRL, with an error once it nears expiry', async () => {
    crls.current.set(tenantB, crl(tenantB, ['99']));
    await enforcer.refresh();
    assert.deepEqual(recorder.steps, ['write', 'reload']);
    assert.match(recorder.files[0]!, /\[99\]/);

    recorder.steps.length = 0;
    crls.failing.add(tenantA);
    await enforcer.refresh();
    assert.deepEqual(recorder.steps, [], 'nothing changed for B, A kept');
    assert.equal(log.lines.at(-1)?.level, 'warn');

    clock.current += 23.7 * HOUR;
    await enforcer.refresh();
    assert.ok(log.lines.some((l) => l.level === 'error' && /expires soon/.test(l.message)));
  });

  test('authority.revoked: once the CRL lists every certificate of the CA, it is installed and each device is kicked in one batch', async () => {
    const other: CertificateStatus = { ...device, id: randomUUID(), serialNumber: '2b', commonName: 'sensor-0043' };
    const strangerCa: CertificateStatus = { ...device, id: randomUUID(), authorityId: randomUUID(), serialNumber: '3c', commonName: 'elsewhere' };
    directory.certificates.set(other.id, other);
    directory.certificates.set(strangerCa.id, strangerCa);
    for (const c of [device, other]) directory.certificates.set(c.id, { ...c, state: 'revoked' });
    crls.queued.set(tenantA, [crl(tenantA, ['1a2b3c'])]);
    crls.current.set(tenantA, crl(tenantA, ['1a2b3c', '2b']));
    const event = eventFor(device, 'authority.revoked', { certificateId: null, reason: 'cACompromise', state: 'revoked', revokedCertificates: 2 });
    assert.equal(await enforcer.handle(event), 'blocked');
    assert.deepEqual(recorder.steps, ['write', 'reload', 'kick sensor-0042,sensor-0043']);
  });

  describe('certificates of a tenant-held CA (uploaded or delegated), which no CRL of ccm lists', () => {
    let bound: CertificateStatus;
    const externalCa = randomUUID();

    beforeEach(() => {
      bound = { id: randomUUID(), tenantId: tenantA, authorityId: externalCa, serialNumber: '77', commonName: 'byo-sensor', state: 'active' };
      directory.certificates.set(bound.id, bound);
    });

    test('a suspension kicks the device at once and waits for no CRL', async () => {
      const suspended = { ...bound, state: 'suspended' as const };
      directory.certificates.set(bound.id, suspended);
      const readsBefore = crls.reads;
      assert.equal(await enforcer.handle(eventFor(suspended, 'certificate.suspended')), 'blocked');
      assert.deepEqual(recorder.steps, ['kick byo-sensor']);
      assert.equal(crls.reads, readsBefore, 'no CRL was fetched for it');
    });

    test('a reactivation lets the device back in when ccm says it is active, and a stale one does not', async () => {
      directory.certificates.set(bound.id, { ...bound, state: 'suspended' });
      assert.equal(await enforcer.handle(eventFor(bound, 'certificate.reactivated')), 'blocked', 'ccm says suspended: the late reactivation changes nothing');
      directory.certificates.set(bound.id, bound);
      assert.equal(await enforcer.handle(eventFor(bound, 'certificate.reactivated')), 'unblocked');
      assert.deepEqual(recorder.steps, ['kick byo-sensor', 'enable byo-sensor']);
    });

    test('removing the CA kicks every device bound under it, in one batch', async () => {
      const second: CertificateStatus = { ...bound, id: randomUUID(), serialNumber: '78', commonName: 'byo-sensor-2' };
      for (const c of [bound, second]) directory.certificates.set(c.id, { ...c, state: 'revoked' });
      const event = eventFor(bound, 'authority.revoked', { certificateId: null, reason: 'cessationOfOperation', state: 'revoked', revokedCertificates: 2 });
      assert.equal(await enforcer.handle(event), 'blocked');
      assert.deepEqual(recorder.steps, ['kick byo-sensor,byo-sensor-2']);
    });
  });

  test('a kick that fails fails the event (BullMQ retries it)', async () => {
    recorder.brokerFails = 1;
    await assert.rejects(enforcer.handle(eventFor(transition(device, 'suspended'), 'certificate.suspended')), /dynamic-security/);
    assert.deepEqual(recorder.steps, ['write', 'reload']);
  });

  test('with no Mosquitto running the file is still written, and the log says it will be read at start', async () => {
    recorder.brokerRunning = false;
    crls.current.set(tenantB, crl(tenantB, ['5']));
    await enforcer.refresh();
    assert.deepEqual(recorder.steps, ['write', 'reload']);
    assert.ok(log.lines.some((l) => l.level === 'warn' && /no running Mosquitto/.test(l.message)));
  });

  test('close cancels pending re-kicks', async () => {
    await enforcer.handle(eventFor(transition(device, 'suspended'), 'certificate.suspended'));
    recorder.steps.length = 0;
    enforcer.close();
    await clock.advance(5000);
    assert.deepEqual(recorder.steps, []);
  });

  test('installs never interleave: concurrent events and a refresh write whole bundles one after another', async () => {
    const second: CertificateStatus = { ...device, id: randomUUID(), serialNumber: '4d', commonName: 'sensor-0044' };
    directory.certificates.set(second.id, second);
    const a = transition(device, 'suspended');
    const b = transition(second, 'suspended');
    await Promise.all([enforcer.handle(eventFor(a, 'certificate.suspended')), enforcer.handle(eventFor(b, 'certificate.suspended')), enforcer.refresh()]);
    const writes = recorder.steps.filter((s) => s === 'write').length;
    assert.equal(recorder.steps.filter((s) => s === 'reload').length, writes);
    assert.match(recorder.files.at(-1)!, /\[1a2b3c 4d\]/);
  });
});
