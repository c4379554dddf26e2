/**
 * NatsAdapter: ccm's decisions carried out on nats-server through an allow
 * list. Under `verify_and_map` nats-server refuses every certificate whose
 * subject is not a configured user, so the adapter owns a users file
 * (users-file.ts) that holds exactly the users of the identities let in and
 * not shut out or ended since, and has the server reload it (SIGHUP). A
 * reload closes the connections of users it no longer has and leaves every
 * other connection alone (checked on 2.9.10, test/medium/nats-adapter.test.ts).
 *
 * The core decides per identity (the subject as nats-server renders it); the
 * file names users. A certificate of ccm's that carries its URN as SAN is let
 * in under the URN (a map lookup per connection at each reload, where a
 * subject costs a DN comparison with every user: see urnUserOf); any other
 * under the subject. So an identity let in is written as the URNs of its
 * certificates in force, plus its subject only when one of them has no URN;
 * and keeping an identity out removes its subject and the URN of every
 * certificate it has. Without the subject in the file, a certificate of the
 * same subject that is not in force (revoked, or suspended under another
 * identity's decision) finds no user.
 *
 * Changes coalesce: every call changes the wanted set at once and then
 * waits for a reload that started after its change; calls arriving while a
 * reload is in flight share the one that follows it. So a burst costs one
 * or two file writes and reloads, whatever its size. The file is written
 * only when its text changes, and a reload is asked only when the server
 * has not loaded the wanted text yet, which makes every call idempotent.
 *
 * Shutting out ends with proof: /connz?auth=true must show no connection of
 * the identities (kicked by id where the server has
 * `$SYS.REQ.SERVER.<id>.KICK`, 2.10+), else the call fails and the core
 * retries. The adapter also finds a reload that never happened (an agent
 * killed between write and signal): at start by the file being newer than
 * the server's config_load_time, later by a shut-out identity still
 * connected long after the last reload.
 */
import { BrokerAdapter, type AgentLog, type CertificateStatus, type Device } from '@ccm/broker-agent';
import type { DevicePermissions } from './device-permissions.js';
import { AdapterNotStartedError, ReloadNotConfirmedError, SessionsStillOpenError } from './errors.js';
import { certificateUrnOf, natsUserOfSubject, urnUserOf, versionHasKick } from './nats-identity.js';
import { HttpNatsMonitor, ServerMonitor, type ClientConnection, type ServerVariables } from './nats-monitor.js';
import { PidFileSignaller, ReloadSignaller } from './server-signaller.js';
import { SessionKicker, SystemAccountKicker, type SystemAccountCredentials } from './session-kicker.js';
import { AtomicUsersFile, UsersFileStore, parseUsersFile, renderUsersFile } from './users-file.js';

export interface NatsAdapterSettings {
  /** The file nats-server includes; the agent owns it whole. */
  readonly usersFile: string;
  /** nats-server's pid_file. */
  readonly pidFile: string;
  /** Monitoring endpoint, e.g. http://127.0.0.1:8222. */
  readonly monitorUrl: string;
  /** Written into every device user's entry; null writes none (the account's defaults: everything). */
  readonly permissions: DevicePermissions | null;
  /** How long a reload may take before the call fails (ms). */
  readonly reloadTimeoutMs: number;
  /** How long the connections of shut-out identities may take to close after the reload (ms). */
  readonly sessionCloseTimeoutMs: number;
  /** A system-account user for the kick of nats-server 2.10+; null: reload only. */
  readonly systemAccount: SystemAccountCredentials | null;
}

export interface NatsAdapterParts {
  readonly file: UsersFileStore;
  readonly monitor: ServerMonitor;
  readonly signaller: ReloadSignaller;
  readonly kicker: SessionKicker | null;
  readonly log: AgentLog;
  /** How often /varz and /connz are polled while waiting (ms). */
  readonly pollIntervalMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** What the adapter did to the broker, for tests and logs. */
export interface NatsAdapterCounts {
  writes: number;
  reloads: number;
  kicks: number;
}

/**
 * A shut-out identity still connected this long after the last confirmed
 * reload means that reload did not remove it (the server runs an older
 * configuration): reload again. Well above the few ms a reload needs to
 * close connections, so a call that shares a reload just done does not
 * trigger another.
 */
const STALE_AFTER_MS = 500;

interface Cycle {
  /** The wanted-set version this cycle writes. */
  readonly version: number;
  readonly done: Promise<void>;
}

export class NatsAdapter extends BrokerAdapter {
  readonly broker = 'nats';
  /**
   * Calls cost nothing until they share a reload, so a call should not wait
   * for a slot while another waits for its /connz proof: with 4 at once a
   * change made during reload N often missed N+1 (p99 suspend → closed 545
   * ms in the bench); with 16, 394–458 ms.
   */
  override readonly roundsAtOnce = 16;
  readonly counts: NatsAdapterCounts = { writes: 0, reloads: 0, kicks: 0 };

  /** The user names in the file: what nats-server admits. */
  private readonly wanted = new Set<string>();
  /** The identity each user name was written for (listSessions speaks of identities, /connz of users). */
  private readonly identityOfUser = new Map<string, string>();
  /** Bumped by every change of `wanted`. */
  private wantedVersion = 0;
  /** The `wanted` version nats-server is known to have loaded; -1 when unknown. */
  private loadedVersion = -1;
  private loadedText: string | null = null;
  private writtenText: string | null = null;
  private inFlight: Cycle | null = null;
  private queued: Promise<void> | null = null;
  private lastReloadAt = Number.NEGATIVE_INFINITY;
  /** The /connz read under way, shared by every call that may use it (see connectionsReadSince). */
  private connectionsRead: { readonly startedAt: number; readonly read: Promise<readonly ClientConnection[]> } | null = null;
  private lastSignalAt = Number.NEGATIVE_INFINITY;
  private server: ServerVariables | null = null;
  private kickOffered = false;
  private started = false;
  private readonly pollIntervalMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly settings: NatsAdapterSettings,
    private readonly parts: NatsAdapterParts,
  ) {
    super();
    this.pollIntervalMs = parts.pollIntervalMs ?? 5;
    this.sleep = parts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The adapter on a real server: the files, signal and endpoints of `settings`. */
  static create(settings: NatsAdapterSettings, log: AgentLog): NatsAdapter {
    return new NatsAdapter(settings, {
      file: new AtomicUsersFile(settings.usersFile),
      monitor: new HttpNatsMonitor(settings.monitorUrl.replace(/\/+$/, '')),
      signaller: new PidFileSignaller(settings.pidFile),
      kicker: settings.systemAccount ? new SystemAccountKicker(settings.systemAccount) : null,
      log,
    });
  }

  /** The subject as nats-server renders it; a certificate whose subject cannot be mapped is its URN, where it has one. */
  identityOf(certificate: CertificateStatus): string | null {
    const mapped = natsUserOfSubject(certificate.subject);
    return 'user' in mapped ? mapped.user : urnUserOf(certificate);
  }

  async start(): Promise<void> {
    const stored = await this.parts.file.read();
    this.wanted.clear();
    if (stored) for (const user of parseUsersFile(stored.text, this.parts.file.path)) this.wanted.add(user);
    this.writtenText = stored?.text ?? null;
    const server = await this.serverVariables();
    await this.parts.signaller.checkRunning();
    this.kickOffered = this.parts.kicker !== null && versionHasKick(server.version);
    this.started = true;
    const text = this.render();
    if (stored && stored.text === text && stored.modifiedMs <= server.configLoadTimeMs) {
      // The server loaded this very file after it was last written: nothing to do.
      this.loadedText = text;
      this.loadedVersion = this.wantedVersion;
    } else if (stored) {
      // Written after the last load (an agent stopped between write and reload), by other settings (permissions), or an operator's
      // `users = []` (which admits every certificate): apply the agent's text now.
      this.parts.log.info('nats users file not in force yet; reloading', { usersFile: this.parts.file.path, users: this.wanted.size, rewritten: stored.text !== text });
      await this.sync();
    } else {
      // No file yet: the first call writes it. Writing an empty one now would lock every device out until the reconciliation.
      this.parts.log.warn('nats users file does not exist yet; it is written at the first change', { usersFile: this.parts.file.path });
    }
    this.parts.log.info('nats adapter started', {
      serverVersion: server.version,
      users: this.wanted.size,
      kick: this.kickOffered ? 'system account' : this.parts.kicker ? 'not offered by this server version (reload only)' : 'not configured (reload only)',
    });
  }

  async listSessions(): Promise<ReadonlySet<string>> {
    this.mustBeStarted('listSessions');
    const identities = new Set<string>();
    for (const connection of await this.parts.monitor.connections()) {
      if (connection.user !== '') identities.add(this.identityOfUser.get(connection.user) ?? connection.user);
    }
    return identities;
  }

  async shutOut(devices: readonly Device[]): Promise<void> {
    await this.keepOut('shutOut', devices);
  }

  async endForGood(devices: readonly Device[]): Promise<void> {
    // NATS has nothing to remember about an identity that is out: ending it is removing it, as for a suspension.
    await this.keepOut('endForGood', devices);
  }

  async letBackIn(devices: readonly Device[]): Promise<void> {
    this.mustBeStarted('letBackIn');
    let changed = false;
    for (const device of devices) {
      const admitted = new Set(usersAdmitting(device));
      for (const user of everyUserOf(device)) {
        if (admitted.has(user)) continue;
        changed = this.wanted.delete(user) || changed;
      }
      for (const user of admitted) {
        this.identityOfUser.set(user, device.identity);
        if (this.wanted.has(user)) continue;
        this.wanted.add(user);
        changed = true;
      }
    }
    if (changed) this.wantedVersion++;
    await this.sync();
  }

  async check(): Promise<void> {
    await this.serverVariables();
    await this.parts.signaller.checkRunning();
  }

  async close(): Promise<void> {
    await this.inFlight?.done.catch(() => undefined);
    await this.parts.kicker?.close();
  }

  private async keepOut(method: string, devices: readonly Device[]): Promise<void> {
    this.mustBeStarted(method);
    const users = new Set<string>();
    for (const device of devices) {
      for (const user of everyUserOf(device)) {
        users.add(user);
        this.identityOfUser.set(user, device.identity);
      }
    }
    let changed = false;
    for (const user of users) changed = this.wanted.delete(user) || changed;
    if (changed) this.wantedVersion++;
    await this.sync();
    await this.ensureGone(new Set(devices.map((device) => device.identity)).size, [...users], changed);
  }

  /**
   * Resolves once nats-server has loaded the wanted set as it is now. Joins
   * the reload in flight when that one carries this version already, else
   * the single reload queued behind it.
   */
  private sync(): Promise<void> {
    const version = this.wantedVersion;
    if (this.inFlight) {
      if (this.inFlight.version >= version) return this.inFlight.done;
      return (this.queued ??= this.inFlight.done
        .catch(() => undefined)
        .then(() => {
          this.queued = null;
          return this.sync();
        }));
    }
    if (this.loadedVersion >= version) return Promise.resolve();
    const done = this.apply(version, this.render()).finally(() => {
      this.inFlight = null;
    });
    this.inFlight = { version, done };
    return done;
  }

  /** One write (if the text changed) and one confirmed reload (if the server has not loaded this text). */
  private async apply(version: number, text: string): Promise<void> {
    if (text === this.loadedText) {
      // Changes that cancelled out (let in, then shut out again before the reload).
      this.loadedVersion = version;
      return;
    }
    const started = performance.now();
    if (text !== this.writtenText) {
      await this.parts.file.write(text);
      this.writtenText = text;
      this.counts.writes++;
    }
    await this.reload(performance.now() - started);
    this.loadedText = text;
    this.loadedVersion = version;
  }

  /** SIGHUP, then /varz until config_load_time moves (a failed reload leaves it: the server keeps its old configuration). */
  private async reload(writeMs = 0): Promise<void> {
    const asked = performance.now();
    const before = await this.serverVariables();
    const started = performance.now();
    await this.parts.signaller.signalReload();
    this.lastSignalAt = started;
    this.counts.reloads++;
    for (;;) {
      await this.sleep(this.pollIntervalMs);
      const now = await this.serverVariables();
      if (now.configLoadTime !== before.configLoadTime) break;
      if (performance.now() - started > this.settings.reloadTimeoutMs) throw new ReloadNotConfirmedError(this.settings.reloadTimeoutMs);
    }
    this.lastReloadAt = performance.now();
    this.parts.log.debug('nats-server reloaded the users file', { users: this.wanted.size, ms: round(this.lastReloadAt - started), writeMs: round(writeMs), varzMs: round(started - asked) });
  }

  /**
   * Waits until no connection of `users` (those still kept out) is open,
   * kicking them where the server can; reloads again when they outlive the
   * last reload (its configuration was not ours).
   */
  private async ensureGone(identities: number, users: readonly string[], removedNow: boolean): Promise<void> {
    const out = new Set(users.filter((user) => !this.wanted.has(user)));
    if (out.size === 0) return;
    const kicked = new Set<number>();
    let reloadedAgain = false;
    const waitStarted = performance.now();
    let found = 0;
    // Any read that started after the reload that carried these removals will do, also one another call started.
    let since = this.lastReloadAt;
    for (;;) {
      await this.reloadsSettled(waitStarted);
      const open = (await this.connectionsReadSince(since)).filter((connection) => out.has(connection.user) && !this.wanted.has(connection.user));
      if (open.length === 0) {
        if (removedNow || found > 0) {
          // From the SIGHUP to /connz showing none of them: the time a shut-out device may still have been connected.
          this.parts.log.info('nats sessions of shut-out devices closed', { identities, lingeringAfterReload: found, msAfterReloadSignal: round(performance.now() - this.lastSignalAt) });
        }
        return;
      }
      found = Math.max(found, open.length);
      if (!reloadedAgain && performance.now() - this.lastReloadAt > STALE_AFTER_MS) {
        this.parts.log.warn('shut-out devices are connected although the users file excludes them; reloading nats-server', { connections: open.length, first: open[0]!.user });
        reloadedAgain = true;
        this.loadedVersion = -1;
        this.loadedText = null;
        await this.sync();
        since = this.lastReloadAt;
        continue;
      }
      if (this.kickOffered) await this.kick(open.filter((connection) => !kicked.has(connection.cid)), kicked);
      if (performance.now() - waitStarted > this.settings.sessionCloseTimeoutMs) {
        throw new SessionsStillOpenError([...new Set(open.map((connection) => connection.user))], this.settings.sessionCloseTimeoutMs);
      }
      await this.sleep(this.pollIntervalMs);
      since = performance.now();
    }
  }

  /**
   * Waits while a reload runs or another is queued behind it (at most half
   * the session-close timeout since `since`). A /connz read with 900
   * sessions costs nats-server 50 ms idle, and the proof of one call read
   * during the next call's reload slowed that reload down, in a burst: the
   * suspensions that wait for it matter more than the proof of one already
   * out. The reload closes the connections either way; the proof only
   * waits to look.
   */
  private async reloadsSettled(since: number): Promise<void> {
    while (this.inFlight || this.queued) {
      if (performance.now() - since > this.settings.sessionCloseTimeoutMs / 2) return;
      await (this.queued ?? this.inFlight!.done).catch(() => undefined);
    }
  }

  /**
   * The connections, from a /connz read that started at `at` or later: the
   * one under way when it did, else a new one. With 1,000 sessions a read
   * costs nats-server 20 ms idle and up to 100 ms in a burst, and the calls
   * of four rounds each polling it slowed down the reloads they waited for
   * (measured: the last reload's confirmation → sessions seen closed took
   * 90–140 ms in a burst of 100 suspensions).
   */
  private connectionsReadSince(at: number): Promise<readonly ClientConnection[]> {
    if (this.connectionsRead && this.connectionsRead.startedAt >= at) return this.connectionsRead.read;
    const read = this.parts.monitor.connections();
    const current = { startedAt: performance.now(), read };
    this.connectionsRead = current;
    const done = (): void => {
      if (this.connectionsRead === current) this.connectionsRead = null;
    };
    read.then(done, done);
    return read;
  }

  private async kick(connections: readonly ClientConnection[], kicked: Set<number>): Promise<void> {
    const serverId = this.server!.serverId;
    for (const connection of connections) {
      const outcome = await this.parts.kicker!.kick(serverId, connection.cid);
      kicked.add(connection.cid);
      if (outcome === 'unsupported') {
        this.kickOffered = false;
        this.parts.log.info('nats-server has no kick request; relying on the reload', { serverVersion: this.server?.version });
        return;
      }
      if (outcome === 'kicked') this.counts.kicks++;
    }
  }

  private async serverVariables(): Promise<ServerVariables> {
    const server = await this.parts.monitor.variables();
    if (this.server && this.server.version !== server.version) {
      // Upgraded or downgraded under us: whether it has the kick may have changed.
      this.kickOffered = this.parts.kicker !== null && versionHasKick(server.version);
    }
    this.server = server;
    return server;
  }

  private render(): string {
    return renderUsersFile(this.wanted, this.settings.permissions);
  }

  private mustBeStarted(method: string): void {
    if (!this.started) throw new AdapterNotStartedError(method);
  }
}

/** The users that let the device's certificates in force connect: each one's URN, and the subject for those without one. */
function usersAdmitting(device: Device): string[] {
  const inForce = device.certificates.filter((certificate) => certificate.state === 'active' || certificate.state === 'inactive');
  const users = new Set<string>();
  for (const certificate of inForce) users.add(urnUserOf(certificate) ?? device.identity);
  // The core lets an identity in only when a certificate of it is in force; should it say so of one without (its clock ahead of ours), the subject is what it asked for.
  if (users.size === 0) users.add(device.identity);
  return [...users];
}

/**
 * Every user under which one of the device's certificates could connect:
 * the identity, and each certificate's URN. The URN whether or not the
 * certificate is known to carry it (an event's view of a certificate does
 * not say): removing a user that is not there changes nothing.
 */
function everyUserOf(device: Device): string[] {
  return [...new Set([device.identity, ...device.certificates.map(certificateUrnOf)])];
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
