/**
 * The agent's ports: what the revocation enforcer needs from the outside
 * world, as small abstract classes. Adapters: ccm over HTTP (ccm-http.ts),
 * the crlfile on disk (crl-file.ts), a signal to the Mosquitto process
 * (process-signaller.ts) and Mosquitto's dynamic-security control API over
 * MQTT (dynsec-control.ts). Unit tests put fakes behind the same ports.
 */
import type { TenantCrl } from './crl.js';

export type CertificateState = 'inactive' | 'active' | 'suspended' | 'revoked';

/** What the agent needs to know about a certificate now (not what an event said about it then). */
export interface CertificateStatus {
  readonly id: string;
  readonly tenantId: string;
  readonly authorityId: string;
  /** Lower-case hex, no leading zeros. */
  readonly serialNumber: string;
  readonly commonName: string;
  readonly state: CertificateState;
}

/** The tenant root CA's current CRL, signature-checked against that CA. */
export abstract class CrlSource {
  abstract currentCrl(tenantId: string): Promise<TenantCrl>;
}

/** ccm's view of certificates and authorities. */
export abstract class CertificateDirectory {
  /** null when ccm does not know the certificate in that tenant. */
  abstract certificate(tenantId: string, certificateId: string): Promise<CertificateStatus | null>;
  /** Every revoked certificate the authority issued (an authority's revocation revokes them all). */
  abstract revokedCertificatesOf(tenantId: string, authorityId: string): Promise<CertificateStatus[]>;
  /** The id of the CA whose CRL `CrlSource.currentCrl(tenantId)` serves. */
  abstract tenantRootAuthorityId(tenantId: string): Promise<string>;
}

/** The file Mosquitto reads its CRLs from (`crlfile`). */
export abstract class CrlFile {
  /** Replaces the whole file at once: a reader sees the old content or the new, never a mix or nothing. */
  abstract install(pemBundle: string): Promise<void>;
}

/** Makes the running broker read its configuration (and so the crlfile) again. */
export abstract class BrokerReloader {
  /** Asks for the reload. false when no broker is running to ask (it reads the file when it starts). */
  abstract reload(): Promise<boolean>;
}

/** Mosquitto's dynamic-security plugin, spoken to as its admin. */
export abstract class BrokerControl {
  /**
   * Marks the clients disabled and disconnects their live sessions; clients
   * that do not exist yet are created first (a kick needs a client).
   */
  abstract disableClients(usernames: readonly string[]): Promise<void>;
  /** Marks the clients enabled again; clients that do not exist are left alone. */
  abstract enableClients(usernames: readonly string[]): Promise<void>;
  /** Resolves once the broker is done with what it had been asked before the call, a reload included. */
  abstract settled(): Promise<void>;
}

/** Time, for the decision logic: tests drive it by hand. */
export abstract class AgentClock {
  abstract now(): Date;
  /** Runs `callback` after `ms`; the returned function cancels it. */
  abstract schedule(ms: number, callback: () => void): () => void;
  abstract sleep(ms: number): Promise<void>;
}

export class SystemAgentClock extends AgentClock {
  now(): Date {
    return new Date();
  }
  schedule(ms: number, callback: () => void): () => void {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return () => clearTimeout(timer);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

/** Structured log lines; the fields are what an operator greps for. */
export abstract class AgentLog {
  abstract error(message: string, fields?: Record<string, unknown>): void;
  abstract warn(message: string, fields?: Record<string, unknown>): void;
  abstract info(message: string, fields?: Record<string, unknown>): void;
  abstract debug(message: string, fields?: Record<string, unknown>): void;
}
