/** HTTP edge for tenants and their CA bundle. */
import { Body, Controller, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { RevokeAuthority } from '../lifecycle/revoke-authority.js';
import { ActivateTenantRoot, RollOverTenantRoot } from '../lifecycle/roll-over-tenant-root.js';
import { CreateTenant } from '../tenants/create-tenant.js';
import { TenantQueries } from '../tenants/tenant-queries.js';
import {
  AuthorityRevocationResponse,
  authorityRevocationResponse,
  CreateTenantRequest,
  PageQuery,
  RetireRequest,
  RevokeRequest,
  RolloverRequest,
  RolloverResponse,
  rolloverResponse,
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
    private readonly rollOver: RollOverTenantRoot,
    private readonly activateRoot: ActivateTenantRoot,
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
  @ApiOperation({
    summary:
      'Trust bundle in PEM: the tenant root CA, then the platform CA. Use it as the CA file of brokers and devices. After a rollover it holds every root in force: the active one\'s chain, then each retiring root, until that root is retired.',
  })
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
  @ApiOperation({
    summary:
      'Revoke the tenant root CA and every certificate it issued, in one step; roots a rollover left retiring are revoked with it. Emits one authority.revoked event per root revoked; revokedCertificates counts them all.',
  })
  @ApiOkResponse({ type: AuthorityRevocationResponse })
  async revokeCa(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Body() body: RevokeRequest): Promise<AuthorityRevocationResponse> {
    return authorityRevocationResponse(await this.revokeAuthority.execute({ kind: 'tenant-root', tenantId }, body.reason ?? 'unspecified'));
  }

  @Post(':tenantId/ca/rollover')
  @Access('admin')
  @Audited('authority.roll-over', {
    target: 'authority',
    fromResponse: (rollover: RolloverResponse) => ({ targetId: rollover.rootAuthority.id, details: { previousAuthorityId: rollover.previousAuthority.id, subject: rollover.rootAuthority.subject, serialNumber: rollover.rootAuthority.serialNumber } }),
  })
  @HttpCode(201)
  @ApiOperation({
    summary:
      'Roll the tenant root CA over: a new key in custody, certified by the platform CA, signs the tenant\'s certificates from now on; the old root is retiring: what it issued stays valid (CRL, OCSP, trust bundle) until the last of it expires. Emits authority.rolled-over. With activate false, staged: the new root is only published (authority.published) until POST …/ca/{authorityId}/activate. 409 while another rollover of the tenant is in progress or a published root awaits activation.',
  })
  @ApiCreatedResponse({ type: RolloverResponse })
  async rollOverCa(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Body() body: RolloverRequest): Promise<RolloverResponse> {
    return rolloverResponse(await this.rollOver.execute({ tenantId, ...(body.validityDays !== undefined ? { validityDays: body.validityDays } : {}), ...(body.activate !== undefined ? { activate: body.activate } : {}) }));
  }

  @Post(':tenantId/ca/:authorityId/activate')
  @Access('admin')
  @Audited('authority.activate', {
    target: 'authority',
    fromResponse: (rollover: RolloverResponse) => ({ targetId: rollover.rootAuthority.id, details: { previousAuthorityId: rollover.previousAuthority.id } }),
  })
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Second step of a staged rollover: the published root becomes active and signs the tenant\'s certificates from now on; the active one is retiring. Emits authority.rolled-over. 409 for a root that is not published.',
  })
  @ApiOkResponse({ type: RolloverResponse })
  async activateCa(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Param('authorityId', new ParseIdPipe('tenant CA')) authorityId: string): Promise<RolloverResponse> {
    return rolloverResponse(await this.activateRoot.execute(tenantId, authorityId));
  }

  @Post(':tenantId/ca/:authorityId/retire')
  @Access('admin')
  @Audited('authority.retire', {
    target: 'authority',
    fromResponse: (revocation: AuthorityRevocationResponse) => ({ targetId: revocation.authority.id, details: { revocationReason: revocation.authority.revocationReason, revokedCertificates: revocation.revokedCertificates } }),
  })
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Retire a retiring tenant root early: it and every certificate it issued are revoked now instead of being left to expire, and it leaves the trust bundle. Emits one authority.revoked event. Only for a root that a rollover replaced, or a published one that was never activated (409 for the active one).',
  })
  @ApiOkResponse({ type: AuthorityRevocationResponse })
  async retireCa(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('authorityId', new ParseIdPipe('tenant CA')) authorityId: string,
    @Body() body: RetireRequest,
  ): Promise<AuthorityRevocationResponse> {
    return authorityRevocationResponse(await this.revokeAuthority.execute({ kind: 'retiring-root', tenantId, authorityId }, body.reason ?? 'superseded'));
  }
}
