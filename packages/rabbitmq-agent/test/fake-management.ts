/**
 * A small stand-in for RabbitMQ's management API (node:http on 127.0.0.1):
 * users with tags and max-connections limits, vhost permissions,
 * definitions import, bulk delete, connections by user. It records every
 * request so tests can assert what the adapter sent, and can be told to
 * fail or hang. Shapes follow what RabbitMQ 3.10.8 answers (checked against
 * a real node in test/medium/rabbitmq-adapter.test.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  /** Decoded path without the /api prefix and the query. */
  readonly path: string;
  readonly query: string;
  readonly body: unknown;
}

interface FakeUser {
  tags: string[];
  maxConnections: number | null;
}

export class FakeManagementApi {
  readonly requests: RecordedRequest[] = [];
  readonly users = new Map<string, FakeUser>();
  /** vhost → user → permissions. */
  readonly permissions = new Map<string, Map<string, { configure: string; write: string; read: string }>>();
  /** Users of live MQTT connections (one each). */
  readonly connections: string[] = [];
  /** Whether deleting a user drops its connections, as RabbitMQ's connection tracking does (false: one outlives it). */
  dropConnectionsOfDeletedUsers = true;
  /** Answer every request matching this with a status (e.g. 500), or never. */
  failWith: { status: number | 'hang'; matching: (request: RecordedRequest) => boolean } | null = null;
  private readonly hanging: ServerResponse[] = [];

  private constructor(
    private readonly server: Server,
    readonly agentTags: string[],
  ) {}

  static async start(agentTags: string[] = ['administrator']): Promise<FakeManagementApi> {
    const server = createServer();
    const fake = new FakeManagementApi(server, agentTags);
    server.on('request', (request, response) => void fake.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests other than reads, as "METHOD path". */
  writes(): string[] {
    return this.requests.filter((request) => request.method !== 'GET').map((request) => `${request.method} ${request.path}`);
  }

  addUser(name: string, tags: string[], maxConnections: number | null = null, permissions: { configure: string; write: string; read: string } | null = null, vhost = '/'): void {
    this.users.set(name, { tags, maxConnections });
    if (permissions) this.vhostPermissions(vhost).set(name, permissions);
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private vhostPermissions(vhost: string): Map<string, { configure: string; write: string; read: string }> {
    let permissions = this.permissions.get(vhost);
    if (!permissions) this.permissions.set(vhost, (permissions = new Map()));
    return permissions;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    const [rawPath, query = ''] = (request.url ?? '').split('?');
    const segments = rawPath!.replace(/^\/api/, '').split('/').map(decodeURIComponent);
    const recorded: RecordedRequest = { method: request.method ?? 'GET', path: segments.join('/'), query, body: text ? JSON.parse(text) : undefined };
    this.requests.push(recorded);
    if (this.failWith?.matching(recorded)) {
      if (this.failWith.status === 'hang') {
        this.hanging.push(response);
        return;
      }
      response.writeHead(this.failWith.status, { 'content-type': 'application/json' }).end('{"error":"internal_server_error","reason":"injected"}');
      return;
    }
    const reply = (status: number, body?: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
    };
    const [, resource, a, b, c] = segments;
    const key = `${recorded.method} ${resource}`;
    const body = recorded.body as Record<string, unknown> | undefined;
    switch (true) {
      case key === 'GET whoami':
        return reply(200, { name: 'ccm-agent', tags: this.agentTags });
      case key === 'GET overview':
        return reply(200, { disable_stats: false });
      case key === 'GET users' && a === undefined:
        return reply(200, [...this.users].map(([name, user]) => ({ name, tags: user.tags, limits: user.maxConnections === null ? {} : { 'max-connections': user.maxConnections } })));
      case key === 'GET users': {
        const user = this.users.get(a!);
        return user ? reply(200, { name: a, tags: user.tags, limits: user.maxConnections === null ? {} : { 'max-connections': user.maxConnections } }) : reply(404, { error: 'Object Not Found', reason: 'Not Found' });
      }
      case key === 'PUT users':
        this.users.set(a!, { tags: String(body!['tags']).split(','), maxConnections: this.users.get(a!)?.maxConnections ?? null });
        return reply(201);
      case key === 'POST users' && a === 'bulk-delete':
        for (const name of body!['users'] as string[]) this.deleteUser(name);
        return reply(204);
      case key === 'GET vhosts' && b === 'permissions':
        return reply(200, [...this.vhostPermissions(a!)].map(([user, permissions]) => ({ vhost: a, user, ...permissions })));
      case key === 'PUT permissions':
        this.vhostPermissions(a!).set(b!, body as never);
        return reply(201);
      case key === 'PUT user-limits' && b === 'max-connections':
        this.users.get(a!)!.maxConnections = Number(body!['value']);
        return reply(204);
      case key === 'DELETE user-limits' && b === 'max-connections':
        if (this.users.get(a!)) this.users.get(a!)!.maxConnections = null;
        return reply(204);
      case key === 'GET connections' && a === 'username':
        return reply(200, this.connections.filter((user) => user === b).map((user) => ({ name: `127.0.0.1:1 -> 127.0.0.1:8883`, vhost: '/', user, node: 'rabbit@fake' })));
      case key === 'DELETE connections' && a === 'username':
        this.dropConnections(b!);
        return reply(204);
      case key === 'POST definitions':
        for (const user of body!['users'] as Array<{ name: string; tags: string }>) this.users.set(user.name, { tags: user.tags.split(','), maxConnections: null });
        for (const permission of body!['permissions'] as Array<{ user: string; vhost: string; configure: string; write: string; read: string }>) {
          this.vhostPermissions(permission.vhost).set(permission.user, { configure: permission.configure, write: permission.write, read: permission.read });
        }
        return reply(204);
      case key === 'GET connections': {
        const parameters = new URLSearchParams(query);
        const page = Number(parameters.get('page'));
        const size = Number(parameters.get('page_size'));
        const pageCount = Math.ceil(this.connections.length / size);
        if (page > Math.max(pageCount, 1)) return reply(400, { error: 'page_out_of_range' });
        const items = this.connections.slice((page - 1) * size, page * size).map((user) => ({ user, protocol: 'MQTT 3.1.1' }));
        return reply(200, { items, page, page_count: pageCount, total_count: this.connections.length });
      }
      default:
        void c;
        return reply(404, { error: 'Object Not Found', reason: `no fake route for ${key}` });
    }
  }

  private deleteUser(name: string): void {
    this.users.delete(name);
    for (const permissions of this.permissions.values()) permissions.delete(name);
    if (this.dropConnectionsOfDeletedUsers) this.dropConnections(name);
  }

  private dropConnections(user: string): void {
    for (let i = this.connections.length - 1; i >= 0; i--) if (this.connections[i] === user) this.connections.splice(i, 1);
  }
}
