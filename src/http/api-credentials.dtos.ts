/** Request and response shapes of API credentials. The key appears in exactly one response: its creation. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { ROLES, type Role } from '../access/actor.js';
import type { ApiCredential } from '../access/api-credential.js';
import { IsSubjectText } from './request-validation.js';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class CreateApiCredentialRequest {
  @ApiProperty({ description: 'What the key is for, e.g. a service or a broker group.', example: 'broker-eu-1' })
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @IsSubjectText()
  name!: string;

  @ApiProperty({ enum: ROLES, description: 'admin: everything; tenant: one tenant\'s own data; broker: authentication, CRL/OCSP, events.' })
  @IsIn(ROLES)
  role!: Role;

  @ApiPropertyOptional({ format: 'uuid', description: 'The tenant of a tenant key (a tenant key creating a key may leave it out: its own).' })
  @IsOptional()
  @Matches(UUID_PATTERN, { message: 'tenantId must be a tenant id' })
  tenantId?: string;
}

export class ApiCredentialListQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @Matches(UUID_PATTERN, { message: 'tenantId must be a tenant id' })
  tenantId?: string;

  @ApiPropertyOptional({ enum: ROLES })
  @IsOptional()
  @IsIn(ROLES)
  role?: Role;
}

export class ApiCredentialResponse {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ROLES }) role!: string;
  @ApiProperty({ nullable: true, type: String, format: 'uuid' }) tenantId!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'uuid', description: 'The credential that created it; null: the bootstrap administrator key.' }) createdBy!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) revokedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time', description: 'Last use, to the minute.' }) lastUsedAt!: string | null;
}

export class CreatedApiCredentialResponse extends ApiCredentialResponse {
  @ApiProperty({ description: 'The bearer key: Authorization: Bearer <key>. Shown once; ccm keeps only a hash.', example: 'ccm_0190f0c2-…_…' }) key!: string;
}

export function apiCredentialResponse(credential: ApiCredential): ApiCredentialResponse {
  return {
    id: credential.id,
    name: credential.name,
    role: credential.role,
    tenantId: credential.tenantId,
    createdAt: credential.createdAt.toISOString(),
    createdBy: credential.createdBy,
    revokedAt: credential.revokedAt?.toISOString() ?? null,
    lastUsedAt: credential.lastUsedAt?.toISOString() ?? null,
  };
}
