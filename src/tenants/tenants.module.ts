/** Tenant use cases. */
import { Module } from '@nestjs/common';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { CreateTenant } from './create-tenant.js';
import { TenantQueries } from './tenant-queries.js';

@Module({ imports: [AuthoritiesModule], providers: [CreateTenant, TenantQueries], exports: [CreateTenant, TenantQueries] })
export class TenantsModule {}
