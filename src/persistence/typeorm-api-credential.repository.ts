/** ApiCredentialRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, IsNull, LessThan, Or } from 'typeorm';
import type { Role } from '../access/actor.js';
import { ApiCredentialRepository, type ApiCredential, type ApiCredentialFilter } from '../access/api-credential.js';
import { ApiCredentialRow } from './entities.js';
import { Transactions } from './transactions.js';

function toCredential(row: ApiCredentialRow): ApiCredential {
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    tenantId: row.tenantId,
    secretHash: row.secretHash,
    createdAt: row.createdAt,
    createdBy: row.createdBy,
    revokedAt: row.revokedAt,
    lastUsedAt: row.lastUsedAt,
  };
}

@Injectable()
export class TypeormApiCredentialRepository extends ApiCredentialRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async insert(credential: ApiCredential): Promise<void> {
    await this.transactions.run((manager) => manager.insert(ApiCredentialRow, Object.assign(new ApiCredentialRow(), credential)));
  }

  async findById(id: string): Promise<ApiCredential | null> {
    const row = await this.dataSource.getRepository(ApiCredentialRow).findOneBy({ id });
    return row ? toCredential(row) : null;
  }

  async list(filter: ApiCredentialFilter): Promise<ApiCredential[]> {
    const where = { ...(filter.tenantId !== undefined ? { tenantId: filter.tenantId } : {}), ...(filter.role !== undefined ? { role: filter.role } : {}) };
    return (await this.dataSource.getRepository(ApiCredentialRow).find({ where, order: { id: 'ASC' } })).map(toCredential);
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    const result = await this.transactions.run((manager) => manager.update(ApiCredentialRow, { id, revokedAt: IsNull() }, { revokedAt: at }));
    return (result.affected ?? 0) === 1;
  }

  async recordUse(id: string, at: Date, notBefore: Date): Promise<void> {
    await this.transactions.run((manager) => manager.update(ApiCredentialRow, { id, lastUsedAt: Or(IsNull(), LessThan(notBefore)) }, { lastUsedAt: at }));
  }
}
