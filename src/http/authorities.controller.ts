/**
 * HTTP edge for a tenant's CAs: listing them (root, delegated intermediates,
 * external CAs), uploading an external CA ("bring your own CA"), issuing a
 * delegated intermediate from a CSR, removing or revoking those two, and the
 * devices registered under them. Always under one tenant, by (tenant, id).
 */
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RevokeAuthority } from '../lifecycle/revoke-authority.js';
import { DeviceRegistry } from '../trust/device-registry.js';
import { IssueDelegatedAuthority } from '../trust/issue-delegated-authority.js';
import { TenantAuthorityQueries } from '../trust/tenant-authority-queries.js';
import { UploadExternalAuthority } from '../trust/upload-external-authority.js';
import { Access } from './access.guard.js';
import { Audited } from './audit.interceptor.js';
import { RateLimit } from './rate-limit.guard.js';
import {
  DevicePage,
  DeviceRemovalResponse,
  DeviceResponse,
  deviceResponse,
  IssuedIntermediateResponse,
  issuedIntermediateResponse,
  IssueIntermediateRequest,
  RegisterDeviceRequest,
  TenantAuthorityList,
  TenantAuthorityResponse,
  tenantAuthorityResponse,
  TenantAuthorityRevocationResponse,
  tenantAuthorityRevocationResponse,
  UploadExternalAuthorityRequest,
} from './authorities.dtos.js';
import { PageQuery, RevokeRequest } from './dtos.js';
import { ParseIdPipe } from './request-validation.js';

const authorityCreated = (created: TenantAuthorityResponse) => ({ targetId: created.id, details: { kind: created.kind, serialNumber: created.serialNumber, registration: created.registration } });
const authorityRevoked = (revoked: TenantAuthorityRevocationResponse) => ({ details: { kind: revoked.authority.kind, revokedCertificates: revoked.revokedCertificates } });

@ApiTags('authorities')
@Controller('v1/tenants/:tenantId/authorities')
@Access('admin', 'tenant')
export class AuthoritiesController {
  constructor(
    private readonly queries: TenantAuthorityQueries,
    private readonly uploadExternal: UploadExternalAuthority,
    private readonly issueDelegated: IssueDelegatedAuthority,
    private readonly revokeAuthority: RevokeAuthority,
    private readonly devices: DeviceRegistry,
  ) {}

  @Get()
  @ApiOperation({ summary: 'The tenant\'s CAs that devices authenticate with: its root CA, delegated intermediates and external CAs, in creation order.' })
  @ApiOkResponse({ type: TenantAuthorityList })
  async list(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string): Promise<TenantAuthorityList> {
    return { items: (await this.queries.list(tenantId)).map(tenantAuthorityResponse) };
  }

  @Post('external')
  @HttpCode(201)
  @Audited('authority.create-external', { target: 'authority', fromResponse: authorityCreated })
  @ApiOperation({
    summary:
      'Bring your own CA: trust the tenant\'s own CA certificate (PEM) for device authentication. It must be a CA (cA, keyCertSign), valid now, and verify if self-signed; ccm holds no key for it and signs nothing for it (no CRL, no OCSP).',
  })
  @ApiCreatedResponse({ type: TenantAuthorityResponse })
  async createExternal(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Body() body: UploadExternalAuthorityRequest): Promise<TenantAuthorityResponse> {
    return tenantAuthorityResponse(await this.uploadExternal.execute({ tenantId, ...body }));
  }

  @Post('intermediate')
  // A delegated CA is a signature of the tenant root, like a client certificate: the same budget.
  @RateLimit('issuance')
  @HttpCode(201)
  @Audited('authority.create-intermediate', { target: 'authority', fromResponse: authorityCreated })
  @ApiOperation({
    summary:
      'Delegated intermediate CA: the tenant root CA certifies the key of the CSR as a CA for device certificates only (pathLenConstraint 0), with optional DNS name constraints. The tenant keeps the key.',
  })
  @ApiCreatedResponse({ type: IssuedIntermediateResponse })
  async createIntermediate(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Body() body: IssueIntermediateRequest): Promise<IssuedIntermediateResponse> {
    return issuedIntermediateResponse(await this.issueDelegated.execute({ tenantId, ...body }));
  }

  @Get(':authorityId')
  @ApiOperation({ summary: 'Read one of the tenant\'s CAs.' })
  @ApiOkResponse({ type: TenantAuthorityResponse })
  async get(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('authorityId', new ParseIdPipe('authority')) authorityId: string,
  ): Promise<TenantAuthorityResponse> {
    return tenantAuthorityResponse(await this.queries.get(tenantId, authorityId));
  }

  @Delete(':authorityId')
  @HttpCode(200)
  @Audited('authority.remove', { target: 'authority', targetParam: 'authorityId', fromResponse: authorityRevoked })
  @ApiOperation({
    summary:
      'Remove an external CA or a delegated intermediate (reason cessationOfOperation): it authenticates nothing more, and every certificate bound under it is revoked with it. Emits one authority.revoked event. The record stays, revoked.',
  })
  @ApiOkResponse({ type: TenantAuthorityRevocationResponse })
  async remove(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('authorityId', new ParseIdPipe('authority')) authorityId: string,
  ): Promise<TenantAuthorityRevocationResponse> {
    return tenantAuthorityRevocationResponse(await this.revokeAuthority.execute({ kind: 'tenant-held', tenantId, authorityId }, 'cessationOfOperation'));
  }

  @Post(':authorityId/revoke')
  @HttpCode(200)
  @Audited('authority.revoke', { target: 'authority', targetParam: 'authorityId', fromResponse: authorityRevoked })
  @ApiOperation({ summary: 'Revoke an external CA or a delegated intermediate with an RFC 5280 reason; as DELETE otherwise.' })
  @ApiOkResponse({ type: TenantAuthorityRevocationResponse })
  async revoke(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('authorityId', new ParseIdPipe('authority')) authorityId: string,
    @Body() body: RevokeRequest,
  ): Promise<TenantAuthorityRevocationResponse> {
    return tenantAuthorityRevocationResponse(await this.revokeAuthority.execute({ kind: 'tenant-held', tenantId, authorityId }, body.reason ?? 'unspecified'));
  }

  @Post(':authorityId/devices')
  @HttpCode(201)
  @Audited('device.register', { target: 'device', fromResponse: (device: DeviceResponse) => ({ targetId: device.id, details: { authorityId: device.authorityId } }) })
  @ApiOperation({ summary: 'Pre-register a device identity under an external or delegated CA: the only way in when the CA takes pre-registered devices only.' })
  @ApiCreatedResponse({ type: DeviceResponse })
  async registerDevice(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('authorityId', new ParseIdPipe('authority')) authorityId: string,
    @Body() body: RegisterDeviceRequest,
  ): Promise<DeviceResponse> {
    return deviceResponse(await this.devices.register({ tenantId, authorityId, identity: body.identity, deviceType: body.deviceType ?? null }));
  }

  @Get(':authorityId/devices')
  @ApiOperation({ summary: 'The devices registered under an external or delegated CA, in registration order, with the certificate each is bound to.' })
  @ApiOkResponse({ type: DevicePage })
  async listDevices(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('authorityId', new ParseIdPipe('authority')) authorityId: string,
    @Query() query: PageQuery,
  ): Promise<DevicePage> {
    const page = await this.devices.list(tenantId, authorityId, query.after ?? null, query.limit ?? 50);
    return { items: page.items.map(deviceResponse), nextCursor: page.nextCursor };
  }

  @Delete(':authorityId/devices/:deviceId')
  @HttpCode(200)
  @Audited('device.unregister', { target: 'device', targetParam: 'deviceId', fromResponse: (removal: DeviceRemovalResponse) => ({ details: { revokedCertificate: removal.revokedCertificate } }) })
  @ApiOperation({ summary: 'Unregister a device: its bound certificate is revoked (cessationOfOperation, one certificate.revoked event) and the identity may register again.' })
  @ApiOkResponse({ type: DeviceRemovalResponse })
  async unregisterDevice(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('authorityId', new ParseIdPipe('authority')) authorityId: string,
    @Param('deviceId', new ParseIdPipe('device')) deviceId: string,
  ): Promise<DeviceRemovalResponse> {
    return this.devices.unregister(tenantId, authorityId, deviceId);
  }
}
