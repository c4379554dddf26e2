/**
 * Who is calling: the role an API key grants and, for a tenant key, the one
 * tenant it is bound to. Use cases that see tenant data take an Actor and ask
 * it which tenants are visible; the HTTP edge has already refused a caller
 * whose role may not use a route at all.
 */
import { NotFound } from '../shared/errors.js';

/** admin: the platform operator (tenants, platform CA, subscribers, every tenant); tenant: one tenant's own data; broker: authentication, CRL/OCSP, events. */
export const ROLES = ['admin', 'tenant', 'broker'] as const;
export type Role = (typeof ROLES)[number];

export interface Actor {
  readonly role: Role;
  /** The API credential's id; null for the bootstrap administrator key from configuration. */
  readonly credentialId: string | null;
  /** Set for, and only for, the tenant role. */
  readonly tenantId: string | null;
}

export const BOOTSTRAP_ADMINISTRATOR: Actor = Object.freeze({ role: 'admin', credentialId: null, tenantId: null });

/**
 * Whether the actor may see this tenant's data. Another tenant's data is
 * answered as if it did not exist (404), so a tenant key cannot even learn
 * which tenant ids exist.
 */
export function assertTenantVisible(actor: Actor, tenantId: string): void {
  if (actor.role === 'tenant' && actor.tenantId !== tenantId) throw new NotFound('tenant');
}

/**
 * The tenant filter a listing runs with: a tenant key sees only its own
 * tenant whatever it asks for (asking for another is 404); other roles get
 * what they ask (undefined: every tenant).
 */
export function visibleTenantFilter(actor: Actor, requested: string | undefined): string | undefined {
  if (actor.role !== 'tenant') return requested;
  if (requested !== undefined) assertTenantVisible(actor, requested);
  return actor.tenantId!;
}

/** A short, log-safe name of the actor: never the key itself. */
export function describeActor(actor: Actor): string {
  return actor.credentialId === null ? 'bootstrap-admin' : `${actor.role}:${actor.credentialId}`;
}
