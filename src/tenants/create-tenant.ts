/**
 * Creating a tenant issues its root CA at once: a key in custody, certified
 * by the platform CA. The tenant and its pending root CA record commit
 * together first; then the CA role creates the key and signs, with no
 * database transaction open while custody works. When that fails (custody
 * down), the root record is marked failed and the tenant has no CA: the same
 * request again finishes the creation with a new root, under the same tenant.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { certificateRecordOf, IssuingCertificateCache } from '../authorities/authority-certificate.js';
import { AuthorityRepository, type Authority } from '../authorities/authority.js';
import { PlatformAuthority } from '../authorities/platform-authority.js';
import { pendingTenantRoot, planTenantRoot } from '../authorities/tenant-root.js';
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { Clock } from '../shared/clock.js';
import { DomainError, InvalidRequest } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { TenantRepository, type Tenant } from './tenant.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$/;

export interface CreateTenantCommand {
  readonly name: string;
  readonly maxTtlSeconds?: number | null;
}

@Injectable()
export class CreateTenant {
  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly platform: PlatformAuthority,
    private readonly issuers: IssuingCertificateCache,
    private readonly ca: CertificateAuthority,
    private readonly tenants: TenantRepository,
    private readonly authorities: AuthorityRepository,
    private readonly clock: Clock,
  ) {}

  async execute(command: CreateTenantCommand): Promise<{ tenant: Tenant; authority: Authority }> {
    // Only ASCII white space is trimmed: String.prototype.trim also strips U+FEFF and other characters the name rule refuses, so "\uFEFF0" would have been taken as "0".
    const name = command.name.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
    if (!NAME.test(name)) {
      throw new InvalidRequest('name must be 1 to 128 characters: letters, digits, space, ".", "_" or "-", starting with a letter or digit', { field: 'name' });
    }
    const maxTtlSeconds = command.maxTtlSeconds ?? null;
    if (maxTtlSeconds !== null && (!Number.isInteger(maxTtlSeconds) || maxTtlSeconds < 60 || maxTtlSeconds > this.config.clientCertificates.maxTtlSeconds)) {
      throw new DomainError('ttl-out-of-range', `maxTtlSeconds must be an integer from 60 to ${this.config.clientCertificates.maxTtlSeconds}`, { field: 'maxTtlSeconds' });
    }
    const platform = await this.platform.active();
    const issuer = this.issuers.of(platform);
    const now = this.clock.now();
    const unfinished = await this.unfinishedTenantNamed(name, maxTtlSeconds);
    const tenant: Tenant = unfinished ?? { id: newId(), name, maxTtlSeconds, createdAt: now };
    // Unique by construction (the new tenant's id) and of a shape no tenant may choose (AuthorityNames); the unique index on CA names stands behind it.
    const plan = planTenantRoot(tenant, 1, issuer, this.config.tenantCa, now);
    const authorityId = newId();
    const pending = (serialNumber: string): Authority => pendingTenantRoot(authorityId, tenant.id, plan, serialNumber, platform.id, now);

    const { recorded: authority } = await this.ca.issue(plan.order, {
      pending: (serialNumber) => (unfinished ? this.authorities.insertPending(pending(serialNumber)) : this.tenants.create(tenant, pending(serialNumber))),
      issued: async (der) => {
        const certificate = certificateRecordOf(der, null);
        const activatedAt = this.clock.now();
        if (!(await this.authorities.activate(authorityId, certificate, activatedAt))) throw new Error(`tenant root CA ${authorityId} left pending before its certificate was recorded`);
        return { ...pending(certificate.serialNumber), ...certificate, status: 'active' as const, updatedAt: activatedAt };
      },
      failed: () => this.authorities.markFailed(authorityId, this.clock.now()),
    });
    return { tenant, authority };
  }

  /**
   * A tenant of this name whose creation did not finish (its root CA record
   * failed, custody being down): asking again finishes it. Any other tenant of
   * this name is a conflict.
   */
  private async unfinishedTenantNamed(name: string, maxTtlSeconds: number | null): Promise<Tenant | null> {
    const existing = await this.tenants.findByName(name);
    if (!existing) return null;
    const root = await this.authorities.findTenantRoot(existing.id);
    if ((root && root.status !== 'failed') || existing.maxTtlSeconds !== maxTtlSeconds) {
      throw new DomainError('conflict', `a tenant named "${name}" exists already`, { field: 'name' });
    }
    return existing;
  }
}
