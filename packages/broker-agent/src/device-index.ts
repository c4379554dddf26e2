/**
 * What the core knows of the served tenants' certificates, grouped by the
 * identity the broker names their holders with, and the rule that turns a
 * device's certificates into a verdict. Pure: no I/O, no timers.
 *
 * Why by identity: a broker that maps a certificate to a user (RabbitMQ,
 * NATS) or a username (Mosquitto) can only let in or keep out that name, and
 * several certificates may carry it (a renewal keeps the subject; two
 * tenants may both have a "sensor-1"). The verdict, over every certificate
 * of the identity that has not expired:
 *   - any suspended            → shut-out (a suspension is of the device)
 *   - else any inactive/active → let-in
 *   - else (all revoked or expired) → ended
 * A revoked certificate whose identity still holds one in force is therefore
 * not refused by name; brokers that check the CRL (Mosquitto) still refuse
 * it by serial, and the READMEs of the others say so.
 */
import type { CertificateStatus, Device } from './broker-port.js';

export type Verdict = 'let-in' | 'shut-out' | 'ended';
export const VERDICTS: readonly Verdict[] = ['let-in', 'shut-out', 'ended'];

export function verdictOf(certificates: readonly CertificateStatus[], now: Date): Verdict {
  const current = certificates.filter((certificate) => certificate.notAfter.getTime() > now.getTime());
  if (current.some((certificate) => certificate.state === 'suspended')) return 'shut-out';
  if (current.some((certificate) => certificate.state === 'inactive' || certificate.state === 'active')) return 'let-in';
  return 'ended';
}

interface Entry {
  readonly status: CertificateStatus;
  readonly identity: string;
}

export class DeviceIndex {
  private readonly byCertificate = new Map<string, Entry>();
  private readonly byIdentity = new Map<string, Set<string>>();
  /** Certificates written from an event while a snapshot was being read: the snapshot's copy of them may be older. */
  private dirty: Set<string> | null = null;
  /** Kept as certificates are put, so that a discovery poll does not scan every certificate; a removed one may stay newest, which only starts the next listing a little later. */
  private readonly newest = new Map<string, string>();

  /** @param identityOf the adapter's mapping; null: the certificate cannot log in to this broker, so it is not indexed. */
  constructor(private readonly identityOf: (certificate: CertificateStatus) => string | null) {}

  get size(): number {
    return this.byCertificate.size;
  }

  get identities(): IterableIterator<string> {
    return this.byIdentity.keys();
  }

  has(certificateId: string): boolean {
    return this.byCertificate.has(certificateId);
  }

  known(certificateId: string): CertificateStatus | undefined {
    return this.byCertificate.get(certificateId)?.status;
  }

  /** Records the certificate as it is now; returns the identities whose verdict may have changed (its old and new one). */
  upsert(status: CertificateStatus): string[] {
    this.dirty?.add(status.id);
    return this.put(status);
  }

  /** Marks every known certificate of a revoked CA revoked: nothing it issued is valid any more, whatever ccm says next. */
  revokeAuthority(authorityId: string): string[] {
    const affected: string[] = [];
    for (const { status } of [...this.byCertificate.values()]) {
      if (status.authorityId === authorityId && status.state !== 'revoked') affected.push(...this.upsert({ ...status, state: 'revoked' }));
    }
    return affected;
  }

  /** Starts a snapshot: from now on, certificates written by upsert win over the snapshot's copies. */
  beginSnapshot(): void {
    this.dirty = new Set();
  }

  /**
   * Replaces a tenant's certificates by a snapshot read since beginSnapshot;
   * returns every identity of the tenant.
   */
  applySnapshot(tenantId: string, snapshot: readonly CertificateStatus[]): string[] {
    const dirty = this.dirty ?? new Set<string>();
    const listed = new Set(snapshot.map((certificate) => certificate.id));
    for (const [id, entry] of [...this.byCertificate]) {
      if (entry.status.tenantId === tenantId && !listed.has(id) && !dirty.has(id)) this.remove(id);
    }
    for (const status of snapshot) if (!dirty.has(status.id)) this.put(status);
    const identities = new Set<string>();
    for (const entry of this.byCertificate.values()) if (entry.status.tenantId === tenantId) identities.add(entry.identity);
    return [...identities];
  }

  endSnapshot(): void {
    this.dirty = null;
  }

  /** The identity with every certificate it has; null when none is known. */
  device(identity: string): Device | null {
    const ids = this.byIdentity.get(identity);
    if (!ids || ids.size === 0) return null;
    return { identity, certificates: [...ids].map((id) => this.byCertificate.get(id)!.status) };
  }

  identityOfCertificate(certificateId: string): string | undefined {
    return this.byCertificate.get(certificateId)?.identity;
  }

  /** The newest certificate id seen for the tenant (ids are time-ordered), for discovering certificates issued since. */
  newestId(tenantId: string): string | null {
    return this.newest.get(tenantId) ?? null;
  }

  private put(status: CertificateStatus): string[] {
    const identity = this.identityOf(status);
    const previous = this.byCertificate.get(status.id);
    const affected = previous ? [previous.identity] : [];
    if (previous && previous.identity !== identity) this.remove(status.id);
    if (identity === null) return affected;
    this.byCertificate.set(status.id, { status, identity });
    const newest = this.newest.get(status.tenantId);
    if (newest === undefined || status.id > newest) this.newest.set(status.tenantId, status.id);
    let ids = this.byIdentity.get(identity);
    if (!ids) this.byIdentity.set(identity, (ids = new Set()));
    ids.add(status.id);
    if (!affected.includes(identity)) affected.push(identity);
    return affected;
  }

  private remove(certificateId: string): void {
    const entry = this.byCertificate.get(certificateId);
    if (!entry) return;
    this.byCertificate.delete(certificateId);
    const ids = this.byIdentity.get(entry.identity);
    ids?.delete(certificateId);
    if (ids?.size === 0) this.byIdentity.delete(entry.identity);
  }
}
