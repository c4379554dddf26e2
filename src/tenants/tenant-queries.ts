/** Reading tenants and their trust bundle. */
import { Injectable } from '@nestjs/common';
import { AuthorityRepository, isInForce, type Authority } from '../authorities/authority.js';
import { decodePem, encodePem } from '../codec/pem.js';
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

  /**
   * The bundle a broker or a device (one-way TLS) trusts: the tenant root CA, platform CA, and any offline root
   * above. During a rollover, every root in force: the active one's chain first, then each retiring root's (newest
   * first), each certificate once, so devices holding certificates of either root connect.
   */
  async trustBundlePem(tenantId: string): Promise<string> {
    const { authority } = await this.get(tenantId);
    const inForce = (await this.authorities.findTenantRoots(tenantId)).filter(isInForce);
    const findById = (id: string) => this.authorities.findById(id);
    const chains = await Promise.all((inForce.length > 0 ? inForce : [authority]).map((root) => chainPemOf(root, findById)));
    return [...new Set(chains.flatMap((chain) => decodePem(chain, ['CERTIFICATE']).map((der) => encodePem(der, 'CERTIFICATE'))))].join('');
  }
}
