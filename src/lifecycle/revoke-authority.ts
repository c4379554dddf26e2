/**
 * Revoking a CA that issues device certificates: the CA and everything it
 * issued or that is bound under it are revoked in one transaction,
 * announced by one authority.revoked event. The record stays, revoked, so
 * that the history of its certificates (and devices) remains readable.
 *
 * Two CAs, one revocation; what differs is data (REVOCATIONS): a tenant's
 * root CA is revoked by an administrator, found by its tenant, and takes
 * its delegated intermediates and their certificates with it; an external
 * CA or a delegated intermediate is revoked (removed) by its tenant, found
 * by (tenant, id). Who may call which is the HTTP edge's @Access; here, each
 * target reaches only its own kinds, so the tenant's way cannot revoke the
 * root.
 */
import { Injectable } from '@nestjs/common';
import type { RevocationReason } from '@ccm/event-consumer/contract';
import { AuthorityRepository, isInForce, type Authority, type AuthorityKind } from '../authorities/authority.js';
import { inspectCertificate } from '../codec/certificate-inspection.js';
import { formatDistinguishedName } from '../codec/distinguished-name.js';
import { decodePem } from '../codec/pem.js';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { Clock } from '../shared/clock.js';
import { DomainError, NotFound } from '../shared/errors.js';
import { TenantRepository } from '../tenants/tenant.js';
import { authorityRevokedEvent } from './life-cycle-events.js';
import { LifeCycleStore } from './life-cycle-store.js';
import { RevocationListRefresher } from './revocation-list-refresher.js';

export type AuthorityToRevoke =
  /** The tenant's root CA (POST /v1/tenants/{tenantId}/ca/revoke). */
  | { readonly kind: 'tenant-root'; readonly tenantId: string }
  /** A root the tenant rolled over from, retired early (POST /v1/tenants/{tenantId}/ca/{authorityId}/retire): what it issued is revoked now rather than left to expire. */
  | { readonly kind: 'retiring-root'; readonly tenantId: string; readonly authorityId: string }
  /** One of the tenant's external CAs or delegated intermediates (DELETE or POST …/authorities/{authorityId}/revoke). */
  | { readonly kind: 'tenant-held'; readonly tenantId: string; readonly authorityId: string };

export interface AuthorityRevocation {
  readonly authority: Authority;
  readonly revokedCertificates: number;
}

interface Revocation {
  /** What refusals call the CA. */
  readonly called: string;
  /**
   * Whether ccm publishes a CRL that now changes: a tenant root's lists the
   * certificates it issued. An external CA's CRL is its owner's; a
   * delegated intermediate's, the tenant's.
   */
  readonly refreshesRevocationList: boolean;
}

function revokedConcurrently(revocation: Revocation): DomainError {
  return new DomainError('illegal-transition', `the ${revocation.called} was revoked by a concurrent request`, { state: 'revoked', action: 'revoke' });
}

const REVOCATIONS: Record<AuthorityToRevoke['kind'], Revocation> = {
  'tenant-root': { called: 'tenant CA', refreshesRevocationList: true },
  'retiring-root': { called: 'retiring tenant CA', refreshesRevocationList: true },
  'tenant-held': { called: 'CA', refreshesRevocationList: false },
};

/** The CAs whose keys the tenant holds, the only ones its way reaches. */
const TENANT_HELD_KINDS: readonly AuthorityKind[] = ['external', 'intermediate'];

@Injectable()
export class RevokeAuthority {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly authorities: AuthorityRepository,
    private readonly store: LifeCycleStore,
    private readonly wakeup: OutboxWakeup,
    private readonly revocationLists: RevocationListRefresher,
    private readonly clock: Clock,
  ) {}

  async execute(target: AuthorityToRevoke, reason: RevocationReason): Promise<AuthorityRevocation> {
    const revocation = REVOCATIONS[target.kind];
    if (target.kind === 'tenant-root') return this.revokeTenantCa(target.tenantId, reason, revocation);
    const authority = target.kind === 'retiring-root' ? await this.retiringRoot(target.tenantId, target.authorityId) : await this.tenantHeld(target.tenantId, target.authorityId);
    if (!isInForce(authority)) throw new DomainError('illegal-transition', `cannot revoke a ${revocation.called} that is ${authority.status}`, { state: authority.status, action: 'revoke' });
    const revokedCertificates = await this.revoke(authority, reason, revocation);
    if (revokedCertificates === null) throw revokedConcurrently(revocation);
    return { authority: (await this.authorities.findById(authority.id))!, revokedCertificates };
  }

  /**
   * Revoking the tenant's CA ends its trust domain: every root in force goes (the active one first, so that it signs
   * nothing more, then those a rollover left retiring or published), each with its own event, or a device holding a
   * certificate of one would still get in. Each root is a transaction of its own; a request that stopped between
   * them (a crash) is completed by asking again, which revokes the roots still in force.
   */
  private async revokeTenantCa(tenantId: string, reason: RevocationReason, revocation: Revocation): Promise<AuthorityRevocation> {
    const authority = await this.tenantRoot(tenantId);
    const inForce = (await this.authorities.findTenantRoots(tenantId)).filter(isInForce);
    if (inForce.length === 0) throw new DomainError('illegal-transition', `cannot revoke a ${revocation.called} that is ${authority.status}`, { state: authority.status, action: 'revoke' });
    let revokedCertificates = 0;
    for (const [index, root] of inForce.entries()) {
      const revoked = await this.revoke(root, reason, revocation);
      // The first lost to a concurrent request: that one revokes the rest.
      if (revoked === null && index === 0) throw revokedConcurrently(revocation);
      revokedCertificates += revoked ?? 0;
    }
    return { authority: (await this.authorities.findById(authority.id))!, revokedCertificates };
  }

  /** One CA and what it issued, with its event; the certificates revoked, or null when it was no longer in force. */
  private async revoke(authority: Authority, reason: RevocationReason, revocation: Revocation): Promise<number | null> {
    const issuerSubject = await this.issuerSubjectOf(authority);
    const at = this.clock.now();
    const result = await this.store.revokeAuthority(authority, reason, at, (count) => authorityRevokedEvent(authority, issuerSubject, reason, at, count));
    if (!result) return null;
    this.wakeup.notify();
    if (revocation.refreshesRevocationList) this.revocationLists.refreshSoon(authority.id, 0);
    return result.revokedCertificates;
  }

  private async tenantRoot(tenantId: string): Promise<Authority> {
    if (!(await this.tenants.findById(tenantId))) throw new NotFound('tenant');
    const authority = await this.authorities.findTenantRoot(tenantId);
    if (!authority) throw new NotFound('tenant CA');
    return authority;
  }

  private async retiringRoot(tenantId: string, authorityId: string): Promise<Authority> {
    if (!(await this.tenants.findById(tenantId))) throw new NotFound('tenant');
    const authority = await this.authorities.findById(authorityId);
    if (!authority || authority.tenantId !== tenantId || authority.kind !== 'tenant-root') throw new NotFound('tenant CA');
    if (authority.status === 'active') {
      throw new DomainError('illegal-transition', 'this is the tenant\'s active root CA: roll it over first (POST /v1/tenants/{tenantId}/ca/rollover), or revoke it (POST /v1/tenants/{tenantId}/ca/revoke)', { state: 'active', action: 'retire' });
    }
    // A published root (a staged rollover not activated) is withdrawn the same way: it issued nothing, so nothing else is revoked.
    if (authority.status !== 'retiring' && authority.status !== 'published') throw new DomainError('illegal-transition', `cannot retire a tenant CA that is ${authority.status}`, { state: authority.status, action: 'retire' });
    return authority;
  }

  private async tenantHeld(tenantId: string, authorityId: string): Promise<Authority> {
    const authority = await this.authorities.findById(authorityId);
    if (!authority || authority.tenantId !== tenantId) throw new NotFound('authority');
    if (authority.kind === 'tenant-root') {
      throw new DomainError('conflict', 'the tenant root CA is revoked with POST /v1/tenants/{tenantId}/ca/revoke, by an administrator', { kind: authority.kind });
    }
    // An OCSP responder's key is the tenant's record too, but no CA of its: that id names none.
    if (!TENANT_HELD_KINDS.includes(authority.kind)) throw new NotFound('authority');
    return authority;
  }

  /**
   * The issuer of record (the platform CA for a tenant root, the tenant root
   * for a delegated intermediate); an external CA's is whatever its
   * certificate names, since ccm has no record of it.
   */
  private async issuerSubjectOf(authority: Authority): Promise<string> {
    if (authority.issuerAuthorityId !== null) {
      const issuer = await this.authorities.findById(authority.issuerAuthorityId);
      if (issuer) return issuer.subject;
    }
    return formatDistinguishedName(inspectCertificate(decodePem(authority.certificatePem!, 'CERTIFICATE')[0]!).issuer);
  }
}
