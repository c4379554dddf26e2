/**
 * Retirement of rolled-over tenant roots: a retiring root whose last
 * certificate (and delegated intermediate) has expired is retired, with an
 * authority.retired event, and leaves the tenant's trust bundle, so brokers
 * stop trusting a key that vouches for nothing valid any more. Its custody
 * key is kept (README, "CA keys and rotation"): deleting it is the
 * operator's call.
 *
 * Swept at start-up and every hour; a root is retired by one conditional
 * update, so replicas sweeping together retire it once.
 */
import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { AuthorityRepository, type Authority } from '../authorities/authority.js';
import { OutboxWakeup } from '../events/outbox-wakeup.js';
import { Clock } from '../shared/clock.js';
import { authorityRetiredEvent } from './life-cycle-events.js';
import { LifeCycleStore } from './life-cycle-store.js';

const SWEEP_EVERY_MS = 60 * 60_000;

@Injectable()
export class RetireTenantRoots implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('RetireTenantRoots');
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: LifeCycleStore,
    private readonly authorities: AuthorityRepository,
    private readonly wakeup: OutboxWakeup,
    private readonly clock: Clock,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.sweep().catch((error: unknown) => this.logger.warn(`retiring expired tenant roots failed: ${error instanceof Error ? error.message : String(error)}`));
    this.timer = setInterval(() => void this.sweep().catch((error: unknown) => this.logger.warn(`retiring expired tenant roots failed: ${error instanceof Error ? error.message : String(error)}`)), SWEEP_EVERY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Retires every retiring root that has nothing valid left; the ones it retired. */
  async sweep(): Promise<Authority[]> {
    const now = this.clock.now();
    const retired: Authority[] = [];
    for (const authority of await this.store.retiringRootsExpiredBy(now)) {
      const issuer = authority.issuerAuthorityId === null ? null : await this.authorities.findById(authority.issuerAuthorityId);
      if (await this.store.retire(authority, now, authorityRetiredEvent(authority, issuer?.subject ?? authority.subject, now))) {
        retired.push(authority);
        this.logger.log(`tenant root CA ${authority.id} (${authority.subject}) retired: every certificate it issued has expired`);
      }
    }
    if (retired.length > 0) this.wakeup.notify();
    return retired;
  }
}
