/** RevocationListStore on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import type { RevocationReason } from '../events/certificate-event.js';
import { RevocationListStore, type RevocationListRecord, type RevokedCertificateEntry } from '../revocation/revocation-list-store.js';
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

  async current(authorityId: string): Promise<RevocationListRecord | null> {
    const row = await this.dataSource.getRepository(RevocationListRow).findOneBy({ authorityId });
    return row
      ? { authorityId, crlNumber: row.crlNumber, revocationVersion: row.revocationVersion, thisUpdate: row.thisUpdate, nextUpdate: row.nextUpdate, der: Buffer.from(row.derBase64, 'base64') }
      : null;
  }

  async revokedEntries(authorityId: string): Promise<RevokedCertificateEntry[]> {
    const rows = await this.dataSource.getRepository(CertificateRow).find({
      where: { authorityId, state: In(['suspended', 'revoked']) },
      select: { serialNumber: true, state: true, suspendedAt: true, revokedAt: true, revocationReason: true, updatedAt: true },
      order: { serialNumber: 'ASC' },
    });
    return rows.map((row) =>
      row.state === 'suspended'
        ? { serialNumber: row.serialNumber, revokedAt: row.suspendedAt ?? row.updatedAt, reason: 'certificateHold' }
        : { serialNumber: row.serialNumber, revokedAt: row.revokedAt ?? row.updatedAt, reason: (row.revocationReason ?? 'unspecified') as RevocationReason },
    );
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
          await manager.insert(RevocationListRow, { authorityId: record.authorityId, ...values });
          return true;
        }
        const result = await manager.update(RevocationListRow, { authorityId: record.authorityId, crlNumber: previousNumber }, values);
        return (result.affected ?? 0) === 1;
      });
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }
}
