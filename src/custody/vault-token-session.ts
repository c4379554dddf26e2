/**
 * The Vault token the custody adapter sends, and keeping it alive. A static
 * token (CCM_VAULT_AUTH=token) is looked up once at start and, when Vault
 * says it is renewable and expires, renewed in the background at two thirds
 * of its TTL (a periodic token for ever). A login token (AppRole or
 * Kubernetes) comes from a login that happens on first use, is renewed the
 * same way, and is replaced by a new login when Vault refuses the renewal
 * or when the max TTL stops renewals from extending it. The Kubernetes JWT
 * is read from its file at every login: Kubernetes rotates projected tokens.
 *
 * What readiness should know (a refused login, a token Vault no longer
 * accepts) is kept here as a log-safe sentence, so a probe costs no login.
 * Log lines and errors name the method, the mount, the role and the JWT
 * file, never a token, a secret_id or a JWT.
 */
import { readFile } from 'node:fs/promises';
import { Logger } from '@nestjs/common';
import { CustodyError, type DomainError } from '../shared/errors.js';
import { SystemClock, type Clock } from '../shared/clock.js';

export type VaultAuth =
  | { readonly method: 'token'; readonly token: string }
  | { readonly method: 'approle'; readonly roleId: string; readonly secretId: string; readonly mountPath?: string }
  | { readonly method: 'kubernetes'; readonly role: string; readonly jwtFile: string; readonly mountPath?: string };

/** The HTTP calls a session makes, and how their failures become domain errors; the adapter provides them. */
export interface VaultTokenCalls {
  /** `POST /v1/<path>`, with `X-Vault-Token` when `token` is given; resolves with Vault's envelope, rejects like node-vault. */
  write(path: string, body: Record<string, unknown>, token?: string): Promise<unknown>;
  /** `GET /v1/<path>` with `X-Vault-Token`. */
  read(path: string, token: string): Promise<unknown>;
  /** The domain error for a failed call; its message holds Vault's text, never the request. */
  failure(error: unknown, what: string): DomainError;
}

/**
 * Renew (or, when renewal is over, log in again) once this share of the
 * lease has passed: Vault's own agent and LifetimeWatcher renew at about two
 * thirds, which leaves a third of the lease for retries while Vault is away.
 */
const RENEW_FRACTION = 2 / 3;
/** A request made after this share of the lease logs in first: the renewal timer should have run by then, and did not. */
const STALE_FRACTION = 0.8;
/** Wait before another try after a renewal or lookup that did not reach Vault (sealed, unreachable). */
const RETRY_MS = 10_000;
/** No renewal timer below this: a lease that short is over before a request could use a renewed one. */
const SHORTEST_TIMER_MS = 200;

interface Lease {
  readonly token: string;
  /** Clock milliseconds at which Vault expires the token; null for a token without expiry. */
  readonly expiresAt: number | null;
  /** Clock milliseconds after which a request logs in first (login tokens only); null: never. */
  readonly staleAt: number | null;
  /** What a renewal extends the token to when the max TTL is not in the way, in seconds; a shorter renewal means the max TTL is near. */
  readonly fullSeconds: number;
}

interface VaultAuthBlock {
  readonly client_token?: unknown;
  readonly lease_duration?: unknown;
  readonly renewable?: unknown;
}

export class VaultTokenSession {
  private readonly logger = new Logger('VaultAuth');
  private readonly clock: Clock;
  private lease: Lease | null = null;
  private pendingLogin: Promise<string> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Why Vault does not accept ccm now, for readiness; null while nothing says so. */
  private problem: string | null = null;

  constructor(
    private readonly auth: VaultAuth,
    private readonly calls: VaultTokenCalls,
    clock?: Clock,
  ) {
    this.clock = clock ?? new SystemClock();
  }

  get method(): VaultAuth['method'] {
    return this.auth.method;
  }

  /**
   * Starts keeping the token alive: looks a static token up and schedules its
   * renewal, or logs in. In the background: a Vault that is down at start
   * leaves ccm running and not ready, never crashed.
   */
  start(): void {
    if (this.auth.method === 'token') {
      void this.lookUpStaticToken();
    } else {
      this.login().catch((error: unknown) => this.logger.warn(`first Vault login failed: ${messageOf(error)}`));
    }
  }

  /** Stops the renewal timer; the token is left to expire in Vault. */
  close(): void {
    this.closed = true;
    this.clearTimer();
  }

  /** The token for the next request, logging in first when there is none or it is about to expire. */
  async token(): Promise<string> {
    const auth = this.auth;
    if (auth.method === 'token') return auth.token;
    const lease = this.lease;
    if (lease && (lease.staleAt === null || this.now() < lease.staleAt)) return lease.token;
    return this.login();
  }

  /**
   * Vault answered 403 to a request made with `token`. A login token expired
   * or was revoked before its lease said so (older Vaults do not add
   * "invalid token" to the message): the next token comes from a new login,
   * shared by concurrent refusals. A static token has no replacement: null,
   * and readiness reports it when Vault called it invalid.
   */
  async refused(token: string, vaultMessage: string): Promise<string | null> {
    if (this.auth.method === 'token') {
      if (/invalid token/i.test(vaultMessage)) this.problem = 'Vault no longer accepts the configured token (expired or revoked)';
      return null;
    }
    if (this.lease && this.lease.token !== token) return this.lease.token;
    this.lease = null;
    return this.login();
  }

  /** A log-safe sentence when Vault does not accept ccm's credentials now; null otherwise. Never calls Vault. */
  authProblem(): string | null {
    if (this.problem !== null) return this.problem;
    const lease = this.lease;
    if (this.auth.method === 'token' && lease?.expiresAt != null && this.now() >= lease.expiresAt) {
      return `the configured Vault token expired at ${new Date(lease.expiresAt).toISOString()}`;
    }
    return null;
  }

  // ---------------------------------------------------------------------------
  // Login tokens

  /** One login at a time: concurrent requests wait for the same token. */
  private login(): Promise<string> {
    if (!this.pendingLogin) {
      this.pendingLogin = this.performLogin().finally(() => {
        this.pendingLogin = null;
      });
    }
    return this.pendingLogin;
  }

  private async performLogin(): Promise<string> {
    let request: { path: string; body: Record<string, unknown>; what: string };
    try {
      request = await this.loginRequest();
    } catch (error) {
      // An unreadable JWT file: the message names the file, never its content.
      this.problem = messageOf(error);
      throw error;
    }
    const { path, body, what } = request;
    const startedAt = this.now();
    let response: unknown;
    try {
      response = await this.calls.write(path, body);
    } catch (error) {
      const failure = this.calls.failure(error, what);
      // Sealed or unreachable is health's to report; a refusal is ours.
      if (failure.kind !== 'custody-unavailable') this.problem = failure.message;
      throw failure;
    }
    const auth = authBlock(response);
    if (typeof auth?.client_token !== 'string' || auth.client_token === '') throw new CustodyError(`Vault answered ${what} without a token`);
    const seconds = leaseSeconds(auth);
    this.problem = null;
    this.lease = leaseFrom(auth.client_token, startedAt, seconds > 0 ? seconds : null, seconds, true);
    if (seconds > 0) {
      this.logger.log(`logged in to Vault (${this.describe()}); token valid for ${seconds} s${auth.renewable === true ? ', renewed before it expires' : ''}`);
      this.schedule(seconds, auth.renewable === true ? () => this.renewLoginToken() : () => this.loginAgain('its token is not renewable'));
    } else {
      this.logger.log(`logged in to Vault (${this.describe()}); the token does not expire`);
    }
    return auth.client_token;
  }

  private async loginRequest(): Promise<{ path: string; body: Record<string, unknown>; what: string }> {
    const auth = this.auth;
    if (auth.method === 'approle') {
      const mount = trimSlashes(auth.mountPath ?? 'approle');
      return { path: `auth/${mount}/login`, body: { role_id: auth.roleId, secret_id: auth.secretId }, what: `logging in with AppRole at auth/${mount}` };
    }
    if (auth.method === 'kubernetes') {
      const mount = trimSlashes(auth.mountPath ?? 'kubernetes');
      return { path: `auth/${mount}/login`, body: { role: auth.role, jwt: await readJwt(auth.jwtFile) }, what: `logging in with Kubernetes auth at auth/${mount} as role ${auth.role}` };
    }
    throw new CustodyError('a Vault login was requested for a static token');
  }

  private async renewLoginToken(): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    const seconds = await this.renewSelf(lease, 'renewing the Vault token');
    if (this.lease !== lease) return; // A refusal logged in again meanwhile.
    if (typeof seconds !== 'number') {
      if (seconds.kind === 'custody-unavailable') return this.retryLater(lease, seconds, () => this.renewLoginToken());
      return this.loginAgain(`Vault refused the renewal (${seconds.message})`);
    }
    this.lease = leaseFrom(lease.token, this.now(), seconds, lease.fullSeconds, true);
    if (seconds < lease.fullSeconds) {
      // Vault capped the renewal at the max TTL: renewing again would not extend it.
      if (seconds * 1000 * RENEW_FRACTION < SHORTEST_TIMER_MS) return this.loginAgain('its token reached its max TTL');
      this.logger.log(`renewed the Vault token (${this.describe()}) up to its max TTL, ${seconds} s from now; logging in again before then`);
      this.schedule(seconds, () => this.loginAgain('its token reaches its max TTL'));
    } else {
      this.logger.log(`renewed the Vault token (${this.describe()}) for ${seconds} s`);
      this.schedule(seconds, () => this.renewLoginToken());
    }
  }

  private async loginAgain(why: string): Promise<void> {
    this.logger.log(`logging in to Vault again (${this.describe()}): ${why}`);
    const previous = this.lease;
    try {
      await this.login();
    } catch (error) {
      this.logger.error(`Vault login failed (${this.describe()}): ${messageOf(error)}`);
      // The old token may still be good for a while; the next request logs in again if not.
      if (previous && !this.closed) this.retryLater(previous, error, () => this.loginAgain('the previous login failed'));
    }
  }

  // ---------------------------------------------------------------------------
  // Static tokens

  private async lookUpStaticToken(): Promise<void> {
    if (this.auth.method !== 'token' || this.closed) return;
    const token = this.auth.token;
    const startedAt = this.now();
    let response: unknown;
    try {
      response = await this.calls.read('auth/token/lookup-self', token);
    } catch (error) {
      const failure = this.calls.failure(error, 'looking up the configured Vault token');
      if (failure.kind === 'custody-unavailable') {
        this.logger.warn(`${failure.message}; trying again in ${RETRY_MS / 1000} s`);
        this.setTimer(RETRY_MS, () => this.lookUpStaticToken());
      } else if (/invalid token/i.test(failure.message)) {
        this.problem = 'Vault no longer accepts the configured token (expired or revoked)';
        this.logger.error(failure.message);
      } else {
        // A policy without lookup-self (Vault's default policy grants it) hides the TTL: nothing to schedule.
        this.logger.warn(`${failure.message}; the token's expiry is unknown and it is not renewed`);
      }
      return;
    }
    const data = (response as { data?: { ttl?: unknown; renewable?: unknown; expire_time?: unknown; period?: unknown; creation_ttl?: unknown } } | null)?.data;
    // expire_time is exact where ttl is rounded to whole seconds; the difference to the wall clock keeps Vault's notion of now.
    const expireAt = typeof data?.expire_time === 'string' ? Date.parse(data.expire_time) : Number.NaN;
    const ttl = Number.isFinite(expireAt) ? Math.max(0, (expireAt - Date.now()) / 1000) : typeof data?.ttl === 'number' && data.ttl > 0 ? data.ttl : 0;
    const period = typeof data?.period === 'number' && data.period > 0 ? data.period : 0;
    const creationTtl = typeof data?.creation_ttl === 'number' && data.creation_ttl > 0 ? data.creation_ttl : ttl;
    this.problem = null;
    // expire_time is null for a token without expiry; ttl alone cannot tell, since Vault rounds a last second down to 0.
    if (typeof data?.expire_time !== 'string' && ttl === 0) {
      this.lease = null;
      this.logger.log('the configured Vault token does not expire; nothing to renew');
      return;
    }
    this.lease = leaseFrom(token, startedAt, ttl, period || creationTtl, false);
    const expiry = typeof data?.expire_time === 'string' ? data.expire_time : new Date(startedAt + ttl * 1000).toISOString();
    if (data?.renewable !== true) {
      this.logger.warn(`the configured Vault token is not renewable and expires at ${expiry}; replace it before then`);
      return;
    }
    this.logger.log(period > 0 ? `the configured Vault token is periodic (${period} s); renewing it before each period ends` : `the configured Vault token expires at ${expiry}; renewing it at two thirds of its TTL`);
    if (ttl * 1000 * RENEW_FRACTION < SHORTEST_TIMER_MS) this.setTimer(0, () => this.renewStaticToken());
    else this.schedule(ttl, () => this.renewStaticToken());
  }

  private async renewStaticToken(): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    const seconds = await this.renewSelf(lease, 'renewing the configured Vault token');
    if (typeof seconds !== 'number') {
      if (seconds.kind === 'custody-unavailable') return this.retryLater(lease, seconds, () => this.renewStaticToken());
      this.problem = `Vault refused renewing the configured token: ${seconds.message}`;
      this.logger.error(this.problem);
      return;
    }
    this.problem = null;
    this.lease = leaseFrom(lease.token, this.now(), seconds, lease.fullSeconds, false);
    if (seconds < lease.fullSeconds) {
      // Capped at the max TTL: the expiry is final, and only a new token helps.
      this.logger.warn(`the configured Vault token reached its max TTL and expires at ${new Date(this.now() + seconds * 1000).toISOString()}; replace it before then`);
      return;
    }
    this.logger.log(`renewed the configured Vault token for ${seconds} s`);
    this.schedule(seconds, () => this.renewStaticToken());
  }

  // ---------------------------------------------------------------------------

  /** `auth/token/renew-self` with the lease's token: the lease Vault granted, in seconds, or why it did not. */
  private async renewSelf(lease: Lease, what: string): Promise<number | DomainError> {
    try {
      return leaseSeconds(authBlock(await this.calls.write('auth/token/renew-self', {}, lease.token)));
    } catch (error) {
      return this.calls.failure(error, what);
    }
  }

  /** Runs `next` at RENEW_FRACTION of a lease of `seconds` from now. */
  private schedule(seconds: number, next: () => Promise<void>): void {
    const delay = seconds * 1000 * RENEW_FRACTION;
    if (delay < SHORTEST_TIMER_MS) return;
    this.setTimer(delay, next);
  }

  /** After a failure that did not reach Vault: try again while the token still has time, else leave it to the next request. */
  private retryLater(lease: Lease, failure: unknown, next: () => Promise<void>): void {
    const left = lease.expiresAt === null ? RETRY_MS : lease.expiresAt - this.now();
    if (left <= SHORTEST_TIMER_MS) {
      this.logger.error(`the Vault token expired while Vault could not be reached: ${messageOf(failure)}`);
      return;
    }
    const delay = Math.min(RETRY_MS, left / 3);
    this.logger.warn(`${messageOf(failure)}; trying again in ${Math.round(delay)} ms`);
    this.setTimer(delay, next);
  }

  private setTimer(delayMs: number, next: () => Promise<void>): void {
    if (this.closed) return;
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      next().catch((error: unknown) => this.logger.error(`Vault token upkeep failed: ${messageOf(error)}`));
    }, delayMs);
    // Renewal must never keep a process alive that is otherwise done.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private describe(): string {
    const auth = this.auth;
    if (auth.method === 'approle') return `AppRole at auth/${trimSlashes(auth.mountPath ?? 'approle')}`;
    if (auth.method === 'kubernetes') return `Kubernetes role ${auth.role} at auth/${trimSlashes(auth.mountPath ?? 'kubernetes')}`;
    return 'static token';
  }

  private now(): number {
    return this.clock.now().getTime();
  }
}

/** `seconds` null: a token without expiry. */
function leaseFrom(token: string, from: number, seconds: number | null, fullSeconds: number, loginToken: boolean): Lease {
  if (seconds === null) return { token, expiresAt: null, staleAt: null, fullSeconds };
  return { token, expiresAt: from + seconds * 1000, staleAt: loginToken ? from + seconds * 1000 * STALE_FRACTION : null, fullSeconds };
}

function authBlock(response: unknown): VaultAuthBlock | undefined {
  const auth = (response as { auth?: unknown } | null)?.auth;
  return auth !== null && typeof auth === 'object' ? (auth as VaultAuthBlock) : undefined;
}

function leaseSeconds(auth: VaultAuthBlock | undefined): number {
  return typeof auth?.lease_duration === 'number' && auth.lease_duration > 0 ? auth.lease_duration : 0;
}

/** The service account token, read afresh: Kubernetes replaces a projected token well before it expires. */
async function readJwt(file: string): Promise<string> {
  let jwt: string;
  try {
    jwt = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    // The code only (ENOENT, EACCES): Node's message is harmless, but the rule is simpler without exceptions.
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new CustodyError(`cannot read the Kubernetes service account token file ${file} (CCM_VAULT_KUBERNETES_TOKEN_FILE): ${code}`);
  }
  if (jwt === '') throw new CustodyError(`the Kubernetes service account token file ${file} (CCM_VAULT_KUBERNETES_TOKEN_FILE) is empty`);
  return jwt;
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
