/** AuthorityRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, Not } from 'typeorm';
import { AuthorityRepository, TenantRootInProgress, type Authority, type AuthorityCertificate, type DeviceRegistration } from '../authorities/authority.js';
import type { IdentityRules } from '../authorities/identity-rules.js';
import { AuthorityNameTaken } from '../authorities/authority-names.js';
import type { KeyAlgorithm } from '../codec/key-algorithm.js';
import { comparableSubject } from '../codec/name-comparison.js';
import { AuthorityRow } from './entities.js';
import { EntityColumns, PreparedQuery } from './prepared-query.js';
import { Transactions } from './transactions.js';
import { isUniqueViolation, isUniqueViolationOf } from './unique-violation.js';

export function toAuthority(row: AuthorityRow): Authority {
  return {
    id: row.id,
    tenantId: row.tenantId,
    kind: row.kind as Authority['kind'],
    status: row.status as Authority['status'],
    custodyKeyName: row.custodyKeyName,
    keyAlgorithm: row.keyAlgorithm as KeyAlgorithm,
    subject: row.subject,
    serialNumber: row.serialNumber,
    certificatePem: row.certificatePem,
    issuerChainPem: row.issuerChainPem,
    fingerprintSha256: row.fingerprintSha256,
    notBefore: row.notBefore,
    notAfter: row.notAfter,
    issuerAuthorityId: row.issuerAuthorityId,
    revokedAt: row.revokedAt,
    revocationReason: row.revocationReason,
    revocationVersion: row.revocationVersion,
    identityRules: row.identityRules === null ? null : (JSON.parse(row.identityRules) as IdentityRules),
    registration: row.registration as DeviceRegistration | null,
    name: row.name,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function toAuthorityRow(authority: Authority): AuthorityRow {
  return Object.assign(new AuthorityRow(), {
    ...authority,
    identityRules: authority.identityRules === null ? null : JSON.stringify(authority.identityRules),
    singleton: authority.kind === 'platform' ? 'platform' : null,
    subjectKey: comparableSubject(authority.subject),
  });
}

/** A certificate recorded on an authority row, with the comparable form of its subject beside it. */
function toCertificateColumns(certificate: AuthorityCertificate): AuthorityCertificate & { subjectKey: string } {
  return { ...certificate, subjectKey: comparableSubject(certificate.subject) };
}

/**
 * Runs a write that may give a CA a name; the unique index on the names of
 * CAs in force refusing it becomes the domain's AuthorityNameTaken (two
 * replicas racing for one name: the later loses here).
 */
export async function claimingAuthorityName<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolationOf(error, 'uq_authorities_subject_key', ['authorities.subject_key'])) {
      throw AuthorityNameTaken.inUse();
    }
    throw error;
  }
}

/** Runs a write that records a tenant root; the index that lets a tenant have one root being signed at a time refusing it is TenantRootInProgress. */
export async function claimingTenantRoot<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolationOf(error, 'uq_authorities_tenant_root_status', ['authorities.tenant_id', 'authorities.status'])) throw new TenantRootInProgress();
    throw error;
  }
}

@Injectable()
export class TypeormAuthorityRepository extends AuthorityRepository {
  private activeRoot: { readonly query: PreparedQuery; readonly columns: EntityColumns<AuthorityRow> } | null = null;
  private byId: { readonly query: PreparedQuery; readonly columns: EntityColumns<AuthorityRow> } | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async findPlatform(): Promise<Authority | null> {
    const row = await this.dataSource.getRepository(AuthorityRow).findOneBy({ singleton: 'platform' });
    return row ? toAuthority(row) : null;
  }

  // On every transition of a certificate (its event names the issuer): prepared, as findActiveTenantRoot.
  async findById(id: string): Promise<Authority | null> {
    const lookup = (this.byId ??= ((columns) => ({ columns, query: new PreparedQuery(this.dataSource, `SELECT ${columns.select} FROM authorities a WHERE a.id = $1`) }))(
      new EntityColumns(this.dataSource, AuthorityRow, 'a'),
    ));
    const [row] = await lookup.query.rows([id]);
    const authority = row ? lookup.columns.read(row) : null;
    return authority ? toAuthority(authority) : null;
  }

  async findTenantRoot(tenantId: string): Promise<Authority | null> {
    const [row] = await this.tenantRoots(tenantId, true).limit(1).getMany();
    return row ? toAuthority(row) : null;
  }

  async findTenantRoots(tenantId: string): Promise<Authority[]> {
    return (await this.tenantRoots(tenantId, false).getMany()).map(toAuthority);
  }

  async countTenantRootRecords(tenantId: string): Promise<number> {
    return this.dataSource.getRepository(AuthorityRow).countBy({ tenantId, kind: 'tenant-root' });
  }

  /** A tenant's roots, the active one first, then those whose certificates exist (newest first), then bookkeeping (pending, failed: only with `withUnsigned`). */
  private tenantRoots(tenantId: string, withUnsigned: boolean) {
    const query = this.dataSource
      .getRepository(AuthorityRow)
      .createQueryBuilder('a')
      .where("a.tenant_id = :tenantId AND a.kind = 'tenant-root'", { tenantId })
      .orderBy("CASE a.status WHEN 'active' THEN 0 WHEN 'pending' THEN 2 WHEN 'failed' THEN 3 ELSE 1 END", 'ASC')
      .addOrderBy('a.created_at', 'DESC')
      .addOrderBy('a.id', 'DESC');
    return withUnsigned ? query : query.andWhere("a.status NOT IN ('pending', 'failed')");
  }

  // On every issuance: a prepared statement, since TypeORM's query building cost more than the lookup itself.
  async findActiveTenantRoot(tenantId: string): Promise<Authority | null> {
    const lookup = (this.activeRoot ??= ((columns) => ({
      columns,
      query: new PreparedQuery(this.dataSource, `SELECT ${columns.select} FROM authorities a WHERE a.tenant_id = $1 AND a.kind = 'tenant-root' AND a.status = 'active' ORDER BY a.created_at DESC LIMIT 1`),
    }))(new EntityColumns(this.dataSource, AuthorityRow, 'a')));
    const [row] = await lookup.query.rows([tenantId]);
    const authority = row ? lookup.columns.read(row) : null;
    return authority ? toAuthority(authority) : null;
  }

  async findByComparableSubject(comparableSubject: string): Promise<Authority[]> {
    const rows = await this.dataSource.getRepository(AuthorityRow).find({ where: { subjectKey: comparableSubject, status: Not('failed') }, order: { createdAt: 'ASC', id: 'ASC' } });
    return rows.map(toAuthority);
  }

  async findLatestResponder(issuerAuthorityId: string): Promise<Authority | null> {
    const row = await this.dataSource.getRepository(AuthorityRow).findOne({ where: { issuerAuthorityId, kind: 'ocsp-responder', status: 'active' }, order: { notAfter: 'DESC' } });
    return row ? toAuthority(row) : null;
  }

  async leasePlatformSerial(id: string, serialNumber: string, at: Date, staleBefore: Date): Promise<boolean> {
    const result = await this.transactions.run((manager) =>
      manager
        .createQueryBuilder()
        .update(AuthorityRow)
        .set({ serialNumber, updatedAt: at })
        .where("id = :id AND status = 'pending' AND (serial_number IS NULL OR updated_at < :staleBefore)", { id, staleBefore: staleBefore.toISOString() })
        .execute(),
    );
    return (result.affected ?? 0) === 1;
  }

  async insertPending(authority: Authority): Promise<void> {
    await claimingTenantRoot(() => claimingAuthorityName(() => this.transactions.run((manager) => manager.insert(AuthorityRow, toAuthorityRow(authority)))));
  }

  async markFailed(id: string, at: Date): Promise<void> {
    await this.transactions.run((manager) => manager.update(AuthorityRow, { id, status: 'pending' }, { status: 'failed', updatedAt: at }));
  }

  async insertPlatformIfAbsent(authority: Authority): Promise<boolean> {
    try {
      await claimingAuthorityName(() => this.transactions.run((manager) => manager.insert(AuthorityRow, toAuthorityRow(authority))));
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async activate(id: string, certificate: AuthorityCertificate, at: Date): Promise<boolean> {
    const result = await claimingAuthorityName(() =>
      this.transactions.run((manager) => manager.update(AuthorityRow, { id, status: 'pending' }, { ...toCertificateColumns(certificate), status: 'active', updatedAt: at })),
    );
    return (result.affected ?? 0) === 1;
  }

  async replaceCertificate(id: string, certificate: AuthorityCertificate, at: Date): Promise<void> {
    await claimingAuthorityName(() => this.transactions.run((manager) => manager.update(AuthorityRow, { id, status: 'active' }, { ...toCertificateColumns(certificate), updatedAt: at })));
  }

  async updateIdentityRules(tenantId: string, authorityId: string, rules: IdentityRules | null, at: Date): Promise<boolean> {
    const result = await this.transactions.run((manager) =>
      manager.update(AuthorityRow, { id: authorityId, tenantId }, { identityRules: rules === null ? null : JSON.stringify(rules), updatedAt: at }),
    );
    return (result.affected ?? 0) === 1;
  }
}
