/**
 * Readiness of Redis (when CCM_REDIS_URL is set): a PING on a connection of
 * the probe's own, so that a probe never waits behind the relay's BullMQ
 * traffic and the relay never sees the probe's. Like the relay's connection,
 * it queues nothing while Redis is away (a probe then fails at once, naming
 * the last connection error) and reconnects in the background, so readiness
 * recovers within one retry interval of Redis coming back. Closed on shutdown.
 */
import { once } from 'node:events';
import { Redis } from 'ioredis';

/** Statuses in which the connection is still being made for the first time (or after connect() was asked for). */
const CONNECTING = new Set(['wait', 'connecting', 'connect']);

export class RedisProbe {
  private readonly connection: Redis;
  private lastError: string | null = null;

  constructor(redisUrl: string) {
    this.connection = new Redis(redisUrl, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      connectionName: 'ccm-readiness',
      retryStrategy: (attempt) => Math.min(attempt * 250, 1000),
    });
    // ioredis error messages name host and port, never the password of the URL.
    this.connection.on('error', (error: Error) => {
      this.lastError = error.message;
    });
    this.connection.on('ready', () => {
      this.lastError = null;
    });
  }

  /** Resolves on PONG; rejects with a log-safe reason. `signal` (the check's timeout) cuts a wait for the first connection short. */
  async ping(signal: AbortSignal): Promise<void> {
    if (this.connection.status === 'wait') this.connection.connect().catch(() => undefined);
    // once() rejects on the 'error' event too: a refused first connection fails the probe at once.
    if (CONNECTING.has(this.connection.status)) await once(this.connection, 'ready', { signal });
    if (this.connection.status !== 'ready') {
      throw new Error(`not connected (${this.connection.status}${this.lastError ? `: ${this.lastError}` : ''})`);
    }
    let answer: string;
    try {
      answer = await this.connection.ping();
    } catch (error) {
      // Redis went away since the status was read (the socket's close not yet processed): say so, with what ioredis saw.
      throw new Error(`PING failed (${this.connection.status}): ${(error as Error).message}`);
    }
    if (answer !== 'PONG') throw new Error(`PING answered ${JSON.stringify(answer).slice(0, 40)}`);
  }

  close(): void {
    this.connection.disconnect();
  }
}
