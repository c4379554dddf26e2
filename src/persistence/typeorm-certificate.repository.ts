/** CertificateRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, In, MoreThan, type FindOptionsWhere } from 'typeorm';
import { CertificateRepository, LISTED_STATES, type CertificateFilter, type ClientCertificate } from '../certificates/client-certificate.js';
import type { Page } from '../tenants/tenant.js';
import { CertificateRow } from './entities.js';
import { Transactions } from './transactions.js';

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
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async insertPending(certificate: ClientCertificate): Promise<void> {
    const row = Object.assign(new CertificateRow(), certificate, { subjectAltNames: { ...certificate.subjectAltNames } });
    await this.transactions.run((manager) => manager.insert(CertificateRow, row));
  }

  async markIssued(id: string, fingerprints: { sha256: string; sha1: string }, at: Date): Promise<void> {
    await this.transactions.run((manager) =>
      manager.update(CertificateRow, { id, state: 'pending' }, { state: 'inactive', fingerprintSha256: fingerprints.sha256, fingerprintSha1: fingerprints.sha1, issuedAt: at, updatedAt: at }),
    );
  }

  async markFailed(id: string, at: Date): Promise<void> {
    await this.transactions.run((manager) => manager.update(CertificateRow, { id, state: 'pending' }, { state: 'failed', updatedAt: at }));
  }

  findById(tenantId: string, id: string): Promise<ClientCertificate | null> {
    return this.findOne({ tenantId, id });
  }

  findByAuthorityAndSerial(authorityId: string, serialNumber: string): Promise<ClientCertificate | null> {
    return this.findOne({ authorityId, serialNumber });
  }

  findBySerial(tenantId: string, serialNumber: string): Promise<ClientCertificate | null> {
    return this.findOne({ tenantId, serialNumber });
  }

  findByFingerprint(tenantId: string, sha256: string): Promise<ClientCertificate | null> {
    return this.findOne({ tenantId, fingerprintSha256: sha256 });
  }

  async list(tenantId: string, filter: CertificateFilter, after: string | null, limit: number): Promise<Page<ClientCertificate>> {
    const where: FindOptionsWhere<CertificateRow> = { tenantId };
    where.state = filter.state ?? In([...LISTED_STATES]);
    if (filter.commonName !== undefined) where.commonName = filter.commonName;
    if (filter.serialNumber !== undefined) where.serialNumber = filter.serialNumber;
    if (after) where.id = MoreThan(after);
    const rows = await this.dataSource.getRepository(CertificateRow).find({ where, order: { id: 'ASC' }, take: limit + 1 });
    const items = rows.slice(0, limit).map(toClientCertificate);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  private async findOne(where: FindOptionsWhere<CertificateRow>): Promise<ClientCertificate | null> {
    const row = await this.dataSource.getRepository(CertificateRow).findOneBy(where);
    // pending and failed rows are bookkeeping of the issuance itself, not certificates anyone holds.
    return row && row.state !== 'pending' && row.state !== 'failed' ? toClientCertificate(row) : null;
  }
}
