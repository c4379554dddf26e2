/**
 * What readiness checks, one terminus indicator each, every one under its own
 * timeout so that a hung dependency turns into a quick "down" instead of a
 * hung probe: the database (SELECT 1), Redis when configured (PING), key
 * custody (KeyCustody.readiness: key directory, or Vault reachable and
 * unsealed) and the platform CA. Reasons are log-safe: they go into probe
 * answers and the log.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { HealthIndicatorService, type HealthCheckResult, type HealthIndicatorFunction, type HealthIndicatorResult } from '@nestjs/terminus';
import { PlatformAuthority } from '../authorities/platform-authority.js';
import { KeyCustody } from '../custody/key-custody.js';
import { DatabaseProbe } from './database-probe.js';
import { RedisProbe } from './redis-probe.js';

/**
 * Per check. Kubernetes' probe timeoutSeconds must be longer (3 s or more),
 * or a slow dependency shows as a probe timeout instead of a 503 that says which.
 */
export const CHECK_TIMEOUT_MS = 2000;

@Injectable()
export class ReadinessChecks implements OnApplicationShutdown {
  private readonly logger = new Logger('Readiness');
  private lastOutcome: string | null = null;

  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly database: DatabaseProbe,
    private readonly custody: KeyCustody,
    private readonly platform: PlatformAuthority,
    @Inject(RedisProbe) private readonly redis: RedisProbe | null,
  ) {}

  all(): HealthIndicatorFunction[] {
    const redis = this.redis;
    return [() => this.databaseCheck(), ...(redis ? [() => this.redisCheck(redis)] : []), () => this.custodyCheck(), () => this.platformCaCheck()];
  }

  /** Logs when readiness changes (not on every probe: Kubernetes asks every few seconds). */
  noteOutcome(result: HealthCheckResult): void {
    const failing = Object.entries(result.error ?? {}).map(([key, detail]) => `${key}: ${String(detail?.['message'] ?? 'down')}`);
    const outcome = failing.length > 0 ? `not ready (${failing.join('; ')})` : result.status === 'shutting_down' ? 'shutting down' : 'ready';
    if (outcome === this.lastOutcome) return;
    const first = this.lastOutcome === null;
    this.lastOutcome = outcome;
    if (failing.length > 0) this.logger.warn(outcome);
    else if (!first) this.logger.log(outcome);
  }

  private databaseCheck(): PromiseLike<HealthIndicatorResult<'database'>> {
    return this.indicators
      .check('database')
      .attempt(async () => {
        try {
          await this.database.ping();
        } catch (error) {
          throw new Error(logSafe(error));
        }
      })
      .withTimeout(CHECK_TIMEOUT_MS);
  }

  /**
   * Never fails readiness either, but reports Redis down as "degraded" (still
   * 200). ccm keeps working without Redis: state changes and their events
   * commit to the outbox in the database, and the relay publishes them once
   * Redis is back. Failing readiness would take every replica out of its
   * Service at once, and with them device authentication, the brokers' hot
   * path, for an outage that loses nothing.
   */
  private async redisCheck(redis: RedisProbe): Promise<HealthIndicatorResult<'redis'>> {
    const session = this.indicators.check('redis');
    const pinged = await session
      .attempt(async ({ signal }) => {
        try {
          await redis.ping(signal);
        } catch (error) {
          throw new Error(logSafe(error));
        }
      })
      .withTimeout(CHECK_TIMEOUT_MS);
    if (pinged.redis.status === 'up') return pinged;
    return session.degraded({ message: `${String(pinged.redis['message'])}; events wait in the outbox until Redis is back` });
  }

  private custodyCheck(): PromiseLike<HealthIndicatorResult<'custody'>> {
    return this.indicators
      .check('custody')
      .attempt(async () => {
        const readiness = await this.custody.readiness();
        if (!readiness.ready) throw new Error(logSafe(readiness.reason ?? `${this.custody.kind} custody is not ready`));
        return { kind: this.custody.kind };
      })
      .withTimeout(CHECK_TIMEOUT_MS);
  }

  /**
   * Never fails readiness. With CCM_PLATFORM_CA_MODE=external the platform CA
   * waits for the operator's PUT /v1/platform-ca/certificate, and a pod that
   * is not ready gets no traffic from its Service: failing readiness would
   * lock the operator out of the very call that ends the wait. So it is
   * "degraded" (overall status "degraded", still 200) until then.
   */
  private async platformCaCheck(): Promise<HealthIndicatorResult<'platformCa'>> {
    const session = this.indicators.check('platformCa');
    const read = await session
      .attempt(async () => ({ caStatus: (await this.platform.current()).status }))
      .withTimeout(CHECK_TIMEOUT_MS);
    const outcome = read.platformCa;
    if (outcome.status !== 'up') return session.degraded({ message: `platform CA state unknown: ${logSafe(outcome['message'])}` });
    const caStatus = String(outcome['caStatus']);
    if (caStatus === 'active') return session.up({ caStatus });
    const message =
      caStatus === 'pending'
        ? 'awaiting its certificate: GET /v1/platform-ca/csr, have it signed, PUT /v1/platform-ca/certificate; tenants cannot be created until then'
        : `platform CA is ${caStatus}: tenants cannot be created`;
    return session.degraded({ caStatus, message });
  }

  onApplicationShutdown(): void {
    this.redis?.close();
  }
}

/** An error's message without credentials in URLs (user:password@), on one line, bounded. */
function logSafe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\/\/[^/@\s]*@/g, '//').replace(/\s+/g, ' ').slice(0, 300);
}
