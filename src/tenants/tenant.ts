/**
 * Tenants: the security domains of the platform. Each has its own root CA,
 * and its devices' certificates are seen only through it.
 */
import type { Authority } from '../authorities/authority.js';
import type { Page } from '../shared/page.js';

export interface Tenant {
  readonly id: string;
  readonly name: string;
  /** Tenant's own cap on client certificate validity, below the installation's. */
  readonly maxTtlSeconds: number | null;
  readonly createdAt: Date;
}

export abstract class TenantRepository {
  /**
   * Records the tenant and its pending root CA in one transaction, before any
   * key is made; a tenant name already taken is a `conflict`, a CA name
   * taken is AuthorityNameTaken.
   */
  abstract create(tenant: Tenant, pendingRoot: Authority): Promise<void>;
  abstract findById(id: string): Promise<Tenant | null>;
  abstract findByName(name: string): Promise<Tenant | null>;
  abstract list(after: string | null, limit: number): Promise<Page<Tenant>>;
}
