/**
 * Revoking a tenant's root CA: the CA and everything it issued (its
 * delegated intermediates and the certificates bound under them included)
 * are revoked in one transaction, announced by one authority.revoked event.
 * The tenant can issue nothing more under it.
 */
import { Injectable } from '@nestjs/common';
import { AuthorityRepository, type Authority } from '../authorities/authority.js';
import type { RevocationReason } from '@ccm/event-consumer/contract';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { Clock } from '../shared/clock.js';
import { DomainError, NotFound } from '../shared/errors.js';
import { TenantRepository } from '../tenants/tenant.js';
import { authorityRevokedEvent } from './life-cycle-events.js';
import { LifeCycleStore } from './life-cycle-store.js';
import { RevocationListRefresher } from './revocation-list-refresher.js';

export interface AuthorityRevocation {
  readonly authority: Authority;
  readonly revokedCertificates: number;
}

@Injectable()
export class RevokeTenantAuthority {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly authorities: AuthorityRepository,
    private readonly store: LifeCycleStore,
    private readonly wakeup: OutboxWakeup,
    private readonly revocationLists: RevocationListRefresher,
    private readonly clock: Clock,
  ) {}

  async execute(tenantId: string, reason: RevocationReason): Promise<AuthorityRevocation> {
    if (!(await this.tenants.findById(tenantId))) throw new NotFound('tenant');
    const authority = await this.authorities.findTenantRoot(tenantId);
    if (!authority) throw new NotFound('tenant CA');
    if (authority.status !== 'active') throw new DomainError('illegal-transition', `cannot revoke a tenant CA that is ${authority.status}`, { state: authority.status, action: 'revoke' });
    const platform = await this.authorities.findById(authority.issuerAuthorityId ?? '');
    if (!platform) throw new Error(`tenant CA ${authority.id} names a missing issuer`);
    const at = this.clock.now();
    const result = await this.store.revokeAuthority(authority, reason, at, (count) => authorityRevokedEvent(authority, platform.subject, reason, at, count));
    if (!result) throw new DomainError('illegal-transition', 'the tenant CA was revoked by a concurrent request', { state: 'revoked', action: 'revoke' });
    this.wakeup.notify();
    this.revocationLists.refreshSoon(authority.id, 0);
    return { authority: (await this.authorities.findById(authority.id))!, revokedCertificates: result.revokedCertificates };
  }
}
