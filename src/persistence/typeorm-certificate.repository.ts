/** CertificateRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, In, MoreThan, type FindOptionsWhere } from 'typeorm';
import { CertificateRepository, LISTED_STATES, type CertificateFilter, type ClientCertificate } from '../certificates/client-certificate.js';
import type { Page } from '../shared/page.js';
import { CertificateRow } from './entities.js';
import { EntityColumns, PreparedQuery } from './prepared-query.js';
import { BatchedStatement, valueRows, type Dialect } from './sql-batches.js';
import { Transactions } from './transactions.js';

/** Every column of `certificates`, in the order `pendingRowValues` gives them. */
const CERTIFICATE_COLUMNS = [
  'id', 'tenant_id', 'authority_id', 'serial_number', 'state', 'fingerprint_sha256', 'fingerprint_sha1', 'subject', 'common_name',
  'subject_alt_names', 'not_before', 'not_after', 'key_algorithm', 'public_key_sha256', 'key_source', 'issued_at', 'first_used_at',
  'last_used_at', 'revoked_at', 'revocation_reason', 'suspended_at', 'crl_shard', 'created_at', 'updated_at',
] as const;

const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());

/** The same text the entity's column transformers write (columns.ts), so rows read back alike whichever path wrote them. */
function pendingRowValues(certificate: ClientCertificate): unknown[] {
  return [
    certificate.id, certificate.tenantId, certificate.authorityId, certificate.serialNumber, certificate.state,
    certificate.fingerprintSha256, certificate.fingerprintSha1, certificate.subject, certificate.commonName,
    JSON.stringify(certificate.subjectAltNames), iso(certificate.notBefore), iso(certificate.notAfter), certificate.keyAlgorithm,
    certificate.publicKeySha256, certificate.keySource, iso(certificate.issuedAt), iso(certificate.firstUsedAt), iso(certificate.lastUsedAt),
    iso(certificate.revokedAt), certificate.revocationReason, iso(certificate.suspendedAt), certificate.crlShard, iso(certificate.createdAt),
    iso(certificate.updatedAt),
  ];
}

interface IssuedMark {
  readonly id: string;
  readonly sha256: string;
  readonly sha1: string;
  readonly at: Date;
}

const insertPendingRows = (dialect: Dialect, rows: number) =>
  `INSERT INTO certificates (${CERTIFICATE_COLUMNS.join(', ')}) VALUES ${valueRows(dialect, rows, CERTIFICATE_COLUMNS.length)}`;

// A CTE names the VALUES columns the same way in both dialects (SQLite has no `AS v(a, b)` column aliases).
const markIssuedRows = (dialect: Dialect, rows: number) =>
  `WITH issued (id, fingerprint_sha256, fingerprint_sha1, issued_at) AS (VALUES ${valueRows(dialect, rows, 4)}) ` +
  `UPDATE certificates SET state = 'inactive', fingerprint_sha256 = issued.fingerprint_sha256, fingerprint_sha1 = issued.fingerprint_sha1, ` +
  `issued_at = issued.issued_at, updated_at = issued.issued_at FROM issued WHERE certificates.id = issued.id AND certificates.state = 'pending'`;

export function toClientCertificate(row: CertificateRow): ClientCertificate {
  return {
    id: row.id,
    tenantId: row.tenantId,
    authorityId: row.authorityId,
    serialNumber: row.serialNumber,
    state: row.state as ClientCertificate['state'],
    fingerprintSha256: row.fingerprintSha256,
    fingerprintSha1: row.fingerprintSha1,
    subject: row.subject,
    commonName: row.commonName,
    subjectAltNames: row.subjectAltNames,
    notBefore: row.notBefore,
    notAfter: row.notAfter,
    keyAlgorithm: row.keyAlgorithm,
    publicKeySha256: row.publicKeySha256,
    keySource: row.keySource as ClientCertificate['keySource'],
    issuedAt: row.issuedAt,
    firstUsedAt: row.firstUsedAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
    revocationReason: row.revocationReason,
    suspendedAt: row.suspendedAt,
    crlShard: row.crlShard,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

@Injectable()
export class TypeormCertificateRepository extends CertificateRepository {
  // Issuance records each certificate twice (pending before it is signed, issued after); concurrent issuances share both writes.
  private readonly pendingInserts: BatchedStatement<ClientCertificate>;
  private readonly issuedMarks: BatchedStatement<IssuedMark>;
  private readonly columns: EntityColumns<CertificateRow>;
  private readonly lookups = new Map<string, PreparedQuery>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
    this.pendingInserts = new BatchedStatement(dataSource, transactions, insertPendingRows, pendingRowValues);
    this.columns = new EntityColumns(dataSource, CertificateRow, 'c');
    this.issuedMarks = new BatchedStatement(dataSource, transactions, markIssuedRows, (mark: IssuedMark) => [mark.id, mark.sha256, mark.sha1, mark.at.toISOString()]);
  }

  insertPending(certificate: ClientCertificate): Promise<void> {
    return this.pendingInserts.submit(certificate);
  }

  markIssued(id: string, fingerprints: { sha256: string; sha1: string }, at: Date): Promise<void> {
    return this.issuedMarks.submit({ id, sha256: fingerprints.sha256, sha1: fingerprints.sha1, at });
  }

  async markFailed(id: string, at: Date): Promise<void> {
    await this.transactions.run((manager) => manager.update(CertificateRow, { id, state: 'pending' }, { state: 'failed', updatedAt: at }));
  }

  findById(tenantId: string, id: string): Promise<ClientCertificate | null> {
    return this.findOne('c.tenant_id = $1 AND c.id = $2', [tenantId, id]);
  }

  findByAuthorityAndSerial(authorityId: string, serialNumber: string): Promise<ClientCertificate | null> {
    return this.findOne('c.authority_id = $1 AND c.serial_number = $2', [authorityId, serialNumber]);
  }

  findBySerial(tenantId: string, serialNumber: string): Promise<ClientCertificate | null> {
    return this.findOne('c.tenant_id = $1 AND c.serial_number = $2', [tenantId, serialNumber]);
  }

  findByFingerprint(tenantId: string, sha256: string): Promise<ClientCertificate | null> {
    return this.findOne('c.tenant_id = $1 AND c.fingerprint_sha256 = $2', [tenantId, sha256]);
  }

  async list(tenantId: string, filter: CertificateFilter, after: string | null, limit: number): Promise<Page<ClientCertificate>> {
    // The type keeps pending and failed out; this keeps them out of a caller that got round it.
    if (filter.state !== undefined && !(LISTED_STATES as readonly string[]).includes(filter.state)) return { items: [], nextCursor: null };
    const where: FindOptionsWhere<CertificateRow> = { tenantId };
    where.state = filter.state ?? In([...LISTED_STATES]);
    if (filter.commonName !== undefined) where.commonName = filter.commonName;
    if (filter.serialNumber !== undefined) where.serialNumber = filter.serialNumber;
    if (after) where.id = MoreThan(after);
    const rows = await this.dataSource.getRepository(CertificateRow).find({ where, order: { id: 'ASC' }, take: limit + 1 });
    const items = rows.slice(0, limit).map(toClientCertificate);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  /**
   * One certificate by a unique key, as a prepared statement: every
   * transition and every agent's read of a certificate starts here, and in
   * a burst of suspensions TypeORM's building and hydrating of `findOneBy`
   * took more of ccm's CPU than anything else on the request (profile).
   */
  private async findOne(condition: string, values: readonly unknown[]): Promise<ClientCertificate | null> {
    let lookup = this.lookups.get(condition);
    if (!lookup) {
      lookup = new PreparedQuery(this.dataSource, `SELECT ${this.columns.select} FROM certificates c WHERE ${condition} LIMIT 1`);
      this.lookups.set(condition, lookup);
    }
    const [found] = await lookup.rows(values);
    const row = found ? this.columns.read(found) : null;
    // pending and failed rows are bookkeeping of the issuance itself, not certificates anyone holds.
    return row && row.state !== 'pending' && row.state !== 'failed' ? toClientCertificate(row) : null;
  }
}
