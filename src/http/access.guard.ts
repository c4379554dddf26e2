/**
 * Who may call which route. Every route declares its audience with
 * `@Access(...roles)` or `@PublicRoute()`; a route that declares neither is
 * refused to everyone (fail closed), and the role matrix test walks every
 * route of the OpenAPI document. A tenant key on a route under
 * /v1/tenants/{tenantId} for another tenant gets 404, as if that tenant did
 * not exist. The Actor is left on the request for controllers
 * (`@CurrentActor()`), the audit trail and the rate limits.
 */
import { createParamDecorator, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiExtension } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { assertTenantVisible, type Actor, type Role } from '../access/actor.js';
import { ApiCredentials } from '../access/api-credentials.js';
import { DomainError, Forbidden } from '../shared/errors.js';
import { HttpAuditRecorder } from './audit.interceptor.js';

const AUDIENCE = 'ccm:audience';
type Audience = { readonly kind: 'public' } | { readonly kind: 'roles'; readonly roles: readonly Role[] };

/** The roles that may call this route (method or controller). Documented in OpenAPI as x-ccm-roles. */
export function Access(...roles: Role[]): MethodDecorator & ClassDecorator {
  const audience: Audience = { kind: 'roles', roles };
  return (target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => {
    SetMetadata(AUDIENCE, audience)(target, key!, descriptor!);
    ApiBearerAuth()(target, key!, descriptor!);
    ApiExtension('x-ccm-roles', roles)(target, key!, descriptor!);
  };
}

/** Open to anyone: artefacts relying parties fetch without credentials (CRLs, OCSP) and EST, which has its own. */
export function PublicRoute(): MethodDecorator & ClassDecorator {
  const audience: Audience = { kind: 'public' };
  return (target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => {
    SetMetadata(AUDIENCE, audience)(target, key!, descriptor!);
    ApiExtension('x-ccm-roles', ['public'])(target, key!, descriptor!);
  };
}

export type ActorRequest = FastifyRequest & { actor?: Actor };

/** The caller of a route guarded by @Access. */
export const CurrentActor = createParamDecorator((_data: unknown, context: ExecutionContext): Actor => {
  const actor = context.switchToHttp().getRequest<ActorRequest>().actor;
  if (!actor) throw new DomainError('forbidden', 'no actor on a route without @Access');
  return actor;
});

@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly credentials: ApiCredentials,
    private readonly audit: HttpAuditRecorder,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const audience = this.reflector.getAllAndOverride<Audience | undefined>(AUDIENCE, [context.getHandler(), context.getClass()]);
    if (audience?.kind === 'public') return true;
    try {
      return await this.admit(context, audience);
    } catch (error) {
      // Guards run before interceptors, so the AuditInterceptor never sees this refusal: recorded here (on audited routes only).
      await this.audit.refusedOrFailed(context, error);
      throw error;
    }
  }

  private async admit(context: ExecutionContext, audience: Extract<Audience, { kind: 'roles' }> | undefined): Promise<boolean> {
    const request = context.switchToHttp().getRequest<ActorRequest>();
    const actor = await this.credentials.authenticate(request.headers.authorization);
    request.actor = actor;
    // Another tenant's data is 404 before anything else, so that no answer tells a tenant key whether it exists.
    const tenantId = (request.params as Record<string, string> | undefined)?.['tenantId'];
    if (tenantId !== undefined) assertTenantVisible(actor, tenantId);
    if (!audience || !audience.roles.includes(actor.role)) throw new Forbidden(`a ${actor.role} key may not ${request.method} ${request.routeOptions.url ?? 'this route'}`);
    return true;
  }
}
