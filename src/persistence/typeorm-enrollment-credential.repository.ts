/** EnrollmentCredentialRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { EnrollmentCredentialRepository, type EnrollmentCredential } from '../enrollment/enrollment-credential.js';
import { EnrollmentCredentialRow } from './entities.js';
import { Transactions } from './transactions.js';

function toCredential(row: EnrollmentCredentialRow): EnrollmentCredential {
  return { id: row.id, tenantId: row.tenantId, name: row.name, secretHash: row.secretHash, createdAt: row.createdAt, revokedAt: row.revokedAt };
}

@Injectable()
export class TypeormEnrollmentCredentialRepository extends EnrollmentCredentialRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async insert(credential: EnrollmentCredential): Promise<void> {
    await this.transactions.run((manager) => manager.insert(EnrollmentCredentialRow, Object.assign(new EnrollmentCredentialRow(), credential)));
  }

  async findById(tenantId: string, id: string): Promise<EnrollmentCredential | null> {
    const row = await this.dataSource.getRepository(EnrollmentCredentialRow).findOneBy({ tenantId, id });
    return row ? toCredential(row) : null;
  }

  async list(tenantId: string): Promise<EnrollmentCredential[]> {
    return (await this.dataSource.getRepository(EnrollmentCredentialRow).find({ where: { tenantId }, order: { id: 'ASC' } })).map(toCredential);
  }

  async revoke(tenantId: string, id: string, at: Date): Promise<boolean> {
    const result = await this.transactions.run((manager) => manager.update(EnrollmentCredentialRow, { tenantId, id, revokedAt: IsNull() }, { revokedAt: at }));
    return (result.affected ?? 0) === 1;
  }
}
