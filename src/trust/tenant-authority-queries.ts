/** Reading a tenant's device-issuing CAs (root, delegated intermediates, external CAs), always within the tenant. */
import { Injectable } from '@nestjs/common';
import type { Authority } from '../authorities/authority.js';
import { InvalidRequest, NotFound } from '../shared/errors.js';
import { TenantRepository } from '../tenants/tenant.js';
import { TrustedAuthorityRepository } from './trusted-authority.js';

@Injectable()
export class TenantAuthorityQueries {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly authorities: TrustedAuthorityRepository,
  ) {}

  async list(tenantId: string): Promise<Authority[]> {
    if (!(await this.tenants.findById(tenantId))) throw new NotFound('tenant');
    return this.authorities.listOfTenant(tenantId);
  }

  async get(tenantId: string, authorityId: string): Promise<Authority> {
    const authority = await this.authorities.findOfTenant(tenantId, authorityId);
    if (!authority) throw new NotFound('authority');
    return authority;
  }
}

/** A label a tenant gives an external or delegated CA: shown back, never interpreted. */
export function checkedAuthorityName(name: string): string {
  const trimmed = name.trim();
  if (!/^[^\u0000-\u001f\u007f]{1,128}$/u.test(trimmed)) throw new InvalidRequest('name must be 1 to 128 characters without control characters', { field: 'name' });
  return trimmed;
}
