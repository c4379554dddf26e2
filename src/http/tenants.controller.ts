/** HTTP edge for tenants and their CA bundle. */
import { Body, Controller, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { RevokeAuthority } from '../lifecycle/revoke-authority.js';
import { CreateTenant } from '../tenants/create-tenant.js';
import { TenantQueries } from '../tenants/tenant-queries.js';
import {
  AuthorityRevocationResponse,
  authorityRevocationResponse,
  CreateTenantRequest,
  PageQuery,
  RevokeRequest,
  TenantPage,
  TenantResponse,
  tenantResponse,
  tenantSummary,
} from './dtos.js';
import { Access } from './access.guard.js';
import { ParseIdPipe } from './request-validation.js';
import { Audited } from './audit.interceptor.js';

@ApiTags('tenants')
@Controller('v1/tenants')
export class TenantsController {
  constructor(
    private readonly createTenant: CreateTenant,
    private readonly queries: TenantQueries,
    private readonly revokeAuthority: RevokeAuthority,
  ) {}

  @Post()
  @Access('admin')
  @Audited('tenant.create', { target: 'tenant', fromResponse: (created: TenantResponse) => ({ targetId: created.id, tenantId: created.id, details: { name: created.name, rootAuthorityId: created.rootAuthority.id } }) })
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a tenant; its root CA is issued at once, signed by the platform CA.' })
  @ApiCreatedResponse({ type: TenantResponse })
  async create(@Body() body: CreateTenantRequest): Promise<TenantResponse> {
    const { tenant, authority } = await this.createTenant.execute({ name: body.name, maxTtlSeconds: body.maxTtlSeconds ?? null });
    return tenantResponse(tenant, authority);
  }

  @Get()
  @Access('admin')
  @ApiOperation({ summary: 'List tenants in creation order.' })
  @ApiOkResponse({ type: TenantPage })
  async list(@Query() query: PageQuery): Promise<TenantPage> {
    const page = await this.queries.list(query.after ?? null, query.limit ?? 50);
    return { items: page.items.map(tenantSummary), nextCursor: page.nextCursor };
  }

  @Get(':tenantId')
  @Access('admin', 'tenant', 'broker')
  @ApiOperation({ summary: 'Read a tenant and its root CA.' })
  @ApiOkResponse({ type: TenantResponse })
  async get(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string): Promise<TenantResponse> {
    const { tenant, authority } = await this.queries.get(tenantId);
    return tenantResponse(tenant, authority);
  }

  @Get(':tenantId/ca-chain')
  @Access('admin', 'tenant', 'broker')
  @Header('content-type', 'application/pem-certificate-chain')
  @ApiOperation({ summary: 'Trust bundle in PEM: the tenant root CA, then the platform CA. Use it as the CA file of brokers and devices.' })
  @ApiProduces('application/pem-certificate-chain')
  @ApiOkResponse({ schema: { type: 'string' } })
  chain(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string): Promise<string> {
    return this.queries.trustBundlePem(tenantId);
  }

  @Post(':tenantId/ca/revoke')
  @Access('admin')
  @Audited('authority.revoke', {
    target: 'authority',
    fromResponse: (revocation: AuthorityRevocationResponse) => ({ targetId: revocation.authority.id, details: { revocationReason: revocation.authority.revocationReason, revokedCertificates: revocation.revokedCertificates } }),
  })
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke the tenant root CA and every certificate it issued, in one step. Emits one authority.revoked event.' })
  @ApiOkResponse({ type: AuthorityRevocationResponse })
  async revokeCa(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Body() body: RevokeRequest): Promise<AuthorityRevocationResponse> {
    return authorityRevocationResponse(await this.revokeAuthority.execute({ kind: 'tenant-root', tenantId }, body.reason ?? 'unspecified'));
  }
}
