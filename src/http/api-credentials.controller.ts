/** HTTP edge of API credentials: create (the key shown once), list, read, revoke. */
import { Body, Controller, Delete, Get, Header, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Actor } from '../access/actor.js';
import { ApiCredentials } from '../access/api-credentials.js';
import { Access, CurrentActor } from './access.guard.js';
import { ApiCredentialListQuery, ApiCredentialResponse, apiCredentialResponse, CreateApiCredentialRequest, CreatedApiCredentialResponse } from './api-credentials.dtos.js';
import { ParseIdPipe } from './request-validation.js';
import { Audited } from './audit.interceptor.js';

@ApiTags('access')
@Controller('v1/api-credentials')
@Access('admin', 'tenant')
export class ApiCredentialsController {
  constructor(private readonly credentials: ApiCredentials) {}

  @Post()
  @HttpCode(201)
  // Never the key of the answer: its id, role and tenant only.
  @Audited('api-credential.create', { target: 'api-credential', fromResponse: (created: CreatedApiCredentialResponse) => ({ targetId: created.id, tenantId: created.tenantId, details: { role: created.role, name: created.name } }) })
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Create an API key. An administrator creates any role; a tenant key creates tenant keys of its own tenant only. The key is in this answer only.' })
  @ApiCreatedResponse({ type: CreatedApiCredentialResponse })
  async create(@CurrentActor() actor: Actor, @Body() body: CreateApiCredentialRequest): Promise<CreatedApiCredentialResponse> {
    const { credential, key } = await this.credentials.create(actor, body);
    return { ...apiCredentialResponse(credential), key };
  }

  @Get()
  @ApiOperation({ summary: 'List API keys (never the keys themselves); a tenant key sees its own tenant\'s.' })
  @ApiOkResponse({ type: [ApiCredentialResponse] })
  async list(@CurrentActor() actor: Actor, @Query() query: ApiCredentialListQuery): Promise<ApiCredentialResponse[]> {
    return (await this.credentials.list(actor, query)).map(apiCredentialResponse);
  }

  @Get(':credentialId')
  @ApiOperation({ summary: 'Read an API key\'s record.' })
  @ApiOkResponse({ type: ApiCredentialResponse })
  async get(@CurrentActor() actor: Actor, @Param('credentialId', new ParseIdPipe('API credential')) id: string): Promise<ApiCredentialResponse> {
    return apiCredentialResponse(await this.credentials.get(actor, id));
  }

  @Delete(':credentialId')
  @Audited('api-credential.revoke', { target: 'api-credential', targetParam: 'credentialId', fromResponse: (revoked: ApiCredentialResponse) => ({ tenantId: revoked.tenantId, details: { role: revoked.role } }) })
  @ApiOperation({ summary: 'Revoke an API key: refused from now on (other replicas within 5 s).' })
  @ApiOkResponse({ type: ApiCredentialResponse })
  async revoke(@CurrentActor() actor: Actor, @Param('credentialId', new ParseIdPipe('API credential')) id: string): Promise<ApiCredentialResponse> {
    return apiCredentialResponse(await this.credentials.revoke(actor, id));
  }
}
