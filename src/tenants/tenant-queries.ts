/** Reading tenants and their trust bundle. */
import { Injectable } from '@nestjs/common';
import { AuthorityRepository, type Authority } from '../authorities/authority.js';
import { chainPemOf } from '../authorities/certificate-chain.js';
import { DomainError, NotFound } from '../shared/errors.js';
import type { Page } from '../shared/page.js';
import { TenantRepository, type Tenant } from './tenant.js';

@Injectable()
export class TenantQueries {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly authorities: AuthorityRepository,
  ) {}

  async get(tenantId: string): Promise<{ tenant: Tenant; authority: Authority }> {
    const tenant = await this.tenants.findById(tenantId);
    if (!tenant) throw new NotFound('tenant');
    const authority = await this.authorities.findTenantRoot(tenantId);
    if (!authority) throw new DomainError('conflict', 'the tenant has no root CA');
    return { tenant, authority };
  }

  list(after: string | null, limit: number): Promise<Page<Tenant>> {
    return this.tenants.list(after, limit);
  }

  /** The bundle a broker or a device (one-way TLS) trusts: tenant root CA, platform CA, and any offline root above. */
  async trustBundlePem(tenantId: string): Promise<string> {
    const { authority } = await this.get(tenantId);
    return chainPemOf(authority, (id) => this.authorities.findById(id));
  }
}
