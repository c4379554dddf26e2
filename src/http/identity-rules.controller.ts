/** HTTP edge for the identity rules of a tenant's CA: which subject attributes name the device and its type, and the CSR subject policy. */
import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ReadIdentityRules, SetIdentityRules } from '../authorities/authority-identity-rules.js';
import { Access } from './access.guard.js';
import { Audited } from './audit.interceptor.js';
import { IdentityRulesResponse, identityRulesResponse, SetIdentityRulesRequest } from './identity-rules.dtos.js';
import { ParseIdPipe } from './request-validation.js';

@ApiTags('authorities')
@Controller('v1/tenants/:tenantId/authorities/:authorityId/identity-rules')
@Access('admin', 'tenant')
export class IdentityRulesController {
  constructor(
    private readonly readRules: ReadIdentityRules,
    private readonly setRules: SetIdentityRules,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Read the identity rules in force for a CA of the tenant (the defaults when none were set).' })
  @ApiOkResponse({ type: IdentityRulesResponse })
  async get(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('authorityId', new ParseIdPipe('authority')) authorityId: string,
  ): Promise<IdentityRulesResponse> {
    return identityRulesResponse(await this.readRules.execute(tenantId, authorityId));
  }

  @Put()
  @Audited('identity-rules.update', {
    target: 'authority',
    targetParam: 'authorityId',
    fromResponse: (rules: IdentityRulesResponse) => ({
      details: { identityAttribute: rules.identityAttribute, deviceTypeAttribute: rules.deviceTypeAttribute, subjectPolicyAttributes: rules.subjectPolicy.map((requirement) => requirement.attribute) },
    }),
  })
  @ApiOperation({ summary: 'Replace the identity rules of a CA of the tenant; absent members take the defaults. Answers the rules now in force.' })
  @ApiOkResponse({ type: IdentityRulesResponse })
  async put(
    @Param('tenantId', new ParseIdPipe('tenant')) tenantId: string,
    @Param('authorityId', new ParseIdPipe('authority')) authorityId: string,
    @Body() body: SetIdentityRulesRequest,
  ): Promise<IdentityRulesResponse> {
    return identityRulesResponse(await this.setRules.execute({ tenantId, authorityId, ...body }));
  }
}
