/**
 * What the medium tests of the TypeORM adapters (src/persistence) stand on:
 * a real PostgreSQL database or SQLite file opened exactly as ccm opens it
 * (openDatabase: the connection, then the committed migrations), and the
 * rows a test needs in tables other than the one under test (a tenant, a
 * CA, a client certificate), written with the entities directly so that no
 * adapter under test vouches for another.
 */
import { randomBytes } from 'node:crypto';
import type { CcmEvent, EventType, RevocationReason } from '@ccm/event-consumer/contract';
import type { DataSource } from 'typeorm';
import type { Authority, AuthorityKind, AuthorityStatus, DeviceRegistration } from '../../src/authorities/authority.js';
import type { CertificateState, ClientCertificate } from '../../src/certificates/client-certificate.js';
import type { DatabaseConfiguration } from '../../src/config/configuration.js';
import { comparableSubject } from '../../src/codec/name-comparison.js';
import { CertificateTransitionMetrics, type TransitionOrigin } from '../../src/metrics/metrics.js';
import { openDatabase } from '../../src/persistence/data-source.js';
import { AuthorityRow, CertificateRow, OutboxRow, TenantRow } from '../../src/persistence/entities.js';
import { DatabaseTransactions } from '../../src/persistence/transactions.js';
import { newId } from '../../src/shared/identifiers.js';
import type { LifeCycleState } from '../../src/shared/life-cycle-state.js';
import { createPostgresDatabase, createSqliteDatabase, type TestDatabase } from './databases.js';

export const DATABASE_KINDS = ['postgres', 'sqlite'] as const satisfies readonly TestDatabase['kind'][];

/** A fixed instant: stored times are compared to it exactly. */
export const AT = new Date('2026-11-23T10:00:00.000Z');

export function later(ms: number, from: Date = AT): Date {
  return new Date(from.getTime() + ms);
}

export interface OpenedDatabase {
  readonly database: TestDatabase;
  readonly dataSource: DataSource;
  /** The unit of work the adapters share in ccm (group commit on SQLite). */
  readonly transactions: DatabaseTransactions;
  /** Closes the connections and drops the database (or removes the file). */
  close(): Promise<void>;
}

/** A fresh, migrated database of `kind`, reached through the DataSource ccm would build for it. */
export async function openTestDatabase(kind: TestDatabase['kind']): Promise<OpenedDatabase> {
  const database = kind === 'postgres' ? await createPostgresDatabase() : await createSqliteDatabase();
  const config: DatabaseConfiguration = kind === 'postgres' ? { kind, url: database.env['DATABASE_URL']! } : { kind, path: database.env['CCM_SQLITE_PATH']! };
  let dataSource: DataSource;
  try {
    dataSource = await openDatabase(config);
  } catch (error) {
    await database.drop();
    throw error;
  }
  return {
    database,
    dataSource,
    transactions: new DatabaseTransactions(dataSource),
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await database.drop();
    },
  };
}

export async function insertTenant(dataSource: DataSource): Promise<TenantRow> {
  const id = newId();
  const row = Object.assign(new TenantRow(), { id, name: `tenant-${id}`, maxTtlSeconds: null, createdAt: AT });
  await dataSource.getRepository(TenantRow).insert(row);
  return row;
}

export interface AuthorityFixture {
  readonly tenantId: string | null;
  readonly kind?: AuthorityKind;
  readonly status?: AuthorityStatus;
  readonly registration?: DeviceRegistration | null;
  readonly issuerAuthorityId?: string | null;
  readonly revocationVersion?: number;
  /** Default: a name of its own, "CN=Test CA <id>". */
  readonly subject?: string;
  /** Default: none; device authentication only trusts a CA with a certificate. */
  readonly certificatePem?: string | null;
  readonly createdAt?: Date;
}

/** A CA as the ports take it (no key, and no certificate unless asked for), not yet stored. */
export function authorityOf(fixture: AuthorityFixture): Authority {
  const id = newId();
  const kind = fixture.kind ?? 'tenant-root';
  const external = kind === 'external' || kind === 'intermediate';
  const subject = fixture.subject ?? `CN=Test CA ${id}`;
  return {
    id,
    tenantId: fixture.tenantId,
    kind,
    status: fixture.status ?? 'active',
    custodyKeyName: external ? '' : `ca-${id}`,
    keyAlgorithm: 'ecdsa-p256',
    subject,
    serialNumber: randomBytes(16).toString('hex'),
    certificatePem: fixture.certificatePem ?? null,
    issuerChainPem: null,
    fingerprintSha256: randomBytes(32).toString('hex'),
    notBefore: AT,
    notAfter: later(365 * 86_400_000),
    issuerAuthorityId: fixture.issuerAuthorityId ?? null,
    revokedAt: null,
    revocationReason: null,
    revocationVersion: fixture.revocationVersion ?? 0,
    identityRules: null,
    registration: fixture.registration ?? (external ? 'self' : null),
    name: external ? `ca-${id}` : null,
    createdAt: fixture.createdAt ?? AT,
    updatedAt: fixture.createdAt ?? AT,
  };
}

/** A CA row written with the entity directly, and the domain object the ports take. */
export async function insertAuthority(dataSource: DataSource, fixture: AuthorityFixture): Promise<Authority> {
  const authority = authorityOf(fixture);
  const { kind, subject } = authority;
  await dataSource.getRepository(AuthorityRow).insert(
    Object.assign(new AuthorityRow(), authority, { singleton: kind === 'platform' ? 'platform' : null, subjectKey: comparableSubject(subject), identityRules: null }),
  );
  return authority;
}

export async function readAuthorityRow(dataSource: DataSource, id: string): Promise<AuthorityRow> {
  return dataSource.getRepository(AuthorityRow).findOneByOrFail({ id });
}

export interface CertificateFixture {
  readonly state?: CertificateState;
  readonly serialNumber?: string;
  readonly fingerprintSha256?: string;
  readonly commonName?: string;
  readonly keySource?: ClientCertificate['keySource'];
  readonly firstUsedAt?: Date | null;
  readonly lastUsedAt?: Date | null;
  readonly suspendedAt?: Date | null;
  readonly revokedAt?: Date | null;
  readonly revocationReason?: string | null;
  readonly crlShard?: number;
  /** Default: AT. */
  readonly createdAt?: Date;
  /** Default: createdAt. */
  readonly updatedAt?: Date;
}

/** A client certificate of `authority` as ccm records it (metadata only), not yet stored. */
export function certificateUnder(authority: Authority, fixture: CertificateFixture = {}): ClientCertificate {
  const id = newId();
  const commonName = fixture.commonName ?? `device-${id}`;
  return {
    id,
    tenantId: authority.tenantId!,
    authorityId: authority.id,
    serialNumber: fixture.serialNumber ?? randomBytes(16).toString('hex'),
    state: fixture.state ?? 'inactive',
    fingerprintSha256: fixture.fingerprintSha256 ?? randomBytes(32).toString('hex'),
    fingerprintSha1: randomBytes(20).toString('hex'),
    subject: `CN=${commonName}`,
    commonName,
    subjectAltNames: { uri: [`urn:uuid:${id}`] },
    notBefore: AT,
    notAfter: later(90 * 86_400_000),
    keyAlgorithm: 'ecdsa-p256',
    publicKeySha256: randomBytes(32).toString('hex'),
    keySource: fixture.keySource ?? 'server',
    issuedAt: AT,
    firstUsedAt: fixture.firstUsedAt ?? null,
    lastUsedAt: fixture.lastUsedAt ?? null,
    revokedAt: fixture.revokedAt ?? null,
    revocationReason: fixture.revocationReason ?? null,
    suspendedAt: fixture.suspendedAt ?? null,
    crlShard: fixture.crlShard ?? 0,
    createdAt: fixture.createdAt ?? AT,
    updatedAt: fixture.updatedAt ?? fixture.createdAt ?? AT,
  };
}

export async function insertCertificate(dataSource: DataSource, authority: Authority, fixture: CertificateFixture = {}): Promise<ClientCertificate> {
  const certificate = certificateUnder(authority, fixture);
  await dataSource.getRepository(CertificateRow).insert(Object.assign(new CertificateRow(), certificate, { subjectAltNames: { ...certificate.subjectAltNames } }));
  return certificate;
}

export async function readCertificateRow(dataSource: DataSource, id: string): Promise<CertificateRow> {
  return dataSource.getRepository(CertificateRow).findOneByOrFail({ id });
}

/** The event a transition of `certificate` announces, as the life-cycle use case builds it. */
export function certificateEvent(certificate: ClientCertificate, type: EventType, state: CcmEvent['state'], reason: RevocationReason | null = null, at: Date = AT): CcmEvent {
  return {
    schemaVersion: 1,
    id: newId(),
    type,
    time: at.toISOString(),
    tenantId: certificate.tenantId,
    authorityId: certificate.authorityId,
    certificateId: certificate.id,
    serialNumber: certificate.serialNumber,
    fingerprintSha256: certificate.fingerprintSha256 ?? '',
    commonName: certificate.commonName,
    issuer: 'CN=Test CA',
    reason,
    state,
  };
}

export function authorityRevokedEvent(authority: Authority, reason: RevocationReason, revokedCertificates: number, at: Date = AT): CcmEvent {
  return {
    schemaVersion: 1,
    id: newId(),
    type: 'authority.revoked',
    time: at.toISOString(),
    tenantId: authority.tenantId!,
    authorityId: authority.id,
    certificateId: null,
    serialNumber: authority.serialNumber ?? '',
    fingerprintSha256: authority.fingerprintSha256 ?? '',
    commonName: authority.subject,
    issuer: authority.subject,
    reason,
    state: 'revoked',
    revokedCertificates,
  };
}

/** The outbox as stored, oldest first: what a subscriber would be handed. */
export async function outboxEvents(dataSource: DataSource): Promise<{ position: number; event: CcmEvent }[]> {
  const rows = await dataSource.getRepository(OutboxRow).find({ order: { position: 'ASC' } });
  return rows.map((row) => ({ position: row.position, event: JSON.parse(row.payload) as CcmEvent }));
}

/** The transitions an adapter reports as committed, in the order reported. */
export class RecordedTransitions extends CertificateTransitionMetrics {
  readonly recorded: { from: TransitionOrigin; to: LifeCycleState; count: number }[] = [];

  transitioned(from: TransitionOrigin, to: LifeCycleState, count: number): void {
    this.recorded.push({ from, to, count });
  }
}
