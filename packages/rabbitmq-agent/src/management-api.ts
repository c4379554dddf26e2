/**
 * RabbitMQ's management HTTP API (rabbitmq_management, 3.10), the part the
 * agent calls: users and their tags, limits and vhost permissions,
 * definitions import, connections. One request per method, node's fetch,
 * basic authentication, a timeout per request (the body included); every
 * failure is a RabbitMqRequestError naming the request.
 */
import { RabbitMqRequestError } from './errors.js';

export interface ManagementApiOptions {
  /** e.g. http://127.0.0.1:15672 (no trailing slash needed). */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly timeoutMs: number;
}

export interface ManagedUser {
  readonly name: string;
  readonly tags: readonly string[];
  /** max-connections, when the user has that limit. */
  readonly maxConnections: number | null;
}

export interface Permissions {
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

export interface UserPermissions extends Permissions {
  readonly user: string;
}

export interface ConnectionsPage {
  readonly connections: ReadonlyArray<{ readonly user: string; readonly protocol: string }>;
  readonly pageCount: number;
}

export interface Whoami {
  readonly name: string;
  readonly tags: readonly string[];
}

/** 3.10 answers tags as a list; older nodes as one comma-separated string. */
function tagList(tags: unknown): string[] {
  if (Array.isArray(tags)) return tags.filter((tag): tag is string => typeof tag === 'string');
  if (typeof tags === 'string') return tags.split(',').map((tag) => tag.trim()).filter((tag) => tag !== '');
  return [];
}

export class ManagementApi {
  private readonly base: string;
  private readonly authorization: string;
  private readonly closing = new AbortController();

  constructor(private readonly options: ManagementApiOptions) {
    this.base = `${options.url.replace(/\/+$/, '')}/api`;
    this.authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  }

  async whoami(): Promise<Whoami> {
    const body = await this.json<{ name?: unknown; tags?: unknown }>('GET', '/whoami');
    if (typeof body.name !== 'string') throw this.badAnswer('GET', '/whoami', 'no user name');
    return { name: body.name, tags: tagList(body.tags) };
  }

  /** Whether the node keeps connection statistics (management_agent.disable_metrics_collector turns them off, and /api/connections is then empty). */
  async statisticsEnabled(): Promise<boolean> {
    const body = await this.json<{ disable_stats?: unknown }>('GET', '/overview?columns=disable_stats');
    return body.disable_stats !== true;
  }

  async users(): Promise<ManagedUser[]> {
    const path = '/users?columns=name,tags,limits';
    const body = await this.json<unknown>('GET', path);
    if (!Array.isArray(body)) throw this.badAnswer('GET', path, 'not a list');
    return body.map((entry) => this.userOf('GET', path, entry));
  }

  /** null when there is no such user. */
  async user(name: string): Promise<ManagedUser | null> {
    const path = `/users/${encodeURIComponent(name)}`;
    const body = await this.json<unknown>('GET', path, undefined, [404]);
    return body === null ? null : this.userOf('GET', path, body);
  }

  async permissions(vhost: string): Promise<UserPermissions[]> {
    const path = `/vhosts/${encodeURIComponent(vhost)}/permissions`;
    const body = await this.json<unknown>('GET', path);
    if (!Array.isArray(body)) throw this.badAnswer('GET', path, 'not a list');
    return body.map((entry) => {
      const { user, configure, write, read } = entry as Record<string, unknown>;
      if (typeof user !== 'string' || typeof configure !== 'string' || typeof write !== 'string' || typeof read !== 'string') throw this.badAnswer('GET', path, 'a permission without user, configure, write and read');
      return { user, configure, write, read };
    });
  }

  /** Creates or replaces a user that has no password (it logs in by certificate only). */
  async putUserWithoutPassword(name: string, tags: readonly string[]): Promise<void> {
    await this.send('PUT', `/users/${encodeURIComponent(name)}`, { password_hash: '', tags: tags.join(',') });
  }

  async putPermissions(vhost: string, user: string, permissions: Permissions): Promise<void> {
    await this.send('PUT', `/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(user)}`, permissions);
  }

  async setMaxConnections(user: string, value: number): Promise<void> {
    await this.send('PUT', `/user-limits/${encodeURIComponent(user)}/max-connections`, { value });
  }

  async clearMaxConnections(user: string): Promise<void> {
    await this.send('DELETE', `/user-limits/${encodeURIComponent(user)}/max-connections`, undefined, [404]);
  }

  /** Closes every connection of the user on every node (connection tracking, not statistics: immediate). */
  async closeConnectionsOf(user: string, reason: string): Promise<void> {
    await this.send('DELETE', `/connections/username/${encodeURIComponent(user)}`, undefined, [404], { 'x-reason': reason });
  }

  /** Deletes the users (unknown names are skipped by the node); RabbitMQ closes their connections too. */
  async deleteUsers(names: readonly string[]): Promise<void> {
    await this.send('POST', '/users/bulk-delete', { users: names });
  }

  /** Merges users and permissions into the node's definitions in one transaction per entity (POST /api/definitions). */
  async importUsers(users: ReadonlyArray<{ name: string; tags: readonly string[] }>, permissions: ReadonlyArray<UserPermissions & { vhost: string }>): Promise<void> {
    await this.send('POST', '/definitions', {
      users: users.map(({ name, tags }) => ({ name, password_hash: '', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: tags.join(',') })),
      permissions,
    });
  }

  async connectionsPage(page: number, pageSize: number): Promise<ConnectionsPage> {
    const path = `/connections?page=${page}&page_size=${pageSize}&columns=user,protocol`;
    const body = await this.json<{ items?: unknown; page_count?: unknown }>('GET', path, undefined, [400]);
    // 400 page_out_of_range: the list shrank between two pages.
    if (body === null) return { connections: [], pageCount: page - 1 };
    if (!Array.isArray(body.items) || typeof body.page_count !== 'number') throw this.badAnswer('GET', path, 'not a page of connections');
    const connections = body.items
      .map((item) => item as { user?: unknown; protocol?: unknown })
      .filter((item): item is { user: string; protocol: string } => typeof item.user === 'string' && typeof item.protocol === 'string');
    return { connections, pageCount: body.page_count };
  }

  /** Aborts requests in flight. */
  close(): void {
    this.closing.abort();
  }

  private userOf(method: string, path: string, entry: unknown): ManagedUser {
    const { name, tags, limits } = (entry ?? {}) as Record<string, unknown>;
    if (typeof name !== 'string') throw this.badAnswer(method, path, 'a user without a name');
    const maxConnections = limits && typeof limits === 'object' ? (limits as Record<string, unknown>)['max-connections'] : undefined;
    return { name, tags: tagList(tags), maxConnections: typeof maxConnections === 'number' ? maxConnections : null };
  }

  private badAnswer(method: string, path: string, detail: string): RabbitMqRequestError {
    return new RabbitMqRequestError(method, path, 'answer', 200, detail);
  }

  /** The parsed JSON body; null when the status is one of `absentOn`. */
  private async json<T>(method: string, path: string, body?: unknown, absentOn: readonly number[] = []): Promise<T> {
    const text = await this.request(method, path, body, absentOn);
    if (text === null) return null as T;
    try {
      return JSON.parse(text) as T;
    } catch (error) {
      throw new RabbitMqRequestError(method, path, 'answer', 200, `not JSON (${(error as Error).message})`);
    }
  }

  private async send(method: string, path: string, body?: unknown, absentOn: readonly number[] = [], headers: Record<string, string> = {}): Promise<void> {
    await this.request(method, path, body, absentOn, headers);
  }

  /** The body text; null when the status is one of `absentOn`. */
  private async request(method: string, path: string, body: unknown, absentOn: readonly number[], extraHeaders: Record<string, string> = {}): Promise<string | null> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs), this.closing.signal]);
    // No accept header on writes: PUT /api/user-limits answers 406 to "accept: application/json" (3.10.8; its answer has no body).
    const headers: Record<string, string> = { authorization: this.authorization, ...(method === 'GET' ? { accept: 'application/json' } : {}), ...extraHeaders };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let status: number | null = null;
    try {
      const response = await fetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
      status = response.status;
      const text = await response.text();
      if (absentOn.includes(response.status)) return null;
      if (!response.ok) throw new RabbitMqRequestError(method, path, 'status', response.status, text.slice(0, 300) || response.statusText);
      return text;
    } catch (error) {
      if (error instanceof RabbitMqRequestError) throw error;
      const name = (error as Error)?.name;
      if (name === 'TimeoutError') throw new RabbitMqRequestError(method, path, 'timeout', status, `no answer within ${this.options.timeoutMs} ms`, { cause: error });
      if (name === 'AbortError') throw new RabbitMqRequestError(method, path, 'unreachable', status, 'the adapter is closing', { cause: error });
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new RabbitMqRequestError(method, path, 'unreachable', status, cause?.code ?? cause?.message ?? (error as Error).message, { cause: error });
    }
  }
}
