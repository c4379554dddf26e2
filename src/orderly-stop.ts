/**
 * The orderly stop of a ccm process on SIGTERM or SIGINT, in the order that
 * loses nothing:
 *
 * 1. The listener closes: new connections are refused (a load balancer or
 *    Kubernetes sends them to another replica) and idle keep-alive
 *    connections are closed.
 * 2. Feed reads waiting for an event answer at once. Requests already in
 *    flight run to completion, for up to the grace
 *    period. Every answer sent meanwhile carries `Connection: close`, so its
 *    connection ends with it and the client's next request goes elsewhere;
 *    connections still busy at the deadline are cut.
 * 3. The application closes (Nest's hooks): the outbox relay finishes the
 *    batch in hand and stops, leaving what it had not published in the
 *    outbox for another replica or the next start; the audit log writes what
 *    it holds; Redis and database connections close.
 * 4. The process exits 0, or 1 when a step failed or the whole stop overran.
 *
 * Nest's enableShutdownHooks() does not give this order: it stops the relay
 * before it closes the HTTP server, so events of the last requests waited for
 * the next start, and Node keeps a connection whose answer went out during
 * the close open for the keep-alive timeout (Fastify's 72 s) before the
 * process could exit. It also ends by re-raising the signal, so the exit code
 * said "killed" rather than "stopped".
 */
import type { Server } from 'node:http';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** What the stop may take beyond the grace period (the relay's batch, the audit flush, closing pools) before the process gives up on it. */
const CLOSE_ALLOWANCE_MS = 15_000;
/** How often connections that turned idle while draining are closed. */
const IDLE_SWEEP_MS = 100;
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

export class OrderlyStop {
  private readonly logger = new Logger('Shutdown');
  private draining = false;
  private stopping: Promise<void> | null = null;

  /** Call before the application listens: the hook that ends connections while draining is registered here. */
  constructor(
    private readonly app: NestFastifyApplication,
    private readonly graceMs: number,
    /** Called as the drain begins: what holds requests open on purpose (feed reads waiting for an event) lets them go. */
    private readonly onDrain: () => void = () => undefined,
  ) {
    app
      .getHttpAdapter()
      .getInstance()
      .addHook('onSend', (_request, reply, payload, done) => {
        if (this.draining) void reply.header('connection', 'close');
        done(null, payload);
      });
  }

  /** Stops on the first SIGTERM or SIGINT and exits; a repeated signal does not cut the stop short (the deadlines bound it). */
  exitOnSignals(): void {
    for (const signal of STOP_SIGNALS) {
      process.on(signal, () => {
        if (this.stopping) return;
        const overran = setTimeout(() => {
          this.logger.error(`the stop did not finish within ${this.graceMs + CLOSE_ALLOWANCE_MS} ms; exiting`);
          process.exit(1);
        }, this.graceMs + CLOSE_ALLOWANCE_MS);
        overran.unref();
        this.stop(signal).then(
          () => process.exit(0),
          (error: unknown) => {
            this.logger.error(`the stop failed: ${error instanceof Error ? error.message : String(error)}`, error instanceof Error ? error.stack : undefined);
            process.exit(1);
          },
        );
      });
    }
  }

  /** Runs steps 1 to 3 once; later calls get the same promise. */
  stop(reason: string): Promise<void> {
    this.stopping ??= this.run(reason);
    return this.stopping;
  }

  private async run(reason: string): Promise<void> {
    const startedAt = Date.now();
    const server = this.app.getHttpServer() as Server;
    this.draining = true;
    this.onDrain();
    // The listener closes before anything else here is awaited: no connection arrives after the signal has been handled.
    const closed = this.closeHttpServer(server);
    const open = await new Promise<number>((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
    this.logger.log(`${reason}: stopping; new connections are refused, ${open} open connection(s) get up to ${this.graceMs} ms to finish their requests`);
    const cut = await closed;
    this.logger.log(`HTTP server closed after ${Date.now() - startedAt} ms${cut ? ' (connections of unfinished requests were cut at the deadline)' : ''}`);
    await this.app.close();
    this.logger.log(`stopped in ${Date.now() - startedAt} ms`);
  }

  /** Resolves once every connection has ended; true when some had to be cut at the grace deadline. */
  private closeHttpServer(server: Server): Promise<boolean> {
    return new Promise((resolve) => {
      let cut = false;
      const deadline = setTimeout(() => {
        cut = true;
        this.logger.warn(`grace period of ${this.graceMs} ms is over: closing the connections of requests still running`);
        server.closeAllConnections();
      }, this.graceMs);
      // An answer already on its way when draining began went out without Connection: close; its connection turns
      // idle afterwards and would otherwise stay open for the keep-alive timeout.
      const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
      // close() stops listening and closes idle connections at once; its callback runs when the last busy one has ended.
      server.close(() => {
        clearTimeout(deadline);
        clearInterval(sweep);
        resolve(cut);
      });
    });
  }
}
