/**
 * The port every broker adapter implements, and the records the core hands
 * it. The core (this package) decides, per device identity, whether the
 * device may be connected; an adapter only carries the decision out on its
 * broker. Adapters: @ccm/mosquitto-agent (CRL + dynamic security),
 * @ccm/rabbitmq-agent (management API), @ccm/nats-agent (authorization
 * file + reload, or the server's kick where it has one).
 *
 * Contract for every method that takes devices:
 * - idempotent: asking for what is already so changes nothing on the broker
 *   (no reload, no write, no session touched), so a restarted agent that
 *   reconciles against a broker already in the right state leaves it alone;
 * - batched: a burst arrives as one call; an adapter makes as few broker
 *   calls (reloads, file writes) as the batch allows;
 * - it throws when the broker did not (or may not have) done it; the core
 *   retries with backoff and never counts the device as enforced meanwhile;
 * - it never touches an identity it was not given.
 */

export type CertificateState = 'inactive' | 'active' | 'suspended' | 'revoked';

/** A certificate as ccm knows it now (read from ccm's API, not from an event). */
export interface CertificateStatus {
  readonly id: string;
  readonly tenantId: string;
  /** The CA that issued it. */
  readonly authorityId: string;
  /** Lower-case hex, no leading zeros, as ccm's API prints it. */
  readonly serialNumber: string;
  /** Subject DN, RFC 4514 as ccm's API prints it (most significant RDN last, e.g. "CN=sensor-1,O=Acme"). */
  readonly subject: string;
  /** The subject's CN; '' when it has none. */
  readonly commonName: string;
  readonly state: CertificateState;
  readonly notAfter: Date;
  /**
   * Its subject alternative names as ccm recorded them (ccm's own client
   * certificates carry one URI, `urn:uuid:<id>`). Absent where they are not
   * known: the view taken from an event before ccm answered, or an older ccm.
   */
  readonly subjectAltNames?: SubjectAltNames;
}

export interface SubjectAltNames {
  readonly dns?: readonly string[];
  readonly uri?: readonly string[];
  readonly email?: readonly string[];
  readonly ip?: readonly string[];
}

/** One device identity, as the broker's identity mapping names it, with every certificate ccm has for it. */
export interface Device {
  /** What the broker calls the holder of the certificate (BrokerAdapter.identityOf). */
  readonly identity: string;
  /** Every certificate, in the served tenants, that maps to this identity. Never empty. */
  readonly certificates: readonly CertificateStatus[];
}

export abstract class BrokerAdapter {
  /** 'mosquitto' | 'rabbitmq' | 'nats': used in logs and metric labels. */
  abstract readonly broker: string;

  /**
   * Broker calls the core keeps under way at once. Enough that a burst is not
   * queued behind one slow call, few enough that calls stay batched; an
   * adapter that batches calls itself (NATS: every call joins the next
   * reload) asks for more.
   */
  readonly roundsAtOnce: number = 4;

  /**
   * How the broker's identity mapping names the holder of this certificate
   * (Mosquitto: the CN; RabbitMQ: the DN as RabbitMQ formats it; NATS: the
   * DN as nats-server matches it). null when the certificate cannot log in
   * to this broker at all (no CN where one is needed).
   */
  abstract identityOf(certificate: CertificateStatus): string | null;

  /** Connects to the broker and reads what it needs to be idempotent (who it holds shut out). Called once, before anything else. */
  abstract start(): Promise<void>;

  /**
   * Identities with a live session now. null when the broker cannot tell
   * (the core then treats every identity it must keep out as possibly live).
   */
  abstract listSessions(): Promise<ReadonlySet<string> | null>;

  /** Suspended: ends the live sessions and refuses reconnects until letBackIn. */
  abstract shutOut(devices: readonly Device[]): Promise<void>;

  /** In force (new, or reactivated): lets the identities connect, creating what the broker needs for them to log in. */
  abstract letBackIn(devices: readonly Device[]): Promise<void>;

  /** Revoked (or its CA revoked), with no other certificate in force: ends the sessions and removes the identity for good. */
  abstract endForGood(devices: readonly Device[]): Promise<void>;

  /**
   * The tenant's set of CAs in force changed: a root was rolled over (a new one added), retired or revoked. An
   * adapter that keeps trust material of the tenant's CAs on the broker (Mosquitto: their CRLs, without which the
   * broker refuses their certificates) brings it up to date before returning; throwing makes the core retry the
   * event. Others have nothing to do.
   */
  async trustChanged(_tenantId: string): Promise<void> {}

  /** Throws when the broker cannot be reached or refuses the agent's credentials (for /readyz). */
  abstract check(): Promise<void>;

  /** Closes connections and timers. */
  abstract close(): Promise<void>;
}

/**
 * The broker refused the agent in a way that retrying cannot fix (wrong
 * credentials, missing rights): an adapter's start() throws it, and the
 * agent stops with exit code 1 and this message instead of retrying forever.
 */
export class BrokerRefusedAgentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BrokerRefusedAgentError';
  }
}
