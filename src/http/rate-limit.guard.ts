/**
 * The edge of the per-credential rate limits (src/access/rate-limits.ts):
 * `@RateLimit(class)` on a route takes one token from the caller's bucket
 * before the handler runs, so a refused request does nothing and stores
 * nothing (429 problem+json with Retry-After, from the RateLimited error).
 * The guard is a route guard, so it runs after the global AccessGuard has
 * authenticated the caller and left `request.actor`: by default the bucket is
 * the API credential's (the bootstrap administrator key has its own). Routes
 * with their own credentials (EST) name how to find it.
 */
import { applyDecorators, Injectable, SetMetadata, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RateLimiter, type RateLimitClass } from '../access/rate-limits.js';
import type { ActorRequest } from './access.guard.js';

const RATE_LIMIT = 'ccm:rate-limit';

/**
 * The bucket a request draws from. null: the request presents no credential
 * at all, which the route refuses without doing any work, so there is
 * nothing to count.
 */
export type RateLimitKey = (request: ActorRequest) => string | null;

interface RateLimitMetadata {
  readonly limitClass: RateLimitClass;
  readonly keyOf: RateLimitKey;
}

/** The API key that AccessGuard authenticated. */
export const byApiCredential: RateLimitKey = (request) => {
  const actor = request.actor;
  // A route limited by API key must be an @Access route; anything else is a wiring mistake, not the caller's.
  if (!actor) throw new Error('@RateLimit by API credential on a route without @Access');
  return actor.credentialId === null ? 'api-credential:bootstrap-administrator' : `api-credential:${actor.credentialId}`;
};

@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiter: RateLimiter,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const limit = this.reflector.get<RateLimitMetadata | undefined>(RATE_LIMIT, context.getHandler());
    if (!limit) throw new Error('RateLimitGuard on a route without @RateLimit');
    const key = limit.keyOf(context.switchToHttp().getRequest<ActorRequest>());
    if (key !== null) this.limiter.take(limit.limitClass, key);
    return true;
  }
}

/** Limits this route per credential in `limitClass`; `keyOf` finds the credential (default: the API key). */
export function RateLimit(limitClass: RateLimitClass, keyOf: RateLimitKey = byApiCredential): MethodDecorator {
  const metadata: RateLimitMetadata = { limitClass, keyOf };
  return applyDecorators(SetMetadata(RATE_LIMIT, metadata), UseGuards(RateLimitGuard));
}
