/**
 * Removing an external CA or revoking a delegated intermediate: the CA stops
 * authenticating anything, and every certificate bound under it is revoked
 * in the same transaction, announced by one authority.revoked event (as for
 * a tenant root CA). The record stays, revoked, so that the history of its
 * devices and certificates remains readable.
 */
import { Injectable } from '@nestjs/common';
import { AuthorityRepository, type Authority } from '../authorities/authority.js';
import type { RevocationReason } from '@ccm/event-consumer/contract';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { inspectCertificate } from '../codec/certificate-inspection.js';
import { formatDistinguishedName } from '../codec/distinguished-name.js';
import { decodePem } from '../codec/pem.js';
import { authorityRevokedEvent } from '../lifecycle/life-cycle-events.js';
import { LifeCycleStore } from '../lifecycle/life-cycle-store.js';
import type { AuthorityRevocation } from '../lifecycle/revoke-tenant-authority.js';
import { Clock } from '../shared/clock.js';
import { DomainError, NotFound } from '../shared/errors.js';
import { isTenantHeldAuthority, TrustedAuthorityRepository } from './trusted-authority.js';

@Injectable()
export class RevokeTenantHeldAuthority {
  constructor(
    private readonly trusted: TrustedAuthorityRepository,
    private readonly authorities: AuthorityRepository,
    private readonly store: LifeCycleStore,
    private readonly wakeup: OutboxWakeup,
    private readonly clock: Clock,
  ) {}

  async execute(tenantId: string, authorityId: string, reason: RevocationReason): Promise<AuthorityRevocation> {
    const authority = await this.trusted.findOfTenant(tenantId, authorityId);
    if (!authority) throw new NotFound('authority');
    if (!isTenantHeldAuthority(authority)) {
      throw new DomainError('conflict', 'the tenant root CA is revoked with POST /v1/tenants/{tenantId}/ca/revoke, by an administrator', { kind: authority.kind });
    }
    if (authority.status !== 'active') throw new DomainError('illegal-transition', `cannot revoke a CA that is ${authority.status}`, { state: authority.status, action: 'revoke' });
    const issuerSubject = await this.issuerSubjectOf(authority);
    const at = this.clock.now();
    const result = await this.store.revokeAuthority(authority, reason, at, (count) => authorityRevokedEvent(authority, issuerSubject, reason, at, count));
    if (!result) throw new DomainError('illegal-transition', 'the CA was revoked by a concurrent request', { state: 'revoked', action: 'revoke' });
    this.wakeup.notify();
    return { authority: (await this.trusted.findOfTenant(tenantId, authorityId))!, revokedCertificates: result.revokedCertificates };
  }

  /** A delegated CA's issuer is the tenant root of record; an external CA's is whatever its certificate names. */
  private async issuerSubjectOf(authority: Authority): Promise<string> {
    if (authority.issuerAuthorityId !== null) {
      const issuer = await this.authorities.findById(authority.issuerAuthorityId);
      if (issuer) return issuer.subject;
    }
    return formatDistinguishedName(inspectCertificate(decodePem(authority.certificatePem!, 'CERTIFICATE')[0]!).issuer);
  }
}
