/**
 * Fakes behind MosquittoAdapter's ports, for the unit tests: ccm's CRLs in
 * memory, a crlfile and a broker that record every side effect in one
 * ordered list of steps (the order is what most rules are about), a clock
 * driven by hand, and builders for the core's Device records.
 */
import { randomUUID } from 'node:crypto';
import type { CertificateState, CertificateStatus, Device } from '@ccm/broker-agent';
import { RecordingAgentLog } from '@ccm/broker-agent/testing';
import { tenantCrlOf, type TenantCrl } from '../src/crl.js';
import { MosquittoAdapter, type MosquittoAdapterSettings } from '../src/mosquitto-adapter.js';
import { AdapterClock, BrokerControl, BrokerReloader, CrlFile, CrlSource, type ReloadRecord } from '../src/ports.js';

export const NOW = new Date('2026-03-01T12:00:00Z');
export const HOUR = 3600_000;

export class ManualClock extends AdapterClock {
  current = NOW.getTime();
  readonly timers: Array<{ at: number; callback: () => void; cancelled: boolean }> = [];
  readonly sleeps: number[] = [];
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
  /** Moves time on and runs what fell due, in time order. */
  async advance(ms: number): Promise<void> {
    this.current += ms;
    for (const timer of this.timers.filter((t) => !t.cancelled && t.at <= this.current).sort((a, b) => a.at - b.at)) {
      timer.cancelled = true;
      timer.callback();
    }
    await settle();
  }
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}

/** Lets every promise chain that can move on do so. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

export class FakeCrls extends CrlSource {
  readonly current = new Map<string, TenantCrl>();
  /** CRLs to hand out before `current`, one per read (a CRL that lags behind). */
  readonly queued = new Map<string, TenantCrl[]>();
  readonly failing = new Set<string>();
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

/** Each tenant's root CA id, as ccm names it beside the tenant's CRL (the Rig's tenants register theirs). */
export const ROOTS = new Map<string, string>();

/** Everything the crlfile, the reloader and the broker were made to do, in order. */
export class Recorder {
  readonly steps: string[] = [];
  /** null: no Mosquitto running. */
  brokerPid: number | null = 4242;
  /** Failures of the next dynsec commands. */
  brokerFails = 0;
  /** What the broker's settled() waits for: a reload still running. */
  settling: Promise<void> = Promise.resolve();
}

export class FakeCrlFile extends CrlFile {
  content: string | null = null;
  note: ReloadRecord | null = null;
  readonly writes: string[] = [];
  constructor(private readonly recorder: Recorder) {
    super();
  }
  async install(pemBundle: string): Promise<void> {
    this.content = pemBundle;
    this.writes.push(pemBundle);
    this.recorder.steps.push('write');
  }
  async read(): Promise<string | null> {
    return this.content;
  }
  async lastReload(): Promise<ReloadRecord | null> {
    return this.note;
  }
  async recordReload(record: ReloadRecord): Promise<void> {
    this.note = record;
  }
}

export class FakeReloader extends BrokerReloader {
  constructor(private readonly recorder: Recorder) {
    super();
  }
  async runningPid(): Promise<number | null> {
    return this.recorder.brokerPid;
  }
  async reload(): Promise<number | null> {
    this.recorder.steps.push('reload');
    return this.recorder.brokerPid;
  }
}

/** The dynamic-security plugin: which clients it holds disabled, and every command that changed or kicked one. */
export class FakeControl extends BrokerControl {
  readonly disabled = new Set<string>();
  connected = true;
  closed = false;
  listings = 0;
  constructor(private readonly recorder: Recorder) {
    super();
  }
  async disableClients(usernames: readonly string[]): Promise<void> {
    if (this.recorder.brokerFails > 0) {
      this.recorder.brokerFails -= 1;
      throw new Error('no answer from the dynamic-security plugin');
    }
    for (const username of usernames) this.disabled.add(username);
    this.recorder.steps.push(`kick ${[...usernames].sort().join(',')}`);
  }
  async releaseClients(usernames: readonly string[]): Promise<void> {
    for (const username of usernames) this.disabled.delete(username);
    this.recorder.steps.push(`release ${[...usernames].sort().join(',')}`);
  }
  async disabledClients(): Promise<ReadonlySet<string>> {
    this.listings++;
    return new Set(this.disabled);
  }
  async roundTrip(): Promise<void> {
    if (!this.connected) throw new Error('the admin connection to Mosquitto is down');
    this.recorder.steps.push('round trip');
  }
  async settled(): Promise<void> {
    await this.recorder.settling;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

let crlCounter = 0;
/** A parsed CRL as CrlSource hands it out; its PEM names its number and serials, so a bundle shows what it holds. */
export function crl(tenantId: string, serials: readonly string[] = [], options: { thisUpdate?: Date; nextUpdate?: Date; number?: number; authorityId?: string } = {}): TenantCrl {
  const number = options.number ?? ++crlCounter;
  const thisUpdate = options.thisUpdate ?? new Date(NOW.getTime() - 1000 + number);
  const authorityId = options.authorityId ?? ROOTS.get(tenantId) ?? `root-of-${tenantId}`;
  return tenantCrlOf(tenantId, [
    {
      authorityId,
      pem: `-----CRL ${tenantId.slice(0, 4)}${options.authorityId ? `/${authorityId.slice(0, 4)}` : ''} #${number} [${[...serials].sort().join(' ')}]-----\n`,
      issuer: `CN=${tenantId}`,
      thisUpdate,
      nextUpdate: options.nextUpdate ?? new Date(thisUpdate.getTime() + 24 * HOUR),
      crlNumber: BigInt(number),
      revokedSerials: new Set(serials),
    },
  ]);
}

let serialCounter = 0x1000;
export function certificate(tenantId: string, authorityId: string, commonName: string, state: CertificateState = 'active', overrides: Partial<CertificateStatus> = {}): CertificateStatus {
  return {
    id: randomUUID(),
    tenantId,
    authorityId,
    serialNumber: (serialCounter++).toString(16),
    subject: commonName === '' ? 'O=Acme' : `CN=${commonName},O=Acme`,
    commonName,
    state,
    notAfter: new Date(NOW.getTime() + 30 * 24 * HOUR),
    ...overrides,
  };
}

/** The core's record of one identity: the given certificates, all with the same CN. */
export function device(...certificates: CertificateStatus[]): Device {
  return { identity: certificates[0]!.commonName, certificates };
}

export function withState(status: CertificateStatus, state: CertificateState): CertificateStatus {
  return { ...status, state };
}

/** One adapter over a complete set of fakes, shared state exposed for assertions. */
export class Rig {
  readonly tenantA = randomUUID();
  readonly tenantB = randomUUID();
  readonly rootA = randomUUID();
  readonly rootB = randomUUID();
  readonly clock = new ManualClock();
  readonly crls = new FakeCrls();
  readonly recorder = new Recorder();
  readonly crlFile = new FakeCrlFile(this.recorder);
  readonly control = new FakeControl(this.recorder);
  readonly log = new RecordingAgentLog();
  connects = 0;
  connectFails = 0;

  constructor() {
    ROOTS.set(this.tenantA, this.rootA);
    ROOTS.set(this.tenantB, this.rootB);
    this.crls.current.set(this.tenantA, crl(this.tenantA));
    this.crls.current.set(this.tenantB, crl(this.tenantB));
  }

  get steps(): string[] {
    return this.recorder.steps;
  }

  adapter(settings: Partial<MosquittoAdapterSettings> = {}): MosquittoAdapter {
    return new MosquittoAdapter(
      {
        crls: this.crls,
        crlFile: this.crlFile,
        reloader: new FakeReloader(this.recorder),
        connectControl: async () => {
          this.connects++;
          if (this.connectFails > 0) {
            this.connectFails--;
            throw new Error('connect ECONNREFUSED 127.0.0.1:1883');
          }
          this.control.closed = false;
          return this.control;
        },
        clock: this.clock,
        log: this.log,
      },
      { tenantIds: [this.tenantA, this.tenantB], rekickDelaysMs: [250, 1000], crlMinimumValidityMs: 10 * 60_000, crlRefreshMs: HOUR, crlReadsPerCall: 3, crlReadDelayMs: 100, ...settings },
    );
  }

  /** An adapter that has started; the steps of its start are cleared. */
  async started(settings: Partial<MosquittoAdapterSettings> = {}): Promise<MosquittoAdapter> {
    const adapter = this.adapter(settings);
    await adapter.start();
    this.recorder.steps.length = 0;
    this.crls.reads = 0;
    return adapter;
  }

  /** Sets tenant A's CRL in ccm to list these serials (a new CRL number). */
  listInA(...serials: string[]): TenantCrl {
    const next = crl(this.tenantA, serials);
    this.crls.current.set(this.tenantA, next);
    return next;
  }
}
