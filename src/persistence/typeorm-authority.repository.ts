/** AuthorityRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuthorityRepository, type Authority, type AuthorityCertificate, type DeviceRegistration } from '../authorities/authority.js';
import type { IdentityRules } from '../authorities/identity-rules.js';
import type { KeyAlgorithm } from '../custody/key-algorithm.js';
import { AuthorityRow } from './entities.js';
import { dialectOf } from './sql-batches.js';
import { Transactions } from './transactions.js';
import { isUniqueViolation } from './unique-violation.js';

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
  });
}

/** An `authorities` row as plain SQL returns it: column names, text times. */
interface AuthorityColumns {
  readonly id: string;
  readonly tenant_id: string | null;
  readonly kind: string;
  readonly singleton: string | null;
  readonly status: string;
  readonly custody_key_name: string;
  readonly key_algorithm: string;
  readonly subject: string;
  readonly serial_number: string | null;
  readonly certificate_pem: string | null;
  readonly issuer_chain_pem: string | null;
  readonly fingerprint_sha256: string | null;
  readonly not_before: string | null;
  readonly not_after: string | null;
  readonly issuer_authority_id: string | null;
  readonly revoked_at: string | null;
  readonly revocation_reason: string | null;
  readonly revocation_version: number | string;
  readonly identity_rules: string | null;
  readonly registration: string | null;
  readonly name: string | null;
  readonly created_at: string;
  readonly updated_at: string;
}

const dateOrNull = (text: string | null): Date | null => (text === null ? null : new Date(text));

function authorityRowOf(columns: AuthorityColumns): AuthorityRow {
  return Object.assign(new AuthorityRow(), {
    id: columns.id,
    tenantId: columns.tenant_id,
    kind: columns.kind,
    singleton: columns.singleton,
    status: columns.status,
    custodyKeyName: columns.custody_key_name,
    keyAlgorithm: columns.key_algorithm,
    subject: columns.subject,
    serialNumber: columns.serial_number,
    certificatePem: columns.certificate_pem,
    issuerChainPem: columns.issuer_chain_pem,
    fingerprintSha256: columns.fingerprint_sha256,
    notBefore: dateOrNull(columns.not_before),
    notAfter: dateOrNull(columns.not_after),
    issuerAuthorityId: columns.issuer_authority_id,
    revokedAt: dateOrNull(columns.revoked_at),
    revocationReason: columns.revocation_reason,
    revocationVersion: Number(columns.revocation_version),
    identityRules: columns.identity_rules,
    registration: columns.registration,
    name: columns.name,
    createdAt: new Date(columns.created_at),
    updatedAt: new Date(columns.updated_at),
  });
}

@Injectable()
export class TypeormAuthorityRepository extends AuthorityRepository {
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

  async findById(id: string): Promise<Authority | null> {
    const row = await this.dataSource.getRepository(AuthorityRow).findOneBy({ id });
    return row ? toAuthority(row) : null;
  }

  async findTenantRoot(tenantId: string): Promise<Authority | null> {
    const row = await this.dataSource.getRepository(AuthorityRow).findOne({ where: { tenantId, kind: 'tenant-root' }, order: { createdAt: 'DESC' } });
    return row ? toAuthority(row) : null;
  }

  // On every issuance: plain SQL, since TypeORM's query building cost more than the lookup itself.
  async findActiveTenantRoot(tenantId: string): Promise<Authority | null> {
    const marker = dialectOf(this.dataSource) === 'postgres' ? '$1' : '?';
    const rows = (await this.dataSource.query(
      `SELECT * FROM authorities WHERE tenant_id = ${marker} AND kind = 'tenant-root' AND status = 'active' ORDER BY created_at DESC LIMIT 1`,
      [tenantId],
    )) as AuthorityColumns[];
    return rows[0] ? toAuthority(authorityRowOf(rows[0])) : null;
  }

  async findLatestResponder(issuerAuthorityId: string): Promise<Authority | null> {
    const row = await this.dataSource.getRepository(AuthorityRow).findOne({ where: { issuerAuthorityId, kind: 'ocsp-responder', status: 'active' }, order: { notAfter: 'DESC' } });
    return row ? toAuthority(row) : null;
  }

  async insertResponder(responder: Authority): Promise<void> {
    await this.transactions.run((manager) => manager.insert(AuthorityRow, toAuthorityRow(responder)));
  }

  async insertPlatformIfAbsent(authority: Authority): Promise<boolean> {
    try {
      await this.transactions.run((manager) => manager.insert(AuthorityRow, toAuthorityRow(authority)));
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  async activate(id: string, certificate: AuthorityCertificate, at: Date): Promise<boolean> {
    const result = await this.transactions.run((manager) =>
      manager.update(AuthorityRow, { id, status: 'pending' }, { ...certificate, status: 'active', updatedAt: at }),
    );
    return (result.affected ?? 0) === 1;
  }

  async replaceCertificate(id: string, certificate: AuthorityCertificate, at: Date): Promise<void> {
    await this.transactions.run((manager) => manager.update(AuthorityRow, { id, status: 'active' }, { ...certificate, updatedAt: at }));
  }

  async updateIdentityRules(tenantId: string, authorityId: string, rules: IdentityRules | null, at: Date): Promise<boolean> {
    const result = await this.transactions.run((manager) =>
      manager.update(AuthorityRow, { id: authorityId, tenantId }, { identityRules: rules === null ? null : JSON.stringify(rules), updatedAt: at }),
    );
    return (result.affected ?? 0) === 1;
  }
}
