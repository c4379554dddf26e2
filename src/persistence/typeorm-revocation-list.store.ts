/** RevocationListStore on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { RevocationReason } from '@ccm/event-consumer/contract';
import { COMPLETE_SCOPE, RevocationListStore, type RevocationListRecord, type RevokedCertificateEntry } from '../revocation/revocation-list-store.js';
import { CertificateRow, RevocationListRow } from './entities.js';
import { Transactions } from './transactions.js';
import { isUniqueViolation } from './unique-violation.js';

@Injectable()
export class TypeormRevocationListStore extends RevocationListStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async current(authorityId: string, scope: number): Promise<RevocationListRecord | null> {
    const row = await this.dataSource.getRepository(RevocationListRow).findOneBy({ authorityId, scope });
    return row
      ? { authorityId, scope, crlNumber: row.crlNumber, revocationVersion: row.revocationVersion, thisUpdate: row.thisUpdate, nextUpdate: row.nextUpdate, der: Buffer.from(row.derBase64, 'base64') }
      : null;
  }

  async revokedEntries(authorityId: string, scope: number): Promise<RevokedCertificateEntry[]> {
    // Raw rows: CRLs list up to hundreds of thousands of entries, and entity hydration would cost more than signing.
    const query = this.dataSource
      .getRepository(CertificateRow)
      .createQueryBuilder('c')
      .select(['c.serial_number AS serial', 'c.state AS state', 'c.suspended_at AS suspended_at', 'c.revoked_at AS revoked_at', 'c.revocation_reason AS reason', 'c.updated_at AS updated_at'])
      .where('c.authority_id = :authorityId', { authorityId })
      .andWhere('c.state IN (:...states)', { states: ['suspended', 'revoked'] });
    if (scope !== COMPLETE_SCOPE) query.andWhere('c.crl_shard = :scope', { scope });
    const rows = await query
      .orderBy('c.serial_number', 'ASC')
      .getRawMany<{ serial: string; state: string; suspended_at: string | null; revoked_at: string | null; reason: string | null; updated_at: string }>();
    return rows.map((row) =>
      row.state === 'suspended'
        ? { serialNumber: row.serial, revokedAt: new Date(row.suspended_at ?? row.updated_at), reason: 'certificateHold' }
        : { serialNumber: row.serial, revokedAt: new Date(row.revoked_at ?? row.updated_at), reason: (row.reason ?? 'unspecified') as RevocationReason },
    );
  }

  async hasShard(authorityId: string, shard: number): Promise<boolean> {
    return this.dataSource.getRepository(CertificateRow).exists({ where: { authorityId, crlShard: shard } });
  }

  async save(record: RevocationListRecord, previousNumber: number | null): Promise<boolean> {
    const values = {
      crlNumber: record.crlNumber,
      revocationVersion: record.revocationVersion,
      thisUpdate: record.thisUpdate,
      nextUpdate: record.nextUpdate,
      derBase64: Buffer.from(record.der).toString('base64'),
    };
    try {
      return await this.transactions.run(async (manager) => {
        if (previousNumber === null) {
          await manager.insert(RevocationListRow, { authorityId: record.authorityId, scope: record.scope, ...values });
          return true;
        }
        const result = await manager.update(RevocationListRow, { authorityId: record.authorityId, scope: record.scope, crlNumber: previousNumber }, values);
        return (result.affected ?? 0) === 1;
      });
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }
}
