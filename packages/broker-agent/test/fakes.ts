/** Fakes behind the core's ports, for the unit tests: a broker that records what it was asked, and ccm's certificate list in memory. */
import { BrokerAdapter, type CertificateState, type CertificateStatus, type Device } from '../src/broker-port.js';
import { CertificateDirectory } from '../src/ccm-directory.js';

export { RecordingAgentLog } from '../src/testing.js';

type Operation = 'shutOut' | 'letBackIn' | 'endForGood';

/**
 * A broker with the idempotence the port asks for: it records each call,
 * and separately each change it made (an identity moved between allowed,
 * shut out and ended). `failNext` makes the next calls throw; `gate`
 * holds calls until released.
 */
export class FakeBroker extends BrokerAdapter {
  readonly broker = 'fake';
  readonly calls: Array<{ operation: Operation; identities: string[] }> = [];
  readonly changes: Array<{ operation: Operation; identity: string }> = [];
  readonly state = new Map<string, 'allowed' | 'out' | 'ended'>();
  readonly live = new Set<string>();
  failNext = 0;
  failWith: Error = new Error('broker answered 500');
  gate: Promise<void> | null = null;
  sessionsListable = true;
  /** Identities whose session comes back once after a shutOut (a device that got in again before the broker applied it). */
  readonly reconnectOnce = new Set<string>();

  identityOf(certificate: CertificateStatus): string | null {
    return certificate.commonName === '' ? null : certificate.commonName;
  }
  async start(): Promise<void> {}
  async listSessions(): Promise<ReadonlySet<string> | null> {
    return this.sessionsListable ? new Set(this.live) : null;
  }
  shutOut(devices: readonly Device[]): Promise<void> {
    return this.apply('shutOut', devices, 'out');
  }
  letBackIn(devices: readonly Device[]): Promise<void> {
    return this.apply('letBackIn', devices, 'allowed');
  }
  endForGood(devices: readonly Device[]): Promise<void> {
    return this.apply('endForGood', devices, 'ended');
  }
  /** Tenants whose trust material the core asked to refresh, in order. */
  readonly trustChanges: string[] = [];
  failTrustChange = 0;
  override async trustChanged(tenantId: string): Promise<void> {
    this.trustChanges.push(tenantId);
    if (this.failTrustChange > 0) {
      this.failTrustChange--;
      throw new Error('ccm unreachable for the CRLs');
    }
  }
  async check(): Promise<void> {}
  async close(): Promise<void> {}

  identitiesIn(state: 'allowed' | 'out' | 'ended'): string[] {
    return [...this.state].filter(([, s]) => s === state).map(([identity]) => identity).sort();
  }

  private async apply(operation: Operation, devices: readonly Device[], target: 'allowed' | 'out' | 'ended'): Promise<void> {
    this.calls.push({ operation, identities: devices.map((device) => device.identity) });
    if (this.gate) await this.gate;
    if (this.failNext > 0) {
      this.failNext--;
      throw this.failWith;
    }
    for (const { identity } of devices) {
      if (target !== 'allowed') this.live.delete(identity);
      if (target === 'out' && this.reconnectOnce.delete(identity)) this.live.add(identity);
      if (this.state.get(identity) === target) continue;
      this.state.set(identity, target);
      this.changes.push({ operation, identity });
    }
  }
}

let sequence = 0;
/** A certificate with a time-ordered id (uuidv7 shape), as ccm makes them. */
export function certificate(commonName: string, state: CertificateState, overrides: Partial<CertificateStatus> = {}): CertificateStatus {
  const ms = (Date.now() + sequence++).toString(16).padStart(12, '0');
  const tail = (sequence++).toString(16).padStart(12, '0');
  return {
    id: `${ms.slice(0, 8)}-${ms.slice(8)}-7000-8000-${tail}`,
    tenantId: TENANT,
    authorityId: ROOT_CA,
    serialNumber: (0x1000 + sequence).toString(16),
    subject: `CN=${commonName}`,
    commonName,
    state,
    notAfter: new Date(Date.now() + 86_400_000),
    ...overrides,
  };
}

export const TENANT = '0190a000-0000-7000-8000-000000000001';
export const OTHER_TENANT = '0190a000-0000-7000-8000-000000000002';
export const ROOT_CA = '0190a000-0000-7000-8000-0000000000ca';

/** ccm's certificates, in memory, listed in id order like the API. `failing` makes every call throw. */
export class FakeDirectory extends CertificateDirectory {
  readonly certificatesById = new Map<string, CertificateStatus>();
  failing = false;
  reads = 0;
  /** Holds certificate reads until released (a ccm slowed down by a burst). */
  gate: Promise<void> | null = null;

  put(...certificates: CertificateStatus[]): void {
    for (const c of certificates) this.certificatesById.set(c.id, c);
  }
  setState(id: string, state: CertificateState): void {
    this.certificatesById.set(id, { ...this.certificatesById.get(id)!, state });
  }
  async certificate(tenantId: string, certificateId: string): Promise<CertificateStatus | null> {
    this.reads++;
    if (this.gate) await this.gate;
    if (this.failing) throw new Error('ccm is down');
    const found = this.certificatesById.get(certificateId);
    return found && found.tenantId === tenantId ? found : null;
  }
  async *certificates(tenantId: string, options: { readonly afterId?: string; readonly state?: CertificateState } = {}): AsyncIterable<readonly CertificateStatus[]> {
    if (this.failing) throw new Error('ccm is down');
    const all = [...this.certificatesById.values()]
      .filter((c) => c.tenantId === tenantId && (!options.state || c.state === options.state) && (!options.afterId || c.id > options.afterId))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    for (let i = 0; i < all.length; i += 100) yield all.slice(i, i + 100);
  }
}
