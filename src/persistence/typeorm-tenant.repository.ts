/** TenantRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource, MoreThan } from 'typeorm';
import type { Authority } from '../authorities/authority.js';
import { DomainError } from '../shared/errors.js';
import type { Page } from '../shared/page.js';
import { TenantRepository, type Tenant } from '../tenants/tenant.js';
import { AuthorityRow, TenantRow } from './entities.js';
import { EntityColumns, PreparedQuery } from './prepared-query.js';
import { Transactions } from './transactions.js';
import { claimingAuthorityName, toAuthorityRow } from './typeorm-authority.repository.js';
import { isUniqueViolation } from './unique-violation.js';

function toTenant(row: TenantRow): Tenant {
  return { id: row.id, name: row.name, maxTtlSeconds: row.maxTtlSeconds, createdAt: row.createdAt };
}

@Injectable()
export class TypeormTenantRepository extends TenantRepository {
  private byId: { readonly query: PreparedQuery; readonly columns: EntityColumns<TenantRow> } | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async create(tenant: Tenant, pendingRoot: Authority): Promise<void> {
    try {
      await claimingAuthorityName(() =>
        this.transactions.run(async (manager) => {
          await manager.insert(TenantRow, Object.assign(new TenantRow(), tenant));
          await manager.insert(AuthorityRow, toAuthorityRow(pendingRoot));
        }),
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new DomainError('conflict', `a tenant named "${tenant.name}" exists already`, { field: 'name' });
      throw error;
    }
  }

  // Every issuance starts here: a prepared statement, since TypeORM's query building cost more than the lookup itself.
  async findById(id: string): Promise<Tenant | null> {
    const lookup = (this.byId ??= ((columns) => ({ columns, query: new PreparedQuery(this.dataSource, `SELECT ${columns.select} FROM tenants t WHERE t.id = $1`) }))(
      new EntityColumns(this.dataSource, TenantRow, 't'),
    ));
    const [row] = await lookup.query.rows([id]);
    const tenant = row ? lookup.columns.read(row) : null;
    return tenant ? toTenant(tenant) : null;
  }

  async findByName(name: string): Promise<Tenant | null> {
    const row = await this.dataSource.getRepository(TenantRow).findOneBy({ name });
    return row ? toTenant(row) : null;
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
