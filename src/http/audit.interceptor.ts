/**
 * The audit trail at the HTTP edge. Every mutating route carries
 * `@Audited(action, route)`; one global interceptor records how each audited
 * request ended: succeeded, with what the answer says (the created object's
 * id, its tenant, a serial number); or refused (a 4xx error kind) or failed
 * (a 5xx), with the kind as the reason. It sees errors of the pipes too
 * (validation, a path id that is no id), since Nest runs pipes inside the
 * interceptor chain.
 *
 * Guards run before interceptors, so a request the AccessGuard refuses (401
 * without a valid key, 403 for the wrong role, 404 for another tenant's
 * path) never reaches AuditInterceptor: the guard records those itself,
 * through HttpAuditRecorder. Rate-limit refusals (429, RateLimitGuard) are
 * not recorded: a flood is exactly when one more INSERT per request hurts.
 *
 * What goes in: the actor's name (describeActor, never the key), the ids in
 * the path, and members of the answer picked one by one by the route's
 * `fromResponse`, which never spreads a response (it may hold a private
 * key). No request body, header or PEM; AuditLog screens details again.
 *
 * Entries are written after the use case has returned, outside its
 * transaction (why, and what that means: src/audit/audit.module.ts). A write
 * that fails is logged and does not change the answer: the change is done,
 * and the caller must learn that it is.
 */
import { HttpException, Injectable, Logger, SetMetadata, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiExtension } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { concatMap, defer, type Observable } from 'rxjs';
import { catchError } from 'rxjs/operators';
import { describeActor } from '../access/actor.js';
import { AuditLog, type AuditFact } from '../audit/audit-log.js';
import type { AuditAction, AuditOutcome, AuditTargetType } from '../audit/audit-trail.js';
import { AuthenticationRefused, DomainError } from '../shared/errors.js';
import type { ActorRequest } from './access.guard.js';
import { statusOfKind } from './problem.filter.js';

const AUDITED = 'ccm:audited';

/** What is known about a decision beyond the route's path: all optional, later sources win. */
export interface AuditFacts {
  readonly targetId?: string | null;
  readonly tenantId?: string | null;
  /** For public routes that authenticate by other means (EST): "enrollment:<id>", "certificate:<id>". */
  readonly actor?: string;
  /** Small scalars only (serial number, state, reason code); never a PEM, key or secret. */
  readonly details?: Record<string, unknown>;
}

export interface AuditedRoute<R> {
  /** What kind of object the action is about. */
  readonly target: AuditTargetType;
  /** The path parameter that names the target: known even when the request fails. */
  readonly targetParam?: string;
  /** What a successful answer adds (the id of what it created, its tenant, details). Pick members one by one. */
  readonly fromResponse?: (response: R) => AuditFacts;
}

interface AuditedMetadata {
  readonly action: AuditAction;
  readonly route: AuditedRoute<unknown>;
}

/**
 * Records every outcome of this route in the audit trail, under `action`
 * (shown in OpenAPI as x-ccm-audit). `fromResponse` is checked against what
 * the handler returns.
 */
export function Audited<R = unknown>(action: AuditAction, route: AuditedRoute<R>) {
  const metadata: AuditedMetadata = { action, route: route as AuditedRoute<unknown> };
  return <M extends (...args: never[]) => Promise<R>>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<M>): void => {
    SetMetadata(AUDITED, metadata)(target, key, descriptor);
    ApiExtension('x-ccm-audit', action)(target, key, descriptor);
  };
}

type AuditedRequest = ActorRequest & { auditFacts?: AuditFacts };

/**
 * For a handler whose answer cannot tell (EST answers a PKCS#7 blob): facts
 * about this request, merged into its entry. Noted before the use case runs,
 * they also go into the entry of a refusal (the enrollment credential named).
 */
export function noteAuditFacts(request: FastifyRequest, facts: AuditFacts): void {
  const audited = request as AuditedRequest;
  audited.auditFacts = { ...audited.auditFacts, ...facts, details: { ...audited.auditFacts?.details, ...facts.details } };
}

/** Turns one request's outcome on an audited route into an entry; shared by the interceptor and the AccessGuard. */
@Injectable()
export class HttpAuditRecorder {
  private readonly logger = new Logger('AuditTrail');

  constructor(
    private readonly reflector: Reflector,
    private readonly log: AuditLog,
  ) {}

  /** The audit declaration of the route this request is on; null for routes that change nothing. */
  routeOf(context: ExecutionContext): AuditedMetadata | null {
    return this.reflector.get<AuditedMetadata | undefined>(AUDITED, context.getHandler()) ?? null;
  }

  async succeeded(context: ExecutionContext, audited: AuditedMetadata, response: unknown): Promise<void> {
    let facts: AuditFacts = {};
    try {
      facts = audited.route.fromResponse?.(response) ?? {};
    } catch (error) {
      // A mistake in a route's fromResponse must not turn a done change into an error answer; the entry keeps what the path says.
      this.logger.error(`fromResponse of ${audited.action} threw`, error instanceof Error ? error.stack : String(error));
    }
    await this.write(context, audited, 'succeeded', null, facts);
  }

  /** A refusal or failure: the guard's, a pipe's or the use case's error. Does nothing on a route that is not audited. */
  async refusedOrFailed(context: ExecutionContext, error: unknown, audited: AuditedMetadata | null = this.routeOf(context)): Promise<void> {
    if (!audited) return;
    const { outcome, reason } = outcomeOf(error);
    const details = error instanceof DomainError ? { ...error.details } : {};
    const refused = error instanceof AuthenticationRefused ? error.refusedCertificate : null;
    const facts: AuditFacts = refused
      ? { tenantId: refused.tenantId, ...(refused.certificateId !== null ? { targetId: refused.certificateId } : {}), details: { ...details, serialNumber: refused.serialNumber } }
      : { details };
    await this.write(context, audited, outcome, reason, facts);
  }

  private async write(context: ExecutionContext, audited: AuditedMetadata, outcome: AuditOutcome, reason: string | null, facts: AuditFacts): Promise<void> {
    const request = context.switchToHttp().getRequest<AuditedRequest>();
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const noted = request.auditFacts ?? {};
    const actor = request.actor;
    const targetId = noted.targetId ?? facts.targetId ?? (audited.route.targetParam ? params[audited.route.targetParam] : undefined) ?? null;
    // A tenant key acts within its own tenant, whatever it named: the entry is its tenant's (a path naming another tenant is then only its target).
    const tenantId = actor?.role === 'tenant' ? actor.tenantId : (noted.tenantId ?? facts.tenantId ?? params['tenantId'] ?? null);
    const fact: AuditFact = {
      tenantId,
      actor: actor ? describeActor(actor) : (noted.actor ?? 'anonymous'),
      action: audited.action,
      targetType: audited.route.target,
      targetId,
      outcome,
      reason,
      details: { ...facts.details, ...noted.details },
    };
    try {
      await this.log.record(fact);
    } catch (error) {
      this.logger.error(`could not record ${fact.action} ${fact.outcome} for ${fact.actor}: the entry is lost`, error instanceof Error ? error.stack : String(error));
    }
  }
}

@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(private readonly recorder: HttpAuditRecorder) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const audited = this.recorder.routeOf(context);
    if (!audited) return next.handle();
    return next.handle().pipe(
      concatMap(async (response: unknown) => {
        await this.recorder.succeeded(context, audited, response);
        return response;
      }),
      catchError((error: unknown) =>
        defer(async () => {
          await this.recorder.refusedOrFailed(context, error, audited);
          throw error;
        }),
      ),
    );
  }
}

/** refused: ccm said no (a 4xx); failed: ccm could not (a 5xx, or an error it did not expect). */
function outcomeOf(error: unknown): { outcome: AuditOutcome; reason: string } {
  if (error instanceof DomainError) return { outcome: statusOfKind(error.kind) < 500 ? 'refused' : 'failed', reason: error.kind };
  if (error instanceof HttpException && error.getStatus() < 500) return { outcome: 'refused', reason: 'invalid-request' };
  return { outcome: 'failed', reason: 'internal' };
}
