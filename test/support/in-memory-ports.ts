/**
 * The persistence ports (and the small ports beside them: the issuance
 * metrics, the CRL refresher, the outbox wakeup) in memory, for unit tests of
 * the use cases, as immich's repository mocks and Boulder's in-memory storage
 * authority stand in for the database. Owns nothing of ccm's; each fake keeps
 * the contract its port documents, the way the TypeORM adapters keep it:
 *
 * - conditional updates (activate, markIssued, markFailed, a transition, a
 *   CA's revocation, the platform CA's serial lease) change nothing and
 *   answer false or null when their condition no longer holds;
 * - a tenant name is unique (conflict), and so is a CA's name among the CAs
 *   in force and being signed, OCSP responders aside (AuthorityNameTaken),
 *   as the unique indexes hold them;
 * - lookups that leave pending and failed records out leave them out here;
 * - listings page in id order, with the last id as the cursor.
 *
 * All fakes share one MemoryTables, since the ports share one database: a
 * tenant's creation writes an authority row, the life cycle store changes
 * certificates and authorities and appends events. Rows are kept as frozen
 * copies, so a use case changes a record only through its port; tests read
 * the tables to see everything recorded, pending and failed rows included.
 */
import type { CcmEvent, RevocationReason } from '@ccm/event-consumer/contract';
import { AuthorityRepository, isInForce, TenantRootInProgress, type Authority, type AuthorityCertificate } from '../../src/authorities/authority.js';
import { AuthorityNameTaken, LIVE_NAME_STATUSES } from '../../src/authorities/authority-names.js';
import type { IdentityRules } from '../../src/authorities/identity-rules.js';
import { CertificateRepository, LISTED_STATES, type CertificateFilter, type ClientCertificate } from '../../src/certificates/client-certificate.js';
import { comparableSubject } from '../../src/codec/name-comparison.js';
import { OutboxWakeup } from '../../src/events/outbox-wakeup.js';
import type { Transition } from '../../src/lifecycle/certificate-transition.js';
import { LifeCycleStore } from '../../src/lifecycle/life-cycle-store.js';
import { RevocationListRefresher } from '../../src/lifecycle/revocation-list-refresher.js';
import { IssuanceMetrics, type IssuanceMethod } from '../../src/metrics/metrics.js';
import { DomainError } from '../../src/shared/errors.js';
import type { Page } from '../../src/shared/page.js';
import { TenantRepository, type Tenant } from '../../src/tenants/tenant.js';
import { DEVICE_ISSUING_KINDS, TrustedAuthorityRepository, type IssuerCandidate } from '../../src/trust/trusted-authority.js';

/** The rows of the one database the fakes share, in insertion order (which breaks ties of equal timestamps, as later rows are newer). */
export class MemoryTables {
  readonly tenants = new Map<string, Tenant>();
  readonly authorities = new Map<string, Authority>();
  readonly certificates = new Map<string, ClientCertificate>();
  /** The outbox: every event the life cycle store committed, in order. */
  readonly events: CcmEvent[] = [];
  /** Every status (authorities) or state (certificates) each record has had, oldest first. */
  private readonly history = new Map<string, string[]>();

  /** The statuses or states record `id` went through, e.g. ['pending', 'inactive']. */
  statesOf(id: string): string[] {
    return [...(this.history.get(id) ?? [])];
  }

  putAuthority(authority: Authority): void {
    this.authorities.set(authority.id, Object.freeze({ ...authority }));
    this.note(authority.id, authority.status);
  }

  putCertificate(certificate: ClientCertificate): void {
    this.certificates.set(certificate.id, Object.freeze({ ...certificate }));
    this.note(certificate.id, certificate.state);
  }

  /** The unique index on CA names: refuses `subject` for a CA of `kind` when another live CA (not `exceptId`) holds it. */
  assertNameFree(subject: string, kind: Authority['kind'], status: Authority['status'], exceptId: string | null): void {
    if (!holdsName(kind, status)) return;
    const wanted = comparableSubject(subject);
    for (const other of this.authorities.values()) {
      if (other.id !== exceptId && holdsName(other.kind, other.status) && comparableSubject(other.subject) === wanted) throw AuthorityNameTaken.inUse();
    }
  }

  private note(id: string, state: string): void {
    const states = this.history.get(id) ?? [];
    if (states[states.length - 1] !== state) states.push(state);
    this.history.set(id, states);
  }
}

function holdsName(kind: Authority['kind'], status: Authority['status']): boolean {
  return kind !== 'ocsp-responder' && (LIVE_NAME_STATUSES as readonly string[]).includes(status);
}

/** Newest first: by creation time, then by insertion (the later of two rows made in one clock tick is the newer). */
function newestFirst<T extends { readonly createdAt: Date }>(rows: readonly T[]): T[] {
  return rows.map((row, index) => ({ row, index })).sort((a, b) => b.row.createdAt.getTime() - a.row.createdAt.getTime() || b.index - a.index).map(({ row }) => row);
}

function page<T extends { readonly id: string }>(rows: readonly T[], after: string | null, limit: number): Page<T> {
  const sorted = [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).filter((row) => after === null || row.id > after);
  const items = sorted.slice(0, limit);
  return { items, nextCursor: sorted.length > limit ? items[items.length - 1]!.id : null };
}

function insertNew<T>(table: Map<string, T>, id: string): void {
  if (table.has(id)) throw new Error(`duplicate primary key ${id}`);
}

/** pending and failed records are the bookkeeping of an issuance, not certificates anyone holds. */
function isIssued(certificate: ClientCertificate): boolean {
  return certificate.state !== 'pending' && certificate.state !== 'failed';
}

export class MemoryTenantRepository extends TenantRepository {
  constructor(private readonly tables: MemoryTables) {
    super();
  }

  async create(tenant: Tenant, pendingRoot: Authority): Promise<void> {
    // One transaction: every check first, so a refusal writes neither row.
    insertNew(this.tables.tenants, tenant.id);
    insertNew(this.tables.authorities, pendingRoot.id);
    if ([...this.tables.tenants.values()].some((other) => other.name === tenant.name)) throw new DomainError('conflict', `a tenant named "${tenant.name}" exists already`, { field: 'name' });
    this.tables.assertNameFree(pendingRoot.subject, pendingRoot.kind, pendingRoot.status, null);
    this.tables.tenants.set(tenant.id, Object.freeze({ ...tenant }));
    this.tables.putAuthority(pendingRoot);
  }

  async findById(id: string): Promise<Tenant | null> {
    return this.tables.tenants.get(id) ?? null;
  }

  async findByName(name: string): Promise<Tenant | null> {
    return [...this.tables.tenants.values()].find((tenant) => tenant.name === name) ?? null;
  }

  async list(after: string | null, limit: number): Promise<Page<Tenant>> {
    return page([...this.tables.tenants.values()], after, limit);
  }
}

export class MemoryAuthorityRepository extends AuthorityRepository {
  constructor(private readonly tables: MemoryTables) {
    super();
  }

  async findPlatform(): Promise<Authority | null> {
    return this.all().find((authority) => authority.kind === 'platform') ?? null;
  }

  async findById(id: string): Promise<Authority | null> {
    return this.tables.authorities.get(id) ?? null;
  }

  async findActiveTenantRoot(tenantId: string): Promise<Authority | null> {
    return newestFirst(this.all().filter((a) => a.tenantId === tenantId && a.kind === 'tenant-root' && a.status === 'active'))[0] ?? null;
  }

  async findTenantRoot(tenantId: string): Promise<Authority | null> {
    return this.roots(tenantId)[0] ?? null;
  }

  async findTenantRoots(tenantId: string): Promise<Authority[]> {
    return this.roots(tenantId).filter((a) => a.status !== 'pending' && a.status !== 'failed');
  }

  async countTenantRootRecords(tenantId: string): Promise<number> {
    return this.roots(tenantId).length;
  }

  /** As the SQL repository orders them: active, then those with certificates, then pending, then failed; newest first within each. */
  private roots(tenantId: string): Authority[] {
    const rank = (a: Authority) => (a.status === 'active' ? 0 : a.status === 'pending' ? 2 : a.status === 'failed' ? 3 : 1);
    const newest = newestFirst(this.all().filter((a) => a.tenantId === tenantId && a.kind === 'tenant-root'));
    return newest.map((a, index) => ({ a, index })).sort((x, y) => rank(x.a) - rank(y.a) || x.index - y.index).map(({ a }) => a);
  }

  async insertPlatformIfAbsent(authority: Authority): Promise<boolean> {
    insertNew(this.tables.authorities, authority.id);
    this.tables.assertNameFree(authority.subject, authority.kind, authority.status, null);
    if (this.all().some((other) => other.kind === 'platform')) return false;
    this.tables.putAuthority(authority);
    return true;
  }

  async findByComparableSubject(subject: string): Promise<Authority[]> {
    return this.all().filter((a) => a.status !== 'failed' && comparableSubject(a.subject) === subject);
  }

  async findLatestResponder(issuerAuthorityId: string): Promise<Authority | null> {
    const responders = this.all().filter((a) => a.issuerAuthorityId === issuerAuthorityId && a.kind === 'ocsp-responder' && a.status === 'active');
    return responders.sort((a, b) => (b.notAfter?.getTime() ?? 0) - (a.notAfter?.getTime() ?? 0))[0] ?? null;
  }

  async leasePlatformSerial(id: string, serialNumber: string, at: Date, staleBefore: Date): Promise<boolean> {
    const platform = this.tables.authorities.get(id);
    if (!platform || platform.status !== 'pending' || (platform.serialNumber !== null && platform.updatedAt >= staleBefore)) return false;
    this.tables.putAuthority({ ...platform, serialNumber, updatedAt: at });
    return true;
  }

  async insertPending(authority: Authority): Promise<void> {
    insertNew(this.tables.authorities, authority.id);
    this.tables.assertNameFree(authority.subject, authority.kind, authority.status, null);
    // uq_authorities_tenant_root_status: one root of a tenant being signed at a time.
    if (authority.kind === 'tenant-root' && this.all().some((a) => a.tenantId === authority.tenantId && a.kind === 'tenant-root' && a.status === 'pending')) throw new TenantRootInProgress();
    this.tables.putAuthority(authority);
  }

  async markFailed(id: string, at: Date): Promise<void> {
    const authority = this.tables.authorities.get(id);
    if (authority?.status === 'pending') this.tables.putAuthority({ ...authority, status: 'failed', updatedAt: at });
  }

  async activate(id: string, certificate: AuthorityCertificate, at: Date): Promise<boolean> {
    const authority = this.tables.authorities.get(id);
    if (authority?.status !== 'pending') return false;
    this.tables.assertNameFree(certificate.subject, authority.kind, 'active', id);
    this.tables.putAuthority({ ...authority, ...certificate, status: 'active', updatedAt: at });
    return true;
  }

  async replaceCertificate(id: string, certificate: AuthorityCertificate, at: Date): Promise<void> {
    const authority = this.tables.authorities.get(id);
    if (authority?.status !== 'active') return;
    this.tables.assertNameFree(certificate.subject, authority.kind, 'active', id);
    this.tables.putAuthority({ ...authority, ...certificate, updatedAt: at });
  }

  async updateIdentityRules(tenantId: string, authorityId: string, rules: IdentityRules | null, at: Date): Promise<boolean> {
    const authority = this.tables.authorities.get(authorityId);
    if (authority?.tenantId !== tenantId) return false;
    this.tables.putAuthority({ ...authority, identityRules: rules, updatedAt: at });
    return true;
  }

  private all(): Authority[] {
    return [...this.tables.authorities.values()];
  }
}

export class MemoryCertificateRepository extends CertificateRepository {
  constructor(private readonly tables: MemoryTables) {
    super();
  }

  async insertPending(certificate: ClientCertificate): Promise<void> {
    insertNew(this.tables.certificates, certificate.id);
    // uq_certificates_authority_serial: a serial number is unique per issuing CA.
    if (this.all().some((other) => other.authorityId === certificate.authorityId && other.serialNumber === certificate.serialNumber)) {
      throw new Error(`serial number ${certificate.serialNumber} is recorded under CA ${certificate.authorityId} already`);
    }
    this.tables.putCertificate(certificate);
  }

  async markIssued(id: string, fingerprints: { sha256: string; sha1: string }, at: Date): Promise<void> {
    const certificate = this.tables.certificates.get(id);
    if (certificate?.state !== 'pending') return;
    this.tables.putCertificate({ ...certificate, state: 'inactive', fingerprintSha256: fingerprints.sha256, fingerprintSha1: fingerprints.sha1, issuedAt: at, updatedAt: at });
  }

  async markFailed(id: string, at: Date): Promise<void> {
    const certificate = this.tables.certificates.get(id);
    if (certificate?.state === 'pending') this.tables.putCertificate({ ...certificate, state: 'failed', updatedAt: at });
  }

  async findById(tenantId: string, id: string): Promise<ClientCertificate | null> {
    return this.findOne((c) => c.tenantId === tenantId && c.id === id);
  }

  async findByAuthorityAndSerial(authorityId: string, serialNumber: string): Promise<ClientCertificate | null> {
    return this.findOne((c) => c.authorityId === authorityId && c.serialNumber === serialNumber);
  }

  async findBySerial(tenantId: string, serialNumber: string): Promise<ClientCertificate | null> {
    return this.findOne((c) => c.tenantId === tenantId && c.serialNumber === serialNumber);
  }

  async findByFingerprint(tenantId: string, sha256: string): Promise<ClientCertificate | null> {
    return this.findOne((c) => c.tenantId === tenantId && c.fingerprintSha256 === sha256);
  }

  async list(tenantId: string, filter: CertificateFilter, after: string | null, limit: number): Promise<Page<ClientCertificate>> {
    const states: readonly string[] = filter.state !== undefined ? [filter.state] : LISTED_STATES;
    const rows = this.all().filter(
      (c) =>
        c.tenantId === tenantId &&
        states.includes(c.state) &&
        (filter.commonName === undefined || c.commonName === filter.commonName) &&
        (filter.serialNumber === undefined || c.serialNumber === filter.serialNumber),
    );
    return page(rows, after, limit);
  }

  private findOne(matches: (certificate: ClientCertificate) => boolean): ClientCertificate | null {
    const found = this.all().find(matches);
    return found && isIssued(found) ? found : null;
  }

  private all(): ClientCertificate[] {
    return [...this.tables.certificates.values()];
  }
}

export class MemoryTrustedAuthorityRepository extends TrustedAuthorityRepository {
  constructor(private readonly tables: MemoryTables) {
    super();
  }

  async findByNameWithRecord(subject: string, serialNumber: string): Promise<IssuerCandidate[]> {
    const trusted = newestFirst(
      this.issuing().filter((a) => (a.status === 'active' || a.status === 'revoked') && a.certificatePem !== null && comparableSubject(a.subject) === subject),
    );
    const candidates = trusted.map((authority) => ({
      authority,
      certificate: [...this.tables.certificates.values()].find((c) => c.authorityId === authority.id && c.serialNumber === serialNumber && isIssued(c)) ?? null,
    }));
    return [...candidates.filter((c) => c.authority.status === 'active'), ...candidates.filter((c) => c.authority.status !== 'active')];
  }

  async findOfTenant(tenantId: string, authorityId: string): Promise<Authority | null> {
    return this.issuing().find((a) => a.tenantId === tenantId && a.id === authorityId) ?? null;
  }

  async listOfTenant(tenantId: string): Promise<Authority[]> {
    return this.issuing().filter((a) => a.tenantId === tenantId && a.status !== 'failed');
  }

  async insert(authority: Authority): Promise<void> {
    insertNew(this.tables.authorities, authority.id);
    this.tables.assertNameFree(authority.subject, authority.kind, authority.status, null);
    this.tables.putAuthority(authority);
  }

  async findDelegatedBySerial(issuerAuthorityId: string, serialNumber: string): Promise<Authority | null> {
    return (
      [...this.tables.authorities.values()].find(
        (a) => a.issuerAuthorityId === issuerAuthorityId && a.serialNumber === serialNumber && a.kind === 'intermediate' && (a.status === 'active' || a.status === 'revoked'),
      ) ?? null
    );
  }

  /** Device-issuing CAs in creation order. */
  private issuing(): Authority[] {
    return [...this.tables.authorities.values()].filter((a) => (DEVICE_ISSUING_KINDS as readonly string[]).includes(a.kind));
  }
}

export class MemoryLifeCycleStore extends LifeCycleStore {
  constructor(private readonly tables: MemoryTables) {
    super();
  }

  async applyCertificateTransition(certificate: ClientCertificate, transition: Transition, event: CcmEvent): Promise<ClientCertificate | null> {
    const current = this.tables.certificates.get(certificate.id);
    if (current?.state !== transition.from) return null;
    const changed: ClientCertificate = {
      ...current,
      state: transition.to,
      updatedAt: transition.at,
      ...(transition.from === 'inactive' && transition.to === 'active' ? { firstUsedAt: transition.at } : {}),
      ...(transition.to === 'suspended' ? { suspendedAt: transition.at } : {}),
      ...(transition.from === 'suspended' ? { suspendedAt: null } : {}),
      ...(transition.to === 'revoked' ? { revokedAt: transition.at, revocationReason: transition.reason } : {}),
    };
    this.tables.putCertificate(changed);
    if (transition.changesRevocationList) this.bumpRevocationVersion(current.authorityId);
    this.tables.events.push(event);
    return this.tables.certificates.get(certificate.id)!;
  }

  async revokeAuthority(authority: Authority, reason: RevocationReason, at: Date, event: (revokedCertificates: number) => CcmEvent): Promise<{ revokedCertificates: number } | null> {
    const current = this.tables.authorities.get(authority.id);
    if (!current || !isInForce(current)) return null;
    const revoked = { status: 'revoked' as const, revokedAt: at, revocationReason: reason, updatedAt: at };
    this.tables.putAuthority({ ...this.tables.authorities.get(authority.id)!, ...revoked });
    // The delegated intermediates it certified fall with it, a pending one too.
    const delegated = [...this.tables.authorities.values()].filter((a) => a.issuerAuthorityId === authority.id && a.kind === 'intermediate' && (a.status === 'pending' || a.status === 'active'));
    for (const intermediate of delegated) this.tables.putAuthority({ ...intermediate, ...revoked });
    const issuers = new Set([authority.id, ...delegated.map((a) => a.id)]);
    let revokedCertificates = 0;
    for (const certificate of [...this.tables.certificates.values()]) {
      if (!issuers.has(certificate.authorityId) || certificate.state === 'revoked' || certificate.state === 'failed') continue;
      this.tables.putCertificate({ ...certificate, state: 'revoked', revokedAt: at, revocationReason: reason, suspendedAt: null, updatedAt: at });
      revokedCertificates += 1;
    }
    for (const id of issuers) this.bumpRevocationVersion(id);
    if (authority.kind === 'intermediate' && authority.issuerAuthorityId !== null) this.bumpRevocationVersion(authority.issuerAuthorityId);
    this.tables.events.push(event(revokedCertificates));
    return { revokedCertificates };
  }

  async rollOverTenantRoot(previous: Authority, next: Authority, from: { readonly status: 'pending'; readonly certificate: AuthorityCertificate } | { readonly status: 'published' }, at: Date, event: CcmEvent): Promise<boolean> {
    const old = this.tables.authorities.get(previous.id);
    const successor = this.tables.authorities.get(next.id);
    if (old?.status !== 'active' || old.kind !== 'tenant-root' || successor?.status !== from.status) return false;
    this.tables.putAuthority({ ...old, status: 'retiring', updatedAt: at });
    this.tables.putAuthority({ ...successor, ...(from.status === 'pending' ? from.certificate : {}), status: 'active', updatedAt: at });
    this.tables.events.push(event);
    return true;
  }

  async publishTenantRoot(next: Authority, certificate: AuthorityCertificate, at: Date, event: CcmEvent): Promise<boolean> {
    const pending = this.tables.authorities.get(next.id);
    if (pending?.status !== 'pending') return false;
    if ([...this.tables.authorities.values()].some((a) => a.tenantId === next.tenantId && a.kind === 'tenant-root' && a.status === 'published')) throw new TenantRootInProgress();
    this.tables.putAuthority({ ...pending, ...certificate, status: 'published', updatedAt: at });
    this.tables.events.push(event);
    return true;
  }

  async retiringRootsExpiredBy(now: Date): Promise<Authority[]> {
    return [...this.tables.authorities.values()].filter(
      (root) =>
        root.kind === 'tenant-root' &&
        root.status === 'retiring' &&
        ![...this.tables.certificates.values()].some((c) => c.authorityId === root.id && !['pending', 'failed', 'revoked'].includes(c.state) && c.notAfter > now) &&
        ![...this.tables.authorities.values()].some((i) => i.issuerAuthorityId === root.id && i.kind === 'intermediate' && (i.status === 'pending' || i.status === 'active') && (i.notAfter ?? now) > now),
    );
  }

  async retire(authority: Authority, at: Date, event: CcmEvent): Promise<boolean> {
    const current = this.tables.authorities.get(authority.id);
    if (current?.status !== 'retiring') return false;
    this.tables.putAuthority({ ...current, status: 'retired', updatedAt: at });
    this.tables.events.push(event);
    return true;
  }

  async recordUse(certificateId: string, at: Date, unlessUsedSince: Date): Promise<void> {
    const certificate = this.tables.certificates.get(certificateId);
    if (!certificate || certificate.state === 'revoked' || (certificate.lastUsedAt !== null && certificate.lastUsedAt >= unlessUsedSince)) return;
    this.tables.putCertificate({ ...certificate, lastUsedAt: at });
  }

  private bumpRevocationVersion(authorityId: string): void {
    const authority = this.tables.authorities.get(authorityId);
    if (authority) this.tables.putAuthority({ ...authority, revocationVersion: authority.revocationVersion + 1 });
  }
}

/** What the issuance use case reported, in order. */
export class RecordingIssuanceMetrics extends IssuanceMetrics {
  readonly issuedCertificates: { tenantId: string; algorithm: string; method: IssuanceMethod }[] = [];
  readonly failures: string[] = [];

  issued(tenantId: string, algorithm: string, method: IssuanceMethod): void {
    this.issuedCertificates.push({ tenantId, algorithm, method });
  }

  failed(reason: string): void {
    this.failures.push(reason);
  }
}

/** Every CRL rebuild asked for, in order. */
export class RecordingRevocationListRefresher extends RevocationListRefresher {
  readonly requests: { authorityId: string; shard: number }[] = [];

  refreshSoon(authorityId: string, shard: number): void {
    this.requests.push({ authorityId, shard });
  }
}

/** The outbox wakeup, counting how often the relay was told of new events. */
export class CountingOutboxWakeup extends OutboxWakeup {
  notified = 0;

  override notify(): void {
    this.notified += 1;
    super.notify();
  }
}

/** One set of fakes over one set of tables. */
export interface MemoryPorts {
  readonly tables: MemoryTables;
  readonly tenants: MemoryTenantRepository;
  readonly authorities: MemoryAuthorityRepository;
  readonly certificates: MemoryCertificateRepository;
  readonly trusted: MemoryTrustedAuthorityRepository;
  readonly lifeCycle: MemoryLifeCycleStore;
}

export function memoryPorts(): MemoryPorts {
  const tables = new MemoryTables();
  return {
    tables,
    tenants: new MemoryTenantRepository(tables),
    authorities: new MemoryAuthorityRepository(tables),
    certificates: new MemoryCertificateRepository(tables),
    trusted: new MemoryTrustedAuthorityRepository(tables),
    lifeCycle: new MemoryLifeCycleStore(tables),
  };
}
