/** TenantRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, MoreThan } from 'typeorm';
import type { Authority } from '../authorities/authority.js';
import { DomainError } from '../shared/errors.js';
import { TenantRepository, type Page, type Tenant } from '../tenants/tenant.js';
import { AuthorityRow, TenantRow } from './entities.js';
import { dialectOf } from './sql-batches.js';
import { Transactions } from './transactions.js';
import { toAuthorityRow } from './typeorm-authority.repository.js';
import { isUniqueViolation } from './unique-violation.js';

function toTenant(row: TenantRow): Tenant {
  return { id: row.id, name: row.name, maxTtlSeconds: row.maxTtlSeconds, createdAt: row.createdAt };
}

@Injectable()
export class TypeormTenantRepository extends TenantRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async create(tenant: Tenant, issueRootAuthority: () => Promise<Authority>): Promise<{ tenant: Tenant; authority: Authority }> {
    try {
      return await this.transactions.run(async (manager) => {
        await manager.insert(TenantRow, Object.assign(new TenantRow(), tenant));
        const authority = await issueRootAuthority();
        await manager.insert(AuthorityRow, toAuthorityRow(authority));
        return { tenant, authority };
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new DomainError('conflict', `a tenant named "${tenant.name}" exists already`, { field: 'name' });
      throw error;
    }
  }

  // Every issuance starts here: plain SQL, since TypeORM's query building cost more than the lookup itself.
  async findById(id: string): Promise<Tenant | null> {
    const rows = (await this.dataSource.query(`SELECT id, name, max_ttl_seconds, created_at FROM tenants WHERE id = ${dialectOf(this.dataSource) === 'postgres' ? '$1' : '?'}`, [id])) as {
      id: string;
      name: string;
      max_ttl_seconds: number | string | null;
      created_at: string;
    }[];
    const row = rows[0];
    return row ? { id: row.id, name: row.name, maxTtlSeconds: row.max_ttl_seconds === null ? null : Number(row.max_ttl_seconds), createdAt: new Date(row.created_at) } : null;
  }

  async list(after: string | null, limit: number): Promise<Page<Tenant>> {
    const rows = await this.dataSource.getRepository(TenantRow).find({
      where: after ? { id: MoreThan(after) } : {},
      order: { id: 'ASC' },
      take: limit + 1,
    });
    const items = rows.slice(0, limit).map(toTenant);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }
}
