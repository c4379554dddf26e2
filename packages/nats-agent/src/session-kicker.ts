/**
 * Closing one client connection by its id, where nats-server offers it:
 * `$SYS.REQ.SERVER.<server id>.KICK` with {"cid": n}, from 2.10.0 on, asked
 * over a connection of a system-account user. The reload already closes the
 * connections of removed users on every version; the kick is for those the
 * agent still finds open after it (the adapter waits for them either way).
 * On 2.9 the subject has no responder (503): the kicker says "unsupported"
 * and the adapter relies on the reload alone.
 */
import { readFile } from 'node:fs/promises';
import { connect, ErrorCode, type NatsConnection, type NatsError } from 'nats';
import { NatsAdapterError } from './errors.js';

export type KickOutcome = 'kicked' | 'gone' | 'unsupported';

export abstract class SessionKicker {
  /** Asks the server to close connection `cid`; 'gone' when it has no such connection any more. */
  abstract kick(serverId: string, cid: number): Promise<KickOutcome>;
  abstract close(): Promise<void>;
}

export interface SystemAccountCredentials {
  /** nats:// or tls:// URL of the client listener. */
  readonly url: string;
  /** With verify_and_map every client presents a certificate: the one mapped to the system-account user, PEM files. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA of nats-server's own certificate. */
  readonly caFile: string;
}

export class KickFailedError extends NatsAdapterError {}

export class SystemAccountKicker extends SessionKicker {
  private connection: Promise<NatsConnection> | null = null;

  constructor(
    private readonly credentials: SystemAccountCredentials,
    private readonly timeoutMs = 2000,
  ) {
    super();
  }

  async kick(serverId: string, cid: number): Promise<KickOutcome> {
    const connection = await this.connected();
    let answer: { error?: { code?: number; description?: string } };
    try {
      const reply = await connection.request(`$SYS.REQ.SERVER.${serverId}.KICK`, JSON.stringify({ cid }), { timeout: this.timeoutMs });
      answer = JSON.parse(new TextDecoder().decode(reply.data)) as typeof answer;
    } catch (error) {
      if ((error as NatsError).code === ErrorCode.NoResponders) return 'unsupported';
      throw new KickFailedError(`kick of connection ${cid} failed: ${(error as Error).message}`, { cause: error });
    }
    if (answer.error) {
      // The connection closed between the listing and the kick (the reload got there first).
      if (answer.error.code === 404 || /not found|no (such )?(client|connection)/i.test(answer.error.description ?? '')) return 'gone';
      throw new KickFailedError(`kick of connection ${cid} refused: ${answer.error.description ?? JSON.stringify(answer.error)}`);
    }
    return 'kicked';
  }

  async close(): Promise<void> {
    const pending = this.connection;
    this.connection = null;
    if (pending) await (await pending.catch(() => null))?.close();
  }

  private connected(): Promise<NatsConnection> {
    if (!this.connection) {
      const attempt = (async () => {
        const [cert, key, ca] = await Promise.all([readFile(this.credentials.certFile, 'utf8'), readFile(this.credentials.keyFile, 'utf8'), readFile(this.credentials.caFile, 'utf8')]);
        return connect({ servers: this.credentials.url, tls: { cert, key, ca }, name: 'ccm-nats-agent', reconnect: true, maxReconnectAttempts: -1, timeout: this.timeoutMs });
      })();
      this.connection = attempt;
      // A failed connect is not kept: the next kick tries again.
      attempt.catch(() => {
        if (this.connection === attempt) this.connection = null;
      });
    }
    return this.connection.catch((error: unknown) => {
      throw new KickFailedError(`cannot connect as the system-account user to ${this.credentials.url}: ${(error as Error).message}`, { cause: error });
    });
  }
}
