/** HTTP edge of a tenant's EST enrollment credentials. */
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Header } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { EnrollmentCredentials } from '../enrollment/enrollment-credentials.js';
import { CreateEnrollmentCredentialRequest, CreatedEnrollmentCredentialResponse, EnrollmentCredentialResponse, enrollmentCredentialResponse } from './dtos.js';
import { Access } from './access.guard.js';
import { ParseIdPipe } from './request-validation.js';
import { Audited } from './audit.interceptor.js';

@ApiTags('enrollment')
@Controller('v1/tenants/:tenantId/enrollment-credentials')
@Access('admin', 'tenant')
export class EnrollmentCredentialsController {
  constructor(private readonly credentials: EnrollmentCredentials) {}

  @Post()
  @HttpCode(201)
  // Never the secret of the answer: the credential's id and name only.
  @Audited('enrollment-credential.create', { target: 'enrollment-credential', fromResponse: (created: CreatedEnrollmentCredentialResponse) => ({ targetId: created.id, details: { name: created.name } }) })
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Create an EST enrollment credential: HTTP Basic username = id, password = secret. The secret is shown in this answer only.' })
  @ApiCreatedResponse({ type: CreatedEnrollmentCredentialResponse })
  async create(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Body() body: CreateEnrollmentCredentialRequest): Promise<CreatedEnrollmentCredentialResponse> {
    const { credential, secret } = await this.credentials.create(tenantId, body.name);
    return { ...enrollmentCredentialResponse(credential), secret };
  }

  @Get()
  @ApiOperation({ summary: 'List the tenant\'s enrollment credentials (never their secrets).' })
  @ApiOkResponse({ type: [EnrollmentCredentialResponse] })
  async list(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string): Promise<EnrollmentCredentialResponse[]> {
    return (await this.credentials.list(tenantId)).map(enrollmentCredentialResponse);
  }

  @Delete(':credentialId')
  @Audited('enrollment-credential.revoke', { target: 'enrollment-credential', targetParam: 'credentialId' })
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke a credential: EST enrollments with it are refused from now on.' })
  @ApiNoContentResponse()
  async revoke(@Param('tenantId', new ParseIdPipe('tenant')) tenantId: string, @Param('credentialId', new ParseIdPipe('enrollment credential')) id: string): Promise<void> {
    await this.credentials.revoke(tenantId, id);
  }
}
