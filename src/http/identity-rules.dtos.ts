/**
 * Request and response shapes of a CA's identity rules. The request DTOs check
 * types only; what the values mean (known attributes, pattern syntax, bounds)
 * is checked by the domain (validateIdentityRules), which names the field.
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsArray, IsOptional, IsString, ValidateNested } from 'class-validator';
import type { AuthorityIdentityRules } from '../authorities/authority-identity-rules.js';
import { CSR_SUBJECT_ATTRIBUTES, IDENTITY_RULE_LIMITS, type SubjectRequirement } from '../authorities/identity-rules.js';
import { NAME_ATTRIBUTES } from '../codec/distinguished-name.js';

export class SubjectRequirementRequest {
  @ApiProperty({ enum: CSR_SUBJECT_ATTRIBUTES, description: 'The subject attribute; it must appear exactly once in the CSR.', example: 'OU' })
  @IsString()
  attribute!: string;

  @ApiPropertyOptional({ maxLength: IDENTITY_RULE_LIMITS.equalsLength, description: 'The exact value; "{tenantId}" stands for the tenant\'s id. Not with pattern.', example: '{tenantId}' })
  @IsOptional()
  @IsString()
  equals?: string;

  @ApiPropertyOptional({
    maxLength: IDENTITY_RULE_LIMITS.patternLength,
    description: 'ECMAScript regular expression (unicode mode) the whole value must match; ccm anchors it. Not with equals.',
    example: '[a-z]+-[0-9]{1,6}',
  })
  @IsOptional()
  @IsString()
  pattern?: string;
}

export class SetIdentityRulesRequest {
  @ApiPropertyOptional({ enum: NAME_ATTRIBUTES, default: 'CN', description: 'The subject attribute naming the device. For a tenant root CA, one a CSR may carry.' })
  @IsOptional()
  @IsString()
  identityAttribute?: string;

  @ApiPropertyOptional({ enum: NAME_ATTRIBUTES, nullable: true, default: null, description: 'The subject attribute naming the device type (e.g. OU); null or absent: devices have no type.' })
  @IsOptional()
  @IsString()
  deviceTypeAttribute?: string | null;

  @ApiPropertyOptional({
    type: [SubjectRequirementRequest],
    maxItems: IDENTITY_RULE_LIMITS.requirements,
    description: 'Requirements CSR subjects must meet before the CA signs them (tenant root CAs only); at most one per attribute. Absent: none.',
  })
  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => SubjectRequirementRequest)
  subjectPolicy?: SubjectRequirementRequest[];
}

export class SubjectRequirementResponse {
  @ApiProperty({ enum: CSR_SUBJECT_ATTRIBUTES }) attribute!: string;
  @ApiPropertyOptional() equals?: string;
  @ApiPropertyOptional() pattern?: string;
}

export class IdentityRulesResponse {
  @ApiProperty({ format: 'uuid' }) authorityId!: string;
  @ApiProperty({ enum: NAME_ATTRIBUTES }) identityAttribute!: string;
  @ApiProperty({ enum: NAME_ATTRIBUTES, nullable: true, type: String }) deviceTypeAttribute!: string | null;
  @ApiProperty({ type: [SubjectRequirementResponse] }) subjectPolicy!: SubjectRequirementResponse[];
}

function subjectRequirementResponse(requirement: SubjectRequirement): SubjectRequirementResponse {
  return {
    attribute: requirement.attribute,
    ...(requirement.equals !== undefined ? { equals: requirement.equals } : {}),
    ...(requirement.pattern !== undefined ? { pattern: requirement.pattern } : {}),
  };
}

export function identityRulesResponse({ authorityId, rules }: AuthorityIdentityRules): IdentityRulesResponse {
  return {
    authorityId,
    identityAttribute: rules.identityAttribute,
    deviceTypeAttribute: rules.deviceTypeAttribute,
    subjectPolicy: rules.subjectPolicy.map(subjectRequirementResponse),
  };
}
