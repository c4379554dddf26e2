/** HTTP edge for tenants and their CA bundle. */
import { Body, Controller, Get, Header, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { encodePem } from '../issuance/pem.js';
import { RevokeTenantAuthority } from '../lifecycle/revoke-tenant-authority.js';
import { RevocationLists } from '../revocation/revocation-lists.js';
import { CreateTenant } from '../tenants/create-tenant.js';
import { TenantQueries } from '../tenants/tenant-queries.js';
import {
  AuthorityRevocationResponse,
  authorityRevocationResponse,
  CreateTenantRequest,
  PageQuery,
  RevocationListQuery,
  RevokeRequest,
  TenantPage,
  TenantResponse,
  tenantResponse,
  tenantSummary,
} from './dtos.js';
import { ParseIdPipe } from './request-validation.js';

@ApiTags('tenants')
@Controller('v1/tenants')
export class TenantsController {
  constructor(
    private readonly createTenant: CreateTenant,
    private readonly queries: TenantQueries,
    private readonly revokeAuthority: RevokeTenantAuthority,
    private readonly revocationLists: RevocationLists,
  ) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a tenant; its root CA is issued at once, signed by the platform CA.' })
  @ApiCreatedResponse({ type: TenantResponse })
  async create(@Body() body: CreateTenantRequest): Promise<TenantResponse> {
    const { tenant, authority } = await this.createTenant.execute({ name: body.name, maxTtlSeconds: body.maxTtlSeconds ?? null });
    return tenantResponse(tenant, authority);
  }

  @Get()
  @ApiOperation({ summary: 'List tenants in creation order.' })
  @ApiOkResponse({ type: TenantPage })
  async list(@Query() query: PageQuery): Promise<TenantPage> {
    const page = await this.queries.list(query.after ?? null, query.limit ?? 50);
    return { items: page.items.map(tenantSummary), nextCursor: page.nextCursor };
  }

  @Get(':tenantId')
  @ApiOperation({ summary: 'Read a tenant and its root CA.' })
  @ApiOkResponse({ type: TenantResponse })
  async get(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string): Promise<TenantResponse> {
    const { tenant, authority } = await this.queries.get(tenantId);
    return tenantResponse(tenant, authority);
  }

  @Get(':tenantId/ca-chain')
  @Header('content-type', 'application/pem-certificate-chain')
  @ApiOperation({ summary: 'Trust bundle in PEM: the tenant root CA, then the platform CA. Use it as the CA file of brokers and devices.' })
  @ApiProduces('application/pem-certificate-chain')
  @ApiOkResponse({ schema: { type: 'string' } })
  chain(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string): Promise<string> {
    return this.queries.trustBundlePem(tenantId);
  }

  @Post(':tenantId/ca/revoke')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke the tenant root CA and every certificate it issued, in one step. Emits one authority.revoked event.' })
  @ApiOkResponse({ type: AuthorityRevocationResponse })
  async revokeCa(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Body() body: RevokeRequest): Promise<AuthorityRevocationResponse> {
    return authorityRevocationResponse(await this.revokeAuthority.execute(tenantId, body.reason ?? 'unspecified'));
  }

  @Get(':tenantId/crl')
  @ApiOperation({ summary: 'The current CRL of the tenant root CA: DER (application/pkix-crl) or, with format=pem, PEM. Suspended certificates appear as certificateHold.' })
  @ApiProduces('application/pkix-crl', 'application/x-pem-file')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  async crl(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Query() query: RevocationListQuery, @Res() reply: FastifyReply): Promise<void> {
    const crl = await this.revocationLists.ofTenant(tenantId);
    const remainingSeconds = Math.max(0, Math.floor((crl.nextUpdate.getTime() - Date.now()) / 1000));
    // A CRL may change at any moment (a suspension), so caches must revalidate; no-cache, not max-age.
    void reply.header('cache-control', 'no-cache').header('x-crl-number', String(crl.crlNumber)).header('expires', crl.nextUpdate.toUTCString()).header('x-next-update-seconds', String(remainingSeconds));
    if (query.format === 'pem') void reply.type('application/x-pem-file').send(encodePem(crl.der, 'X509 CRL'));
    else void reply.type('application/pkix-crl').send(Buffer.from(crl.der));
  }
}
