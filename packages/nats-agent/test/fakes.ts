/**
 * In-memory stand-ins for what the NATS adapter talks to: the users file,
 * and a nats-server that reloads that file when signalled (after a delay
 * the test sets), drops the connections of users it no longer has, and
 * moves config_load_time as the real one does. Nothing runs or listens.
 */
import type { CertificateStatus, Device } from '@ccm/broker-agent';
import { parseUsersFile, ServerMonitor, ReloadSignaller, SessionKicker, UsersFileStore, type ClientConnection, type KickOutcome, type ServerVariables, type StoredUsersFile } from '../src/index.js';

let lastMs = 0;
/** Date.now(), strictly increasing: file times and load times of the fakes never tie. */
export function monotonicMs(): number {
  lastMs = Math.max(Date.now(), lastMs + 0.001);
  return lastMs;
}

export class MemoryUsersFile extends UsersFileStore {
  readonly path = '/fake/nats-users.conf';
  content: StoredUsersFile | null = null;
  writes: string[] = [];
  failNextWrite: Error | null = null;

  async read(): Promise<StoredUsersFile | null> {
    return this.content;
  }

  async write(text: string): Promise<void> {
    if (this.failNextWrite) {
      const error = this.failNextWrite;
      this.failNextWrite = null;
      throw error;
    }
    this.writes.push(text);
    this.content = { text, modifiedMs: monotonicMs() };
  }
}

export class FakeNatsServer {
  version = '2.9.10';
  readonly serverId = 'NFAKESERVER';
  /** ms from the signal until the new configuration is in force. */
  reloadDelayMs = 1;
  /** When false, a reload leaves connections of removed users open (as if the server did not close them). */
  reloadClosesConnections = true;
  /** When set, reloads fail like a configuration error: nothing changes, config_load_time stays. */
  rejectReloads = false;
  running = true;
  signals = 0;
  /** ms a /connz read takes (with 1,000 sessions a real one costs the server 50 ms and more). */
  connectionsReadMs = 0;
  /** Reloads signalled and not applied yet, and the /connz reads that overlapped one. */
  reloading = 0;
  connectionReadsDuringReload = 0;
  loadedUsers = new Set<string>();
  configLoadTimeMs = monotonicMs();
  private nextCid = 1;
  readonly connections = new Map<number, string>();

  constructor(private readonly file: MemoryUsersFile) {}

  /** Loads the file now, as at server start. */
  loadNow(): void {
    this.loadedUsers = new Set(this.file.content ? parseUsersFile(this.file.content.text, this.file.path) : []);
    this.configLoadTimeMs = monotonicMs();
  }

  /** A device connecting: refused unless its user is loaded. */
  connect(user: string): number | 'Authorization Violation' {
    if (!this.loadedUsers.has(user)) return 'Authorization Violation';
    const cid = this.nextCid++;
    this.connections.set(cid, user);
    return cid;
  }

  connected(user: string): boolean {
    return [...this.connections.values()].includes(user);
  }

  signalReload(): void {
    if (!this.running) throw new Error('not running');
    this.signals++;
    this.reloading++;
    setTimeout(() => {
      this.reloading--;
      if (this.rejectReloads) return;
      this.loadNow();
      if (this.reloadClosesConnections) for (const [cid, user] of this.connections) if (!this.loadedUsers.has(user)) this.connections.delete(cid);
    }, this.reloadDelayMs);
  }

  readonly monitor: ServerMonitor = new FakeMonitor(this);
  readonly signaller: ReloadSignaller = new FakeSignaller(this);
}

class FakeMonitor extends ServerMonitor {
  constructor(private readonly server: FakeNatsServer) {
    super();
  }
  async variables(): Promise<ServerVariables> {
    const { server } = this;
    if (!server.running) throw new Error('connection refused');
    return { serverId: server.serverId, version: server.version, configLoadTime: server.configLoadTimeMs.toFixed(3), configLoadTimeMs: server.configLoadTimeMs };
  }
  async connections(): Promise<ClientConnection[]> {
    let overlapped = this.server.reloading > 0;
    if (this.server.connectionsReadMs > 0) await new Promise((resolve) => setTimeout(resolve, this.server.connectionsReadMs));
    overlapped ||= this.server.reloading > 0;
    if (overlapped) this.server.connectionReadsDuringReload++;
    return [...this.server.connections].map(([cid, user]) => ({ cid, user }));
  }
}

class FakeSignaller extends ReloadSignaller {
  constructor(private readonly server: FakeNatsServer) {
    super();
  }
  async signalReload(): Promise<void> {
    this.server.signalReload();
  }
  async checkRunning(): Promise<void> {
    if (!this.server.running) throw new Error('not running');
  }
}

export class FakeKicker extends SessionKicker {
  kicked: number[] = [];
  supported = true;
  closed = false;

  constructor(private readonly server: FakeNatsServer) {
    super();
  }

  async kick(serverId: string, cid: number): Promise<KickOutcome> {
    if (!this.supported || serverId !== this.server.serverId) return 'unsupported';
    if (!this.server.connections.has(cid)) return 'gone';
    this.server.connections.delete(cid);
    this.kicked.push(cid);
    return 'kicked';
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A device as the core hands it over: the identity and one active certificate. */
export function device(identity: string): Device {
  const certificate: CertificateStatus = {
    id: `00000000-0000-7000-8000-${Buffer.from(identity).toString('hex').slice(0, 12).padEnd(12, '0')}`,
    tenantId: '00000000-0000-7000-8000-000000000001',
    authorityId: '00000000-0000-7000-8000-000000000002',
    serialNumber: '1a2b',
    subject: identity,
    commonName: identity.replace(/^CN=/, ''),
    state: 'active',
    notAfter: new Date(Date.now() + 86_400_000),
  };
  return { identity, certificates: [certificate] };
}

/**
 * A device with certificates of its own making: `carriesUrn` gives a
 * certificate ccm's URN SAN (urn:uuid:<id>), as ccm's client certificates have.
 */
export function deviceWith(identity: string, certificates: ReadonlyArray<{ id: string; state: CertificateStatus['state']; carriesUrn?: boolean; dns?: readonly string[] }>): Device {
  const [template] = device(identity).certificates;
  return {
    identity,
    certificates: certificates.map(({ id, state, carriesUrn, dns }) => ({
      ...template!,
      id,
      state,
      ...(carriesUrn === undefined ? {} : { subjectAltNames: { ...(carriesUrn ? { uri: [`urn:uuid:${id}`] } : {}), ...(dns ? { dns } : {}) } }),
    })),
  };
}
