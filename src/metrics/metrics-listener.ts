/**
 * The metrics listener: a plain HTTP server of its own (CCM_METRICS_HOST,
 * CCM_METRICS_PORT) that answers GET /metrics and nothing else, without
 * authentication, like Boulder's debug address. It is never the API's
 * port: the API's access rules, rate limits and audit trail do not apply to
 * a scraper, and what it shows is for the operator's network only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Exposition {
  readonly contentType: string;
  /** The text exposition format; rejects when the metrics cannot be gathered. */
  text(): Promise<string>;
}

export class MetricsListener {
  private server: Server | null = null;

  constructor(
    private readonly exposition: Exposition,
    /** Told of a scrape that failed (the scraper gets a 500 without details). */
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Listens on host:port (0: an ephemeral port); resolves with the address bound. */
  async listen(host: string, port: number): Promise<AddressInfo> {
    const server = createServer((request, response) => void this.answer(request, response));
    // A scraper's connection is short-lived; nothing here should hold a shutdown up.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  /** The bound address, or null before listen() and after close(). */
  address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null | undefined) ?? null;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') return plain(response, 404, 'not found: metrics are at /metrics\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return plain(response, 405, 'method not allowed\n');
    }
    let text: string;
    try {
      text = await this.exposition.text();
    } catch (error) {
      this.onError(error);
      return plain(response, 500, 'metrics could not be gathered\n');
    }
    response.writeHead(200, { 'content-type': this.exposition.contentType, 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : text);
  }
}

function plain(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(text);
}

/** An IPv6 address goes in brackets in a URL. */
export function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
