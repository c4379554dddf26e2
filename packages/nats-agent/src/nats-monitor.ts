/**
 * What the agent reads from nats-server's HTTP monitoring endpoint (keep it
 * on loopback: it has no authentication): /varz for the version, the server
 * id and when the configuration was last loaded (which confirms a reload),
 * and /connz?auth=true for the user of every open client connection.
 * ServerMonitor is the port; HttpNatsMonitor talks to a real server.
 */
import { NatsMonitorError } from './errors.js';

export interface ServerVariables {
  readonly serverId: string;
  readonly version: string;
  /** config_load_time as printed (nanoseconds): changes with every successful reload. */
  readonly configLoadTime: string;
  /** The same, in ms since the epoch (sub-millisecond). */
  readonly configLoadTimeMs: number;
}

export interface ClientConnection {
  readonly cid: number;
  /** The user the connection authenticated as (with verify_and_map: the mapped user name); '' when none. */
  readonly user: string;
}

export abstract class ServerMonitor {
  abstract variables(): Promise<ServerVariables>;
  /** Every open client connection (all pages). */
  abstract connections(): Promise<ClientConnection[]>;
}

/** /connz page size: nats-server's own maximum default. */
const CONNZ_PAGE = 1024;

export class HttpNatsMonitor extends ServerMonitor {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5000,
  ) {
    super();
  }

  async variables(): Promise<ServerVariables> {
    const varz = await this.get<{ server_id?: unknown; version?: unknown; config_load_time?: unknown }>('/varz');
    if (typeof varz.server_id !== 'string' || typeof varz.version !== 'string' || typeof varz.config_load_time !== 'string') {
      throw new NatsMonitorError('/varz', 200, 'no server_id, version or config_load_time: not a nats-server monitoring endpoint');
    }
    const configLoadTimeMs = preciseTimeMs(varz.config_load_time);
    if (Number.isNaN(configLoadTimeMs)) throw new NatsMonitorError('/varz', 200, `config_load_time "${varz.config_load_time}" is not a time`);
    return { serverId: varz.server_id, version: varz.version, configLoadTime: varz.config_load_time, configLoadTimeMs };
  }

  async connections(): Promise<ClientConnection[]> {
    const all: ClientConnection[] = [];
    for (let offset = 0; ; ) {
      const path = `/connz?auth=true&offset=${offset}&limit=${CONNZ_PAGE}`;
      const page = await this.get<{ total?: unknown; connections?: unknown }>(path);
      if (!Array.isArray(page.connections) || typeof page.total !== 'number') throw new NatsMonitorError(path, 200, 'no connections list: not a nats-server monitoring endpoint');
      for (const connection of page.connections as Array<{ cid?: unknown; authorized_user?: unknown }>) {
        all.push({ cid: Number(connection.cid), user: typeof connection.authorized_user === 'string' ? connection.authorized_user : '' });
      }
      offset += page.connections.length;
      // Connections come and go between pages: stop at the first short page as well as at the total.
      if (page.connections.length < CONNZ_PAGE || offset >= page.total) return all;
    }
  }

  private async get<T>(path: string): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new NatsMonitorError(path, null, (error as Error).message, { cause: error });
    }
    if (!response.ok) throw new NatsMonitorError(path, response.status, (await response.text().catch(() => '')).slice(0, 200));
    try {
      return (await response.json()) as T;
    } catch (error) {
      throw new NatsMonitorError(path, response.status, `not JSON (${(error as Error).message})`, { cause: error });
    }
  }
}

/** An RFC 3339 time with up to nanoseconds ("2026-12-07T10:56:37.788567146Z") in ms since the epoch, keeping the sub-millisecond part. */
export function preciseTimeMs(text: string): number {
  const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!match) return Number.NaN;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  const fraction = match[2] ? Number(`0.${match[2]}`) * 1000 : 0;
  return seconds + fraction;
}
