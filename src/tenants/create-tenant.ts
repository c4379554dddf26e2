/**
 * Creating a tenant issues its root CA at once: a key in custody, certified
 * by the platform CA. Tenant, CA row and certificate commit together, so a
 * failure (custody down, duplicate name) leaves nothing behind.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { certificateRecordOf, IssuingCertificateCache } from '../authorities/authority-certificate.js';
import type { Authority } from '../authorities/authority.js';
import { custodySigner } from '../authorities/custody-signer.js';
import { PlatformAuthority } from '../authorities/platform-authority.js';
import { KeyCustody } from '../custody/key-custody.js';
import { encodeCertificate } from '../codec/certificate-encoder.js';
import { formatDistinguishedName, type DistinguishedName } from '../codec/distinguished-name.js';
import { newSerialNumber } from '../codec/serial-number.js';
import { Clock } from '../shared/clock.js';
import { DomainError, InvalidRequest } from '../shared/errors.js';
import { newId } from '../shared/identifiers.js';
import { TenantRepository, type Tenant } from './tenant.js';

/** A tenant root may certify one level of delegated intermediate CAs below it (RFC 5280 §4.2.1.9). */
const TENANT_ROOT_PATH_LENGTH = 1;
const CA_BACKDATE_MS = 5 * 60 * 1000;
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
    private readonly custody: KeyCustody,
    private readonly tenants: TenantRepository,
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
    const tenant: Tenant = { id: newId(), name, maxTtlSeconds, createdAt: now };
    // Unique by construction (the new tenant's id) and of a shape no tenant may choose (AuthorityNames); the unique index on CA names stands behind it.
    const subject: DistinguishedName = [
      { attribute: 'OU', value: tenant.id },
      { attribute: 'CN', value: `${name.slice(0, 56)} root CA` },
    ];
    const authorityId = newId();
    const keyName = `tenant-${tenant.id}-root-1`;
    const algorithm = this.config.tenantCa.keyAlgorithm;

    return this.tenants.create(tenant, async () => {
      const key = await this.custody.createKey(keyName, algorithm);
      const notAfter = Math.min(now.getTime() + this.config.tenantCa.validityDays * 86_400_000, issuer.notAfter.getTime());
      const der = await encodeCertificate(
        {
          serialNumber: newSerialNumber(),
          issuerName: issuer.subjectName,
          issuerKeyIdentifier: issuer.subjectKeyIdentifier,
          subject,
          subjectPublicKeyInfo: key.publicKeyDer,
          notBefore: new Date(now.getTime() - CA_BACKDATE_MS),
          notAfter: new Date(notAfter),
          profile: { kind: 'ca', pathLenConstraint: TENANT_ROOT_PATH_LENGTH },
        },
        custodySigner(this.custody, platform.custodyKeyName, platform.keyAlgorithm),
      );
      const record = certificateRecordOf(der, null);
      const authority: Authority = {
        id: authorityId,
        tenantId: tenant.id,
        kind: 'tenant-root',
        status: 'active',
        revokedAt: null,
        revocationReason: null,
        revocationVersion: 0,
        identityRules: null,
        registration: null,
        name: null,
        custodyKeyName: keyName,
        keyAlgorithm: algorithm,
        ...record,
        subject: formatDistinguishedName(subject),
        issuerAuthorityId: platform.id,
        createdAt: now,
        updatedAt: now,
      };
      return authority;
    });
  }
}
