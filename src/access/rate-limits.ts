/**
 * Per-credential rate limits: a token bucket per (credential, class of
 * request), refilled at a configured rate up to a burst, read from the
 * injected clock. Two classes: `issuance` (anything that signs a client
 * certificate) and `authentication` (the broker's question).
 *
 * The buckets live in this process: each replica counts on its own, so N
 * replicas behind a balancer allow up to N times the configured rate. A
 * limiter shared through Redis would replace `InMemoryRateLimiter` behind the
 * same port; it is not built yet. Memory is bounded: idle buckets (refilled
 * to full, so indistinguishable from a new one) are swept, and past
 * `MAX_BUCKETS_PER_CLASS` the least recently used go, each getting a fresh
 * burst when its credential returns.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration, RateLimitSetting } from '../config/configuration.js';
import { Clock } from '../shared/clock.js';
import { RateLimited } from '../shared/errors.js';

export const RATE_LIMIT_CLASSES = ['issuance', 'authentication'] as const;
export type RateLimitClass = (typeof RATE_LIMIT_CLASSES)[number];

/** The port: takes one request's token from `key`'s bucket of `limitClass`, or throws RateLimited. */
export abstract class RateLimiter {
  abstract take(limitClass: RateLimitClass, key: string): void;
}

/** Keys are credentials, but EST keys come from what an unauthenticated caller claims: this caps what they can make us remember. */
export const MAX_BUCKETS_PER_CLASS = 50_000;
/** How often buckets that have refilled to full are dropped. */
const IDLE_SWEEP_MS = 60_000;

interface Bucket {
  tokens: number;
  /** Clock time (ms) at which `tokens` was computed. */
  at: number;
}

export type TakeResult = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

/** Token buckets of one class. `setting.perSecond` 0 means unlimited. */
export class TokenBuckets {
  /** In order of last use, oldest first (a used bucket is re-inserted at the end). */
  private readonly buckets = new Map<string, Bucket>();
  private lastSweep: number;

  constructor(
    private readonly setting: RateLimitSetting,
    private readonly clock: Clock,
    private readonly maxBuckets: number = MAX_BUCKETS_PER_CLASS,
  ) {
    this.lastSweep = clock.now().getTime();
  }

  get size(): number {
    return this.buckets.size;
  }

  take(key: string): TakeResult {
    if (this.setting.perSecond === 0) return { allowed: true };
    const now = this.clock.now().getTime();
    if (now - this.lastSweep >= IDLE_SWEEP_MS || this.buckets.size >= this.maxBuckets) this.sweep(now);
    const existing = this.buckets.get(key);
    const tokens = existing ? this.refilled(existing, now) : this.setting.burst;
    this.buckets.delete(key);
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      return { allowed: true };
    }
    this.buckets.set(key, { tokens, at: now });
    // Whole seconds (Retry-After is delta-seconds, RFC 9110 §10.2.3), rounded up so a retry at that time finds a token.
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.setting.perSecond)) };
  }

  private refilled(bucket: Bucket, now: number): number {
    // A clock that steps back refills nothing rather than draining.
    const elapsedSeconds = Math.max(0, now - bucket.at) / 1000;
    return Math.min(this.setting.burst, bucket.tokens + elapsedSeconds * this.setting.perSecond);
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (this.refilled(bucket, now) >= this.setting.burst) this.buckets.delete(key);
    }
    // Still too many busy buckets (keys made up faster than they refill): drop the least recently used.
    const target = Math.floor(this.maxBuckets * 0.9);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= target) break;
      this.buckets.delete(key);
    }
  }
}

@Injectable()
export class InMemoryRateLimiter extends RateLimiter {
  private readonly classes: Record<RateLimitClass, TokenBuckets>;

  constructor(@Inject(CONFIGURATION) configuration: Configuration, clock: Clock) {
    super();
    this.classes = {
      issuance: new TokenBuckets(configuration.rateLimits.issuance, clock),
      authentication: new TokenBuckets(configuration.rateLimits.authentication, clock),
    };
  }

  take(limitClass: RateLimitClass, key: string): void {
    const result = this.classes[limitClass].take(key);
    if (!result.allowed) throw new RateLimited(result.retryAfterSeconds);
  }
}
