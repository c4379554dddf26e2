/**
 * Records left pending by a process that died between recording a
 * certificate and signing it. Their signature, if custody made one, never
 * left that process, so nothing they name exists outside ccm: they are
 * marked failed, which makes them inert (a failed record authenticates
 * nothing, frees its CA name and is listed nowhere), and what they were for
 * can be asked for again. Only records older than any issuance can take
 * (custody's request timeout is seconds) are touched, so a replica's
 * issuance in flight is never cut short.
 */
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../shared/clock.js';

/** Pending records older than this are abandoned. */
export const ABANDONED_AFTER_MS = 10 * 60_000;
const SWEEP_EVERY_MS = 5 * 60_000;

export interface AbandonedCount {
  readonly certificates: number;
  readonly authorities: number;
}

/** The persistence side: marks pending records created before `before` failed. The platform CA's pending record is left alone (it may await an operator's import). */
export abstract class AbandonedIssuanceStore {
  abstract markAbandoned(before: Date, at: Date): Promise<AbandonedCount>;
}

@Injectable()
export class AbandonedIssuances implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('AbandonedIssuances');
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(AbandonedIssuanceStore) private readonly store: AbandonedIssuanceStore,
    private readonly clock: Clock,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.sweep();
    this.timer = setInterval(() => void this.sweep().catch((error: unknown) => this.logger.warn(`sweep of abandoned issuances failed: ${error instanceof Error ? error.message : String(error)}`)), SWEEP_EVERY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sweep(): Promise<AbandonedCount> {
    const now = this.clock.now();
    const count = await this.store.markAbandoned(new Date(now.getTime() - ABANDONED_AFTER_MS), now);
    if (count.certificates > 0 || count.authorities > 0) {
      this.logger.warn(`marked ${count.certificates} client certificate(s) and ${count.authorities} CA record(s) failed: recorded more than ${ABANDONED_AFTER_MS / 60_000} minutes ago and never signed (a process stopped between the record and the signature)`);
    }
    return count;
  }
}
