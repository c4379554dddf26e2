/** AbandonedIssuanceStore on TypeORM: two conditional updates, each its own short transaction. */
import { Injectable } from '@nestjs/common';
import { LessThan, Not } from 'typeorm';
import { AbandonedIssuanceStore, type AbandonedCount } from '../ca/abandoned-issuances.js';
import { AuthorityRow, CertificateRow } from './entities.js';
import { Transactions } from './transactions.js';

@Injectable()
export class TypeormAbandonedIssuanceStore extends AbandonedIssuanceStore {
  constructor(private readonly transactions: Transactions) {
    super();
  }

  async markAbandoned(before: Date, at: Date): Promise<AbandonedCount> {
    const certificates = await this.transactions.run((manager) => manager.update(CertificateRow, { state: 'pending', createdAt: LessThan(before) }, { state: 'failed', updatedAt: at }));
    // The platform CA's pending record is claimed, resumed and completed by PlatformAuthority itself (and may wait for an operator's import).
    const authorities = await this.transactions.run((manager) => manager.update(AuthorityRow, { status: 'pending', kind: Not('platform'), createdAt: LessThan(before) }, { status: 'failed', updatedAt: at }));
    return { certificates: certificates.affected ?? 0, authorities: authorities.affected ?? 0 };
  }
}
