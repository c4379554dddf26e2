/**
 * RabbitMqAdapter: carries the core's verdicts out on a RabbitMQ 3.10 node
 * whose MQTT plugin logs devices in by client certificate
 * (mqtt.ssl_cert_login, ssl_cert_login_from = distinguished_name), through
 * the management HTTP API:
 *   - letBackIn: a user named by the certificate's DN (no password, tagged
 *     with the marker tag), permissions on the MQTT vhost, no
 *     max-connections limit (one an earlier agent version set is removed);
 *   - shutOut and endForGood: the user deleted, in bulk. RabbitMQ closes a
 *     deleted user's connections itself (connection tracking, about 70 ms
 *     later) and refuses its reconnects, since no user of that name is left;
 *     letting the device back in creates the user again. One request for a
 *     burst: the earlier design (max-connections 0, then a close by username)
 *     took two requests per device, and 100 suspensions on the 2-core
 *     machine took 0.5–1 s of management calls against 20–250 ms for one
 *     bulk delete (bench/suspend-to-disconnect). Connections of users this
 *     agent deleted are looked for once more after the statistics interval
 *     and closed if any outlived their user.
 *
 * It only ever manages users that carry the marker tag: a user of the same
 * name without it belongs to someone else and is left alone (logged).
 * start() reads users, limits and permissions in bulk, and every call
 * compares with what it knows, so asking for what is already so sends
 * nothing. The agent is taken to be the only writer of marker users.
 */
import { BrokerAdapter, type AgentLog, type CertificateStatus, type Device } from '@ccm/broker-agent';
import { chunks, eachBounded } from './bounded.js';
import { RabbitMqPermissionError } from './errors.js';
import { ManagementApi, type ManagedUser, type Permissions } from './management-api.js';
import { rabbitMqUsernameOf } from './rabbitmq-identity.js';

export interface RabbitMqAdapterSettings {
  readonly managementUrl: string;
  readonly username: string;
  readonly password: string;
  /** The vhost the MQTT plugin logs devices into (mqtt.vhost). */
  readonly vhost: string;
  readonly devicePermissions: Permissions;
  /** The tag that marks the users this agent manages. */
  readonly deviceTag: string;
  readonly timeoutMs: number;
  /** Management requests in flight at once. */
  readonly concurrency: number;
  /** From this many new users in one call, they are created by definitions import rather than one by one. */
  readonly importThreshold?: number;
  /** Users per definitions import (one request each; keep it well within timeoutMs: about 1.2 ms per user on a small node). */
  readonly importBatchSize?: number;
  /** How long after deleting users their sessions are looked for once more (ms; past the statistics interval, 5 s by default). */
  readonly leftoverCheckMs?: number;
}

/** RabbitMQ's own management user tag that user management needs (3.10 has no narrower one). */
const ADMINISTRATOR_TAG = 'administrator';
const CONNECTIONS_PAGE_SIZE = 500;
const DEFAULT_IMPORT_THRESHOLD = 20;
const DEFAULT_IMPORT_BATCH_SIZE = 1000;
/** Users per bulk-delete request. */
const DELETE_BATCH_SIZE = 1000;
/** RabbitMQ's default collect_statistics_interval is 5 s: /api/connections may list a closed connection until then. */
const DEFAULT_LEFTOVER_CHECK_MS = 6000;

interface KnownUser {
  /** null: not set on the vhost (or not known to be). */
  permissions: Permissions | null;
  maxConnections: number | null;
}

export class RabbitMqAdapter extends BrokerAdapter {
  readonly broker = 'rabbitmq';
  private readonly api: ManagementApi;
  /** Users with the marker tag, by name. */
  private readonly managed = new Map<string, KnownUser>();
  /** Users of someone else (no marker tag): never touched. */
  private readonly foreign = new Set<string>();
  /** Identities whose connections must still be closed (a close that did not succeed yet). */
  private readonly closeOwed = new Set<string>();
  /** Users deleted since the last look for sessions that outlived them. */
  private readonly deletedAwaitingCheck = new Set<string>();
  private leftoverCheck: NodeJS.Timeout | null = null;
  private closed = false;
  /** Users of live MQTT connections at the last listSessions (null: not known). */
  private lastLive: Set<string> | null = null;

  constructor(
    private readonly settings: RabbitMqAdapterSettings,
    private readonly log: AgentLog,
  ) {
    super();
    this.api = new ManagementApi({ url: settings.managementUrl, username: settings.username, password: settings.password, timeoutMs: settings.timeoutMs });
  }

  identityOf(certificate: CertificateStatus): string | null {
    return rabbitMqUsernameOf(certificate.subject);
  }

  async start(): Promise<void> {
    await this.check();
    const [users, permissions] = await Promise.all([this.api.users(), this.api.permissions(this.settings.vhost)]);
    const permissionsByUser = new Map(permissions.map(({ user, configure, write, read }) => [user, { configure, write, read }]));
    this.managed.clear();
    this.foreign.clear();
    for (const user of users) this.remember(user, permissionsByUser.get(user.name) ?? null);
    // Users an earlier agent version shut out with max-connections 0: the next shutOut deletes them, letBackIn lifts the limit.
    const shutOut = [...this.managed.values()].filter((user) => user.maxConnections === 0).length;
    this.log.info('rabbitmq state read', { managedUsers: this.managed.size, shutOut, otherUsers: this.foreign.size, vhost: this.settings.vhost });
  }

  async listSessions(): Promise<ReadonlySet<string> | null> {
    if (!(await this.api.statisticsEnabled())) {
      this.lastLive = null;
      return null;
    }
    const live = new Set<string>();
    for (let page = 1, pageCount = 1; page <= pageCount; page++) {
      const result = await this.api.connectionsPage(page, CONNECTIONS_PAGE_SIZE);
      pageCount = result.pageCount;
      for (const { user, protocol } of result.connections) if (protocol.startsWith('MQTT')) live.add(user);
    }
    this.lastLive = live;
    return live;
  }

  async letBackIn(devices: readonly Device[]): Promise<void> {
    const identities = this.ours(devices, 'let in');
    const unknown = identities.filter((identity) => !this.managed.has(identity));
    await this.createUsers(unknown);
    const updates: Array<{ identity: string; user: KnownUser }> = [];
    for (const identity of identities) {
      const user = this.managed.get(identity);
      if (user && (!samePermissions(user.permissions, this.settings.devicePermissions) || user.maxConnections !== null)) updates.push({ identity, user });
    }
    await eachBounded('let devices back in', updates, this.settings.concurrency, async ({ identity, user }) => {
      if (!samePermissions(user.permissions, this.settings.devicePermissions)) {
        await this.api.putPermissions(this.settings.vhost, identity, this.settings.devicePermissions);
        user.permissions = this.settings.devicePermissions;
      }
      if (user.maxConnections !== null) {
        await this.api.clearMaxConnections(identity);
        user.maxConnections = null;
      }
    });
  }

  async shutOut(devices: readonly Device[]): Promise<void> {
    await this.remove(this.ours(devices, 'shut out'), 'ccm: certificate suspended');
  }

  async endForGood(devices: readonly Device[]): Promise<void> {
    await this.remove(this.ours(devices, 'end'), 'ccm: certificate revoked');
  }

  /**
   * Deletes the identities' users (RabbitMQ then closes their connections);
   * for an identity whose user is already gone, closes any session it may
   * still hold (one listed live at the last listSessions, or one whose
   * close failed before).
   */
  private async remove(identities: readonly string[], reason: string): Promise<void> {
    const existing = identities.filter((identity) => this.managed.has(identity));
    for (const batch of chunks(existing, DELETE_BATCH_SIZE)) {
      await this.api.deleteUsers(batch);
      for (const identity of batch) {
        this.managed.delete(identity);
        this.lastLive?.delete(identity);
        this.deletedAwaitingCheck.add(identity);
      }
    }
    if (existing.length > 0) this.scheduleLeftoverCheck();
    const deleted = new Set(existing);
    const lingering = identities.filter((identity) => !deleted.has(identity) && this.mayBeConnected(identity));
    await eachBounded('close sessions of removed users', lingering, this.settings.concurrency, (identity) => this.closeConnections(identity, reason));
  }

  /**
   * Once the statistics interval has passed, lists the live connections and
   * closes those of users deleted since the last check that were not let
   * back in (RabbitMQ closes them itself; this is for one that did not).
   */
  private scheduleLeftoverCheck(): void {
    if (this.leftoverCheck || this.closed) return;
    this.leftoverCheck = setTimeout(() => {
      this.leftoverCheck = null;
      const checking = [...this.deletedAwaitingCheck];
      this.deletedAwaitingCheck.clear();
      void this.closeLeftovers(checking).catch((error: unknown) => this.log.warn('checking for sessions of deleted users failed; the next reconciliation ends any', { error: (error as Error).message }));
    }, this.settings.leftoverCheckMs ?? DEFAULT_LEFTOVER_CHECK_MS);
    this.leftoverCheck.unref();
  }

  private async closeLeftovers(identities: readonly string[]): Promise<void> {
    const live = await this.listSessions();
    if (!live) return;
    const leftovers = identities.filter((identity) => live.has(identity) && !this.managed.has(identity));
    if (leftovers.length === 0) return;
    this.log.warn('sessions outlived their deleted users; closing them', { devices: leftovers.length });
    await eachBounded('close sessions of deleted users', leftovers, this.settings.concurrency, (identity) => this.closeConnections(identity, 'ccm: certificate not in force'));
  }

  async check(): Promise<void> {
    const whoami = await this.api.whoami();
    if (!whoami.tags.includes(ADMINISTRATOR_TAG)) {
      throw new RabbitMqPermissionError(`RabbitMQ user "${whoami.name}" lacks the ${ADMINISTRATOR_TAG} tag, which managing users, limits and connections needs (tags: ${whoami.tags.join(',') || 'none'})`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.leftoverCheck) clearTimeout(this.leftoverCheck);
    this.leftoverCheck = null;
    this.api.close();
  }

  /** The identities of the devices, less those whose user belongs to someone else. */
  private ours(devices: readonly Device[], action: string): string[] {
    const identities: string[] = [];
    for (const { identity } of devices) {
      if (this.foreign.has(identity)) this.log.error(`a RabbitMQ user of this name exists without the ${this.settings.deviceTag} tag; not managed by the agent, so not ${action === 'end' ? 'ended' : action}`, { identity, action });
      else identities.push(identity);
    }
    return identities;
  }

  private mayBeConnected(identity: string): boolean {
    return this.closeOwed.has(identity) || (this.lastLive?.has(identity) ?? false);
  }

  /** Closes the identity's connections; until that succeeds, the next call for it tries again. */
  private async closeConnections(identity: string, reason: string): Promise<void> {
    this.closeOwed.add(identity);
    await this.api.closeConnectionsOf(identity, reason);
    this.closeOwed.delete(identity);
    this.lastLive?.delete(identity);
  }

  private remember(user: ManagedUser, permissions: Permissions | null): void {
    if (user.tags.includes(this.settings.deviceTag)) {
      this.managed.set(user.name, { permissions, maxConnections: user.maxConnections });
      this.foreign.delete(user.name);
    } else {
      this.foreign.add(user.name);
      this.managed.delete(user.name);
    }
  }

  /**
   * Creates users not known at start. Each name is looked up first (one by
   * one, or the whole list for many), so a user someone else made meanwhile
   * is neither overwritten nor adopted; then few users are created with a
   * request each, many by definitions import.
   */
  private async createUsers(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const threshold = this.settings.importThreshold ?? DEFAULT_IMPORT_THRESHOLD;
    if (names.length < threshold) {
      await eachBounded('create device users', names, this.settings.concurrency, async (name) => {
        const existing = await this.api.user(name);
        if (existing) {
          // Made after start (by another agent, or by hand): taken as it is; its permissions are checked by the caller.
          this.remember(existing, null);
          if (this.foreign.has(name)) this.log.error(`a RabbitMQ user of this name exists without the ${this.settings.deviceTag} tag; not managed by the agent, so not let in`, { identity: name });
          return;
        }
        await this.api.putUserWithoutPassword(name, [this.settings.deviceTag]);
        const user: KnownUser = { permissions: null, maxConnections: null };
        this.managed.set(name, user);
        await this.api.putPermissions(this.settings.vhost, name, this.settings.devicePermissions);
        user.permissions = this.settings.devicePermissions;
      });
      return;
    }
    const wanted = new Set(names);
    const present = (await this.api.users()).filter((user) => wanted.has(user.name));
    for (const user of present) {
      this.remember(user, null);
      if (this.foreign.has(user.name)) this.log.error(`a RabbitMQ user of this name exists without the ${this.settings.deviceTag} tag; not managed by the agent, so not let in`, { identity: user.name });
    }
    const presentNames = new Set(present.map((user) => user.name));
    const missing = names.filter((name) => !presentNames.has(name));
    for (const batch of chunks(missing, this.settings.importBatchSize ?? DEFAULT_IMPORT_BATCH_SIZE)) {
      await this.api.importUsers(
        batch.map((name) => ({ name, tags: [this.settings.deviceTag] })),
        batch.map((user) => ({ user, vhost: this.settings.vhost, ...this.settings.devicePermissions })),
      );
      for (const name of batch) this.managed.set(name, { permissions: this.settings.devicePermissions, maxConnections: null });
    }
  }
}

function samePermissions(a: Permissions | null, b: Permissions): boolean {
  return a !== null && a.configure === b.configure && a.write === b.write && a.read === b.read;
}
