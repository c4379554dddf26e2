/**
 * A TCP forwarder on 127.0.0.1 that a test can cut (or freeze) and restore,
 * to take a real service (Redis, PostgreSQL) away from ccm, or hang it, and
 * give it back on the same address.
 */
import net from 'node:net';

type Pair = [client: net.Socket, upstream: net.Socket];

function connect([client, upstream]: Pair): void {
  client.pipe(upstream).pipe(client);
}

export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly pairs = new Set<Pair>();
  private frozen = false;
  private port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      const pair: Pair = [client, upstream];
      this.pairs.add(pair);
      if (this.frozen) client.pause();
      else connect(pair);
      client.on('close', () => {
        upstream.destroy();
        this.pairs.delete(pair);
      });
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address && typeof address === 'object') this.port = address.port;
    this.server = server;
  }

  /**
   * A hung service: connections stay open and new ones are accepted, but no
   * byte passes in either direction until `thaw()`.
   */
  freeze(): void {
    this.frozen = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Lets the held bytes through and forwards again. */
  thaw(): void {
    this.frozen = false;
    for (const pair of this.pairs) connect(pair);
  }

  /** Refuses new connections and drops the open ones, as a dead Redis would. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
