/**
 * The Mosquitto adapter's own ports: what MosquittoAdapter needs from the
 * outside world besides the core, as small abstract classes. Adapters: ccm
 * over HTTP (ccm-crl-source.ts), the crlfile on disk (crl-file.ts), a signal
 * to the Mosquitto process (process-signaller.ts) and Mosquitto's
 * dynamic-security control API over MQTT (dynsec-control.ts). The package's
 * unit tests put fakes behind the same ports.
 */
import type { TenantCrl } from './crl.js';

/** The CRLs of the tenant's root CAs in force, each signature-checked against its CA. */
export abstract class CrlSource {
  abstract currentCrl(tenantId: string): Promise<TenantCrl>;
}

/** What the agent last told a running Mosquitto to read: the bundle (by SHA-256) and the broker's pid then. */
export interface ReloadRecord {
  readonly sha256: string;
  readonly pid: number;
}

/** The file Mosquitto reads its CRLs from (`crlfile`), and the agent's note of what it last made Mosquitto read. */
export abstract class CrlFile {
  /** Replaces the whole file at once: a reader sees the old content or the new, never a mix or nothing. */
  abstract install(pemBundle: string): Promise<void>;
  /** The file's content now; null when there is none. */
  abstract read(): Promise<string | null>;
  /** What recordReload last wrote; null when nothing was recorded (or it cannot be read). */
  abstract lastReload(): Promise<ReloadRecord | null>;
  /** Notes that the running broker was signalled to read the bundle with this digest. */
  abstract recordReload(record: ReloadRecord): Promise<void>;
}

/** Makes the running broker read its configuration (and so the crlfile) again. */
export abstract class BrokerReloader {
  /** The pid of the running broker; null when none runs. */
  abstract runningPid(): Promise<number | null>;
  /** Asks for the reload; the pid signalled, or null when no broker is running to ask (it reads the file when it starts). */
  abstract reload(): Promise<number | null>;
}

/** Mosquitto's dynamic-security plugin, spoken to as its admin. */
export abstract class BrokerControl {
  /** Whether the admin connection is up now (mqtt.js keeps reconnecting it). */
  abstract readonly connected: boolean;
  /**
   * Marks the clients disabled and disconnects their live sessions; clients
   * that do not exist yet are created first (a kick needs a client).
   */
  abstract disableClients(usernames: readonly string[]): Promise<void>;
  /**
   * Undoes disableClients: deletes the clients it created and enables any
   * other (an operator's own); clients that do not exist are left alone.
   * Deleting a client kicks a live session of it, so call this while the
   * device is still refused (before the CRL that lets it in).
   */
  abstract releaseClients(usernames: readonly string[]): Promise<void>;
  /** The usernames of every client the plugin holds disabled. */
  abstract disabledClients(): Promise<ReadonlySet<string>>;
  /** One command round trip: throws when the broker does not answer. */
  abstract roundTrip(): Promise<void>;
  /** Resolves once the broker is done with what it had been asked before the call, a reload included. */
  abstract settled(): Promise<void>;
  abstract close(): Promise<void>;
}

/** Time for the adapter's waits and timers (re-kicks, CRL refresh): tests drive it by hand. */
export abstract class AdapterClock {
  abstract now(): Date;
  /** Runs `callback` after `ms`; the returned function cancels it. */
  abstract schedule(ms: number, callback: () => void): () => void;
  abstract sleep(ms: number): Promise<void>;
}

export class SystemAdapterClock extends AdapterClock {
  now(): Date {
    return new Date();
  }
  schedule(ms: number, callback: () => void): () => void {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return () => clearTimeout(timer);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  }
}
