/**
 * Tenant root rollover: a new root key in custody, certified by the platform
 * CA, takes over signing at once; the root it replaces is retiring. What the
 * old root issued stays valid, and it keeps signing their CRLs and OCSP
 * answers, until the last of them expires (RetireTenantRoots); both roots are
 * in the tenant's trust bundle meanwhile.
 *
 * The CA role records the new root (pending) before anything is signed, so a
 * key that custody made is never without its record. The switch (new root
 * active with its certificate, old one retiring, the authority.rolled-over
 * event) is one transaction: a certificate is signed by the old root until
 * it commits and by the new one after, and an issuance in flight across it
 * was signed by a root that is in the bundle either way.
 *
 * Staged, the rollover takes two calls: the first certifies the new root
 * and publishes it (in the trust bundle and the CRLs brokers fetch, with an
 * authority.published event) while the old root keeps signing; the second,
 * once the operator sees the brokers trust it, activates it (the same switch
 * and event as above). So no device can hold a certificate of a root its
 * broker does not trust yet.
 *
 * One at a time per tenant: the database lets a tenant have one root being
 * signed and one published, so of two concurrent rollovers one records its
 * root and the other is refused (TenantRootInProgress, 409) before any key is
 * made; a rollover while a published root awaits activation is refused too.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { certificateRecordOf, IssuingCertificateCache } from '../authorities/authority-certificate.js';
import { AuthorityRepository, TenantRootInProgress, type Authority } from '../authorities/authority.js';
import { AuthorityNameTaken } from '../authorities/authority-names.js';
import { PlatformAuthority } from '../authorities/platform-authority.js';
import { pendingTenantRoot, planTenantRoot } from '../authorities/tenant-root.js';
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { Clock } from '../shared/clock.js';
import { DomainError, NotFound } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { TenantRepository } from '../tenants/tenant.js';
import { authorityPublishedEvent, authorityRolledOverEvent } from './life-cycle-events.js';
import { LifeCycleStore } from './life-cycle-store.js';

export interface RollOverTenantRootCommand {
  readonly tenantId: string;
  /** Validity of the new root; the configured tenant CA validity when absent. Never past the platform CA's. */
  readonly validityDays?: number;
  /** false: publish the new root only (staged); ActivateTenantRoot makes it sign. Default true. */
  readonly activate?: boolean;
}

export interface TenantRootRollover {
  /** The new root: active, or published when the rollover is staged. */
  readonly authority: Authority;
  /** The root it replaced: retiring, or still active when the rollover is staged. */
  readonly previous: Authority;
}

/** The old root was revoked while the new one was being signed: the new certificate is discarded. */
class RolledOverConcurrently extends DomainError {
  constructor() {
    super('illegal-transition', 'the tenant root CA was revoked (or the new root\'s record given up) while the new root was being signed; nothing was rolled over', { state: 'revoked', action: 'roll-over' });
  }
}

@Injectable()
export class RollOverTenantRoot {
  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly tenants: TenantRepository,
    private readonly authorities: AuthorityRepository,
    private readonly platform: PlatformAuthority,
    private readonly issuers: IssuingCertificateCache,
    private readonly ca: CertificateAuthority,
    private readonly store: LifeCycleStore,
    private readonly wakeup: OutboxWakeup,
    private readonly clock: Clock,
  ) {}

  async execute(command: RollOverTenantRootCommand): Promise<TenantRootRollover> {
    const { tenantId } = command;
    const tenant = await this.tenants.findById(tenantId);
    if (!tenant) throw new NotFound('tenant');
    const previous = await this.authorities.findActiveTenantRoot(tenantId);
    if (!previous) throw new DomainError('illegal-transition', 'the tenant has no active root CA to roll over (it was revoked)', { state: 'revoked', action: 'roll-over' });
    if ((await this.authorities.findTenantRoots(tenantId)).some((root) => root.status === 'published')) throw new TenantRootInProgress();
    const activate = command.activate ?? true;
    const platform = await this.platform.active();
    const now = this.clock.now();
    // Every root record counts, failed ones too, so each attempt has a name and a custody key of its own: a key that
    // a failed attempt left in custody is never taken up again (with another algorithm configured meanwhile, it could not be).
    const generation = (await this.authorities.countTenantRootRecords(tenantId)) + 1;
    const policy = { ...this.config.tenantCa, ...(command.validityDays !== undefined ? { validityDays: command.validityDays } : {}) };
    const plan = planTenantRoot(tenant, generation, this.issuers.of(platform), policy, now);
    const id = newId();
    const pending = (serialNumber: string): Authority => pendingTenantRoot(id, tenant.id, plan, serialNumber, platform.id, now);

    const { recorded } = await this.ca.issue(plan.order, {
      pending: (serialNumber) =>
        this.authorities.insertPending(pending(serialNumber)).catch((error: unknown) => {
          // The name is ccm's, unique by tenant and generation: only a concurrent rollover of the same generation has it.
          throw error instanceof AuthorityNameTaken ? new TenantRootInProgress() : error;
        }),
      issued: async (der) => {
        const certificate = certificateRecordOf(der, null);
        const at = this.clock.now();
        const next: Authority = { ...pending(certificate.serialNumber), ...certificate, status: activate ? 'active' : 'published', updatedAt: at };
        const done = activate
          ? await this.store.rollOverTenantRoot(previous, next, { status: 'pending', certificate }, at, authorityRolledOverEvent(next, previous, platform.subject, at))
          : await this.store.publishTenantRoot(next, certificate, at, authorityPublishedEvent(next, platform.subject, at));
        if (!done) throw new RolledOverConcurrently();
        return next;
      },
      failed: () => this.authorities.markFailed(id, this.clock.now()),
    });
    this.wakeup.notify();
    return { authority: recorded, previous: (await this.authorities.findById(previous.id))! };
  }
}

/** The second call of a staged rollover: the published root becomes active, the active one retiring, with authority.rolled-over. */
@Injectable()
export class ActivateTenantRoot {
  constructor(
    private readonly tenants: TenantRepository,
    private readonly authorities: AuthorityRepository,
    private readonly store: LifeCycleStore,
    private readonly wakeup: OutboxWakeup,
    private readonly clock: Clock,
  ) {}

  async execute(tenantId: string, authorityId: string): Promise<TenantRootRollover> {
    if (!(await this.tenants.findById(tenantId))) throw new NotFound('tenant');
    const next = await this.authorities.findById(authorityId);
    if (!next || next.tenantId !== tenantId || next.kind !== 'tenant-root') throw new NotFound('tenant CA');
    if (next.status !== 'published') throw new DomainError('illegal-transition', `only a published root is activated; this one is ${next.status}`, { state: next.status, action: 'activate' });
    const previous = await this.authorities.findActiveTenantRoot(tenantId);
    if (!previous) throw new DomainError('illegal-transition', 'the tenant has no active root CA any more (it was revoked)', { state: 'revoked', action: 'activate' });
    const issuer = next.issuerAuthorityId === null ? null : await this.authorities.findById(next.issuerAuthorityId);
    const at = this.clock.now();
    const activated: Authority = { ...next, status: 'active', updatedAt: at };
    if (!(await this.store.rollOverTenantRoot(previous, activated, { status: 'published' }, at, authorityRolledOverEvent(activated, previous, issuer?.subject ?? next.subject, at)))) {
      throw new DomainError('illegal-transition', 'the root was activated, or the active root revoked, by a concurrent request', { state: 'active', action: 'activate' });
    }
    this.wakeup.notify();
    return { authority: (await this.authorities.findById(next.id))!, previous: (await this.authorities.findById(previous.id))! };
  }
}
