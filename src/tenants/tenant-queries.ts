/** Reading tenants and their trust bundle. */
import { Injectable } from '@nestjs/common';
import { AuthorityRepository, rootsToPublish, type Authority } from '../authorities/authority.js';
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
    if (!(await this.tenants.findById(tenantId))) throw new NotFound('tenant');
    // A tenant none of whose roots was ever certified (its creation failed): its current root, as get() finds it.
    const roots = rootsToPublish(await this.authorities.findTenantRoots(tenantId));
    if (roots.length === 0) roots.push((await this.get(tenantId)).authority);
    // The roots share their issuers (the platform CA): each is read once.
    const issuers = new Map<string, Promise<Authority | null>>();
    const findById = (id: string): Promise<Authority | null> => {
      let found = issuers.get(id);
      if (!found) issuers.set(id, (found = this.authorities.findById(id)));
      return found;
    };
    const chains = await Promise.all(roots.map((root) => chainPemOf(root, findById)));
    return [...new Set(chains.flatMap((chain) => decodePem(chain, ['CERTIFICATE']).map((der) => encodePem(der, 'CERTIFICATE'))))].join('');
  }
}
