/** TrustedAuthorityRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, In, IsNull, Not } from 'typeorm';
import type { Authority } from '../authorities/authority.js';
import { DEVICE_ISSUING_KINDS, TrustedAuthorityRepository } from '../trust/trusted-authority.js';
import { AuthorityRow } from './entities.js';
import { toAuthority, toAuthorityRow } from './typeorm-authority.repository.js';
import { Transactions } from './transactions.js';

@Injectable()
export class TypeormTrustedAuthorityRepository extends TrustedAuthorityRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async findBySubject(subject: string): Promise<Authority[]> {
    const rows = await this.dataSource.getRepository(AuthorityRow).find({
      where: { subject, kind: In([...DEVICE_ISSUING_KINDS]), status: In(['active', 'revoked']), certificatePem: Not(IsNull()) },
      order: { createdAt: 'DESC', id: 'DESC' },
    });
    const authorities = rows.map(toAuthority);
    return [...authorities.filter((a) => a.status === 'active'), ...authorities.filter((a) => a.status !== 'active')];
  }

  async findOfTenant(tenantId: string, authorityId: string): Promise<Authority | null> {
    const row = await this.dataSource.getRepository(AuthorityRow).findOneBy({ tenantId, id: authorityId, kind: In([...DEVICE_ISSUING_KINDS]) });
    return row ? toAuthority(row) : null;
  }

  async listOfTenant(tenantId: string): Promise<Authority[]> {
    const rows = await this.dataSource.getRepository(AuthorityRow).find({ where: { tenantId, kind: In([...DEVICE_ISSUING_KINDS]) }, order: { createdAt: 'ASC', id: 'ASC' } });
    return rows.map(toAuthority);
  }

  async insert(authority: Authority): Promise<void> {
    await this.transactions.run((manager) => manager.insert(AuthorityRow, toAuthorityRow(authority)));
  }

  async markFailed(id: string, at: Date): Promise<void> {
    await this.transactions.run((manager) => manager.update(AuthorityRow, { id, status: 'pending' }, { status: 'failed', updatedAt: at }));
  }

  async findDelegatedBySerial(issuerAuthorityId: string, serialNumber: string): Promise<Authority | null> {
    const row = await this.dataSource.getRepository(AuthorityRow).findOneBy({ issuerAuthorityId, serialNumber, kind: 'intermediate', status: In(['active', 'revoked']) });
    return row ? toAuthority(row) : null;
  }
}
