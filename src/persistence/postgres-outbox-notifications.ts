/**
 * PostgresOutboxNotifications: hears every replica's outbox commits on
 * PostgreSQL (LISTEN on the channel the outbox insert notifies, delivered by
 * PostgreSQL when that transaction commits) and passes them to this
 * process's OutboxWakeup. So the relay and feed readers waiting on one
 * replica learn at once of an event committed by another, instead of at
 * their next poll. The poll stays as the fallback: a notification is lost
 * while this connection is down, and the wakeup after each reconnect covers
 * what was committed meanwhile.
 */
import { Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import pg from 'pg';
import type { OutboxWakeup } from '../events/outbox-wakeup.js';

/** The channel appendAllToOutbox notifies. */
export const OUTBOX_CHANNEL = 'ccm_outbox';

const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 30_000;

export class PostgresOutboxNotifications implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxNotifications');
  private client: pg.Client | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  private wakeFromBackoff: () => void = () => undefined;

  constructor(
    private readonly url: string,
    private readonly wakeup: OutboxWakeup,
  ) {}

  /** Resolves once listening (or after the first failure, which is retried in the background): a start does not wait on it for long. */
  async onApplicationBootstrap(): Promise<void> {
    let listening: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (listening = resolve));
    this.running = this.listenUntilClosed(listening);
    await first;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.closed = true;
    this.wakeFromBackoff();
    await this.client?.end().catch(() => undefined);
    await this.running;
  }

  /** True while the LISTEN connection is up (for the tests). */
  get listening(): boolean {
    return this.client !== null;
  }

  private async listenUntilClosed(firstAttemptDone: () => void): Promise<void> {
    for (let failures = 0; !this.closed; ) {
      const client = new pg.Client({ connectionString: this.url, application_name: 'ccm outbox listener' });
      const lost = new Promise<Error | null>((resolve) => {
        client.once('error', resolve);
        client.once('end', () => resolve(null));
      });
      client.on('notification', () => this.wakeup.notify());
      try {
        await client.connect();
        await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
        this.client = client;
        if (failures > 0) this.logger.log('listening for outbox commits again');
        failures = 0;
        firstAttemptDone();
        // What other replicas committed while nobody here listened is read now, not at the next poll.
        this.wakeup.notify();
        const error = await lost;
        if (!this.closed) this.logger.warn(`the outbox notification connection ended${error ? `: ${error.message}` : ''}; reconnecting (events of other replicas are found by polling meanwhile)`);
      } catch (error) {
        if (!this.closed) this.logger.warn(`cannot listen for outbox commits: ${(error as Error).message}; retrying (events of other replicas are found by polling meanwhile)`);
        firstAttemptDone();
      }
      this.client = null;
      await client.end().catch(() => undefined);
      if (this.closed) return;
      failures += 1;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** Math.min(failures - 1, 10)));
        this.wakeFromBackoff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
