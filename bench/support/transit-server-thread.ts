/**
 * The Transit test server on a thread of its own, the way a real Vault has
 * its own cores: its request handling and signing then no longer share the
 * event loop (and CPU account) of the ccm code under measurement.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { TransitServer, type TransitServerOptions } from '../../test/support/transit-server.js';

type Request = 'sign-requests' | 'stop';
type Reply = { readonly address: string; readonly rootToken: string } | { readonly signRequests: number } | { readonly stopped: true };

export class TransitServerThread {
  private constructor(
    private readonly worker: Worker,
    readonly address: string,
    readonly rootToken: string,
  ) {}

  static async start(options: TransitServerOptions): Promise<TransitServerThread> {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: options });
    const started = (await reply(worker)) as { address: string; rootToken: string };
    return new TransitServerThread(worker, started.address, started.rootToken);
  }

  /** Sign requests the server has received so far. */
  async signRequests(): Promise<number> {
    this.worker.postMessage('sign-requests' satisfies Request);
    return ((await reply(this.worker)) as { signRequests: number }).signRequests;
  }

  async stop(): Promise<void> {
    this.worker.postMessage('stop' satisfies Request);
    await reply(this.worker);
    await this.worker.terminate();
  }
}

function reply(worker: Worker): Promise<Reply> {
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (message: Reply) => {
      worker.off('error', reject);
      resolve(message);
    });
  });
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  const server = new TransitServer(workerData as TransitServerOptions);
  const address = await server.start();
  port.on('message', (request: Request) => {
    if (request === 'sign-requests') port.postMessage({ signRequests: server.stats.signRequests } satisfies Reply);
    else void server.stop().then(() => port.postMessage({ stopped: true } satisfies Reply));
  });
  port.postMessage({ address, rootToken: server.rootToken } satisfies Reply);
}
