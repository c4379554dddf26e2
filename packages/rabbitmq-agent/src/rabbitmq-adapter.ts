/**
 * RabbitMqAdapter: carries the core's verdicts out on a RabbitMQ 3.10 node
 * whose MQTT plugin logs devices in by client certificate
 * (mqtt.ssl_cert_login, ssl_cert_login_from = distinguished_name), through
 * the management HTTP API:
 *   - letBackIn: a user named by the certificate's DN (no password, tagged
 *     with the marker tag), permissions on the MQTT vhost, no
 *     max-connections limit;
 *   - shutOut: max-connections 0 (reconnects are refused), then the user's
 *     connections closed;
 *   - endForGood: the user deleted (RabbitMQ closes its connections).
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
}

/** RabbitMQ's own management user tag that user management needs (3.10 has no narrower one). */
const ADMINISTRATOR_TAG = 'administrator';
const CONNECTIONS_PAGE_SIZE = 500;
const DEFAULT_IMPORT_THRESHOLD = 20;
const DEFAULT_IMPORT_BATCH_SIZE = 1000;
/** Users per bulk-delete request. */
const DELETE_BATCH_SIZE = 1000;

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
  /** Identities whose connections must still be closed (the limit is set, the close did not succeed yet). */
  private readonly closeOwed = new Set<string>();
  /** Users of live MQTT connections at the last listSessions (null: not known). */
  private lastLive: Set<string> | null = null;
  /**
   * Users found shut out at start whose connections nobody checked since:
   * an agent that died between the limit and the close left a session that
   * /api/connections may not list yet (it lags by the statistics interval,
   * 5 s by default). Their first shutOut asks connection tracking instead.
   */
  private readonly unverified = new Set<string>();

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
    this.unverified.clear();
    for (const user of users) this.remember(user, permissionsByUser.get(user.name) ?? null);
    for (const [name, user] of this.managed) if (user.maxConnections === 0) this.unverified.add(name);
    const shutOut = this.unverified.size;
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
        this.unverified.delete(identity);
      }
    });
  }

  async shutOut(devices: readonly Device[]): Promise<void> {
    const identities = this.ours(devices, 'shut out');
    const work = identities.filter((identity) => {
      const user = this.managed.get(identity);
      return (user !== undefined && user.maxConnections !== 0) || this.mayBeConnected(identity) || this.unverified.has(identity);
    });
    await eachBounded('shut devices out', work, this.settings.concurrency, async (identity) => {
      const user = this.managed.get(identity);
      // A user that does not exist cannot log in: only a lingering connection may need closing.
      if (user && user.maxConnections !== 0) {
        // Limit first, close second: the device cannot reconnect between the two.
        await this.api.setMaxConnections(identity, 0);
        user.maxConnections = 0;
        this.closeOwed.add(identity);
      } else if (!this.mayBeConnected(identity)) {
        // Shut out before this agent started: only a read, and a close if a session survived.
        const connections = await this.api.connectionCountOf(identity);
        this.unverified.delete(identity);
        if (connections === 0) return;
      }
      await this.closeConnections(identity, 'ccm: certificate suspended');
    });
  }

  async endForGood(devices: readonly Device[]): Promise<void> {
    const identities = this.ours(devices, 'end');
    const existing = identities.filter((identity) => this.managed.has(identity));
    for (const batch of chunks(existing, DELETE_BATCH_SIZE)) {
      await this.api.deleteUsers(batch);
      for (const identity of batch) {
        this.managed.delete(identity);
        this.unverified.delete(identity);
      }
    }
    // Deleting a user makes RabbitMQ close its connections (~70 ms later); those known to be live are closed at once too.
    const lingering = identities.filter((identity) => this.mayBeConnected(identity));
    await eachBounded('end devices', lingering, this.settings.concurrency, (identity) => this.closeConnections(identity, 'ccm: certificate revoked'));
  }

  async check(): Promise<void> {
    const whoami = await this.api.whoami();
    if (!whoami.tags.includes(ADMINISTRATOR_TAG)) {
      throw new RabbitMqPermissionError(`RabbitMQ user "${whoami.name}" lacks the ${ADMINISTRATOR_TAG} tag, which managing users, limits and connections needs (tags: ${whoami.tags.join(',') || 'none'})`);
    }
  }

  async close(): Promise<void> {
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

  private async closeConnections(identity: string, reason: string): Promise<void> {
    await this.api.closeConnectionsOf(identity, reason);
    this.closeOwed.delete(identity);
    this.unverified.delete(identity);
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
