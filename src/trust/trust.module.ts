/**
 * Trust beyond ccm's own issuance: the CAs a tenant brings (external CAs,
 * uploaded as certificates only) or is delegated (intermediates its root CA
 * certified from the tenant's CSR), and the devices registered and bound
 * under them. ccm never holds their keys. Authentication against them is in
 * src/device-authentication/, their revocation in lifecycle/revoke-authority.ts;
 * the ports are bound in persistence.
 */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { DeviceRegistry } from './device-registry.js';
import { IssueDelegatedAuthority } from './issue-delegated-authority.js';
import { TenantAuthorityQueries } from './tenant-authority-queries.js';
import { UploadExternalAuthority } from './upload-external-authority.js';

@Module({
  imports: [AuthoritiesModule],
  providers: [TenantAuthorityQueries, UploadExternalAuthority, IssueDelegatedAuthority, DeviceRegistry],
  exports: [TenantAuthorityQueries, UploadExternalAuthority, IssueDelegatedAuthority, DeviceRegistry],
})
export class TrustModule {}
