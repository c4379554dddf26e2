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
   * Records the tenant and the root CA that `issueRootAuthority` builds in one
   * transaction; a name already taken is a `conflict` raised before any key is made.
   */
  abstract create(tenant: Tenant, issueRootAuthority: () => Promise<Authority>): Promise<{ tenant: Tenant; authority: Authority }>;
  abstract findById(id: string): Promise<Tenant | null>;
  abstract list(after: string | null, limit: number): Promise<Page<Tenant>>;
}
