/**
 * The agent's own HTTP endpoint, for the orchestrator and for Prometheus:
 *   GET /healthz  200 while the process runs (liveness)
 *   GET /readyz   200 once the first reconciliation is done and the broker
 *                 and the event source answer; 503 with the reasons otherwise
 *   GET /metrics  Prometheus text
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  /** Reasons the agent is not ready; empty when it is. */
  notReady(): string[];
}

export class HealthServer {
  private constructor(private readonly server: Server) {}

  static listen(host: string, port: number, readiness: Readiness, registry: Registry): Promise<HealthServer> {
    const server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/healthz') {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      } else if (path === '/readyz') {
        const reasons = readiness.notReady();
        response.writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: reasons.length === 0 ? 'ready' : 'not ready', reasons }));
      } else if (path === '/metrics') {
        registry.metrics().then(
          (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(String((error as Error).message)),
        );
      } else {
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"status":"not found"}');
      }
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(new HealthServer(server));
      });
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
