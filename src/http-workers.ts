/**
 * Several HTTP worker processes on one port (node:cluster), so a CA under
 * load uses every core: issuance and authentication are CPU-bound, and one
 * Node.js process runs JavaScript on one core. Each worker is a full replica
 * (its own database pool, caches and relay), exactly as two ccm instances
 * behind a load balancer would be; the primary only starts and supervises.
 *
 * The first worker starts alone: it runs the migrations and creates what a
 * first start creates (platform CA, key-encryption key, administrator key),
 * so the others find all of it in place instead of racing for it.
 */
import cluster, { type Worker } from 'node:cluster';

/** What a worker tells the primary once its server accepts connections. */
export const WORKER_LISTENING = 'ccm:listening';

/** A worker that dies this soon after it started is failing to start, not crashing under load: stop instead of looping. */
const RESTART_GRACE_MS = 10_000;

export function isWorkerProcess(): boolean {
  return cluster.isWorker;
}

export function announceListening(): void {
  process.send?.(WORKER_LISTENING);
}

/**
 * Runs in the primary: starts `count` workers, one first and the rest once it
 * listens; replaces a worker that exits unexpectedly; on SIGTERM or SIGINT
 * stops them all (each drains as a single instance does) and exits.
 * Resolves once every worker listens.
 */
export function superviseWorkers(count: number, log: (message: string) => void): Promise<void> {
  let stopping = false;
  const startedAt = new Map<number, number>();

  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork();
      startedAt.set(worker.id, Date.now());
      const onMessage = (message: unknown) => {
        if (message !== WORKER_LISTENING) return;
        worker.off('exit', onEarlyExit);
        resolve(worker);
      };
      const onEarlyExit = (code: number | null) => reject(new Error(`worker ${worker.process.pid} exited with ${code} before it listened`));
      worker.on('message', onMessage);
      worker.once('exit', onEarlyExit);
    });

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    const lived = Date.now() - (startedAt.get(worker.id) ?? 0);
    startedAt.delete(worker.id);
    if (lived < RESTART_GRACE_MS) return;
    log(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    fork().catch((error: unknown) => {
      log(`could not replace worker: ${(error as Error).message}; stopping`);
      stop(1);
    });
  });

  const stop = (exitCode: number) => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(exitCode);
    for (const worker of workers) worker?.process.kill('SIGTERM');
    if (exitCode !== 0) setTimeout(() => process.exit(exitCode), 15_000).unref();
    else process.exitCode = 0;
  };
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));

  return (async () => {
    try {
      await fork();
      await Promise.all(Array.from({ length: count - 1 }, () => fork()));
    } catch (error) {
      stop(1);
      throw error;
    }
  })();
}
