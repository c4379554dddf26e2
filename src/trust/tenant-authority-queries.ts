/** Reading a tenant's device-issuing CAs (root, delegated intermediates, external CAs), always within the tenant. */
import { Injectable } from '@nestjs/common';
import type { Authority } from '../authorities/authority.js';
import { subjectTextProblem } from '../codec/subject-text.js';
import { InvalidRequest, NotFound } from '../shared/errors.js';
import { TenantRepository } from '../tenants/tenant.js';
import { TrustedAuthorityRepository } from './trusted-authority.js';

const MAXIMUM_NAME_LENGTH = 128;

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

/** A label a tenant gives an external or delegated CA: shown back, never interpreted, so held to the text rule of names. */
export function checkedAuthorityName(name: string): string {
  // Checked before trimming, which would quietly drop a leading U+FEFF or U+2028 the edge refuses.
  const problem = subjectTextProblem(name);
  if (problem !== null) throw new InvalidRequest(`name ${problem}`, { field: 'name' });
  const trimmed = name.trim();
  const characters = [...trimmed].length;
  if (characters === 0 || characters > MAXIMUM_NAME_LENGTH) throw new InvalidRequest(`name must be 1 to ${MAXIMUM_NAME_LENGTH} characters`, { field: 'name' });
  return trimmed;
}
