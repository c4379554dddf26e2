/**
 * Request and response shapes of a tenant's CAs (root, delegated
 * intermediates, external CAs) and of the devices registered under external
 * and delegated CAs. No private key ever passes here: the keys of these CAs
 * stay with the tenant.
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import type { Authority } from '../authorities/authority.js';
import type { IssuedDelegatedAuthority } from '../trust/issue-delegated-authority.js';
import type { Device } from '../trust/device.js';
import { MAXIMUM_DNS_CONSTRAINTS } from '../trust/dns-name-constraints.js';
import type { AuthorityRevocation } from '../lifecycle/revoke-authority.js';
import { AuthorityResponse, authorityResponse } from './dtos.js';
import { IsSubjectText } from './request-validation.js';

const REGISTRATIONS = ['self', 'preregistered'] as const;

export class UploadExternalAuthorityRequest {
  @ApiProperty({ description: 'A label for the CA, 1 to 128 characters.', example: 'acme factory CA' })
  @IsString()
  @MaxLength(128)
  @IsSubjectText()
  name!: string;

  @ApiProperty({ description: 'The CA certificate, PEM, one block: a CA (basicConstraints cA) with keyCertSign, valid now; a self-signed one must verify.' })
  @IsString()
  @MaxLength(65536)
  certificatePem!: string;

  @ApiProperty({ enum: REGISTRATIONS, description: 'self: devices register on their first connection; preregistered: only identities registered through the API are accepted.' })
  @IsIn(REGISTRATIONS)
  registration!: 'self' | 'preregistered';
}

export class IssueIntermediateRequest {
  @ApiProperty({ description: 'A label for the CA, 1 to 128 characters.', example: 'acme line 3' })
  @IsString()
  @MaxLength(128)
  @IsSubjectText()
  name!: string;

  @ApiProperty({ description: 'PKCS#10 request in PEM for the key the tenant keeps; its subject becomes the CA\'s. Extension requests in it are never copied.' })
  @IsString()
  @MaxLength(65536)
  csrPem!: string;

  @ApiPropertyOptional({ description: 'Validity in seconds (3600 to 20 years, default one year); never past the tenant root CA\'s notAfter.', example: 31536000 })
  @IsOptional()
  @IsInt()
  ttlSeconds?: number;

  @ApiPropertyOptional({ type: [String], maxItems: MAXIMUM_DNS_CONSTRAINTS, description: 'RFC 5280 name constraints: DNS names (and their subdomains) the CA may certify; any when absent.', example: ['devices.example.com'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAXIMUM_DNS_CONSTRAINTS)
  @IsString({ each: true })
  permittedDnsDomains?: string[];

  @ApiPropertyOptional({ type: [String], maxItems: MAXIMUM_DNS_CONSTRAINTS, description: 'RFC 5280 name constraints: DNS names (and their subdomains) the CA may not certify.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAXIMUM_DNS_CONSTRAINTS)
  @IsString({ each: true })
  excludedDnsDomains?: string[];

  @ApiPropertyOptional({ enum: REGISTRATIONS, default: 'self', description: 'How devices with certificates it signs become known.' })
  @IsOptional()
  @IsIn(REGISTRATIONS)
  registration?: 'self' | 'preregistered';
}

export class TenantAuthorityResponse extends AuthorityResponse {
  @ApiProperty({ format: 'uuid' }) tenantId!: string;
  @ApiProperty({ nullable: true, type: String, description: 'The label of an external or delegated CA.' }) name!: string | null;
  @ApiProperty({ nullable: true, enum: REGISTRATIONS, description: 'External and delegated CAs: how their devices become known.' }) registration!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'uuid', description: 'The CA that certified this one (a delegated CA\'s tenant root); null for an external CA.' }) issuerAuthorityId!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class TenantAuthorityList {
  @ApiProperty({ type: [TenantAuthorityResponse] }) items!: TenantAuthorityResponse[];
}

export class IssuedIntermediateResponse extends TenantAuthorityResponse {
  @ApiProperty({ description: 'Its issuers in PEM: the tenant root CA, then the platform CA. With the certificate, what devices send as their chain.' }) chainPem!: string;
}

export class TenantAuthorityRevocationResponse {
  @ApiProperty({ type: TenantAuthorityResponse }) authority!: TenantAuthorityResponse;
  @ApiProperty({ description: 'Certificates bound under the CA that were revoked with it.' }) revokedCertificates!: number;
}

export class RegisterDeviceRequest {
  @ApiProperty({ description: 'The device identity as the CA\'s identity rules read it from a certificate subject (the CN by default).', example: 'sensor-0042' })
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  @IsSubjectText()
  identity!: string;

  @ApiPropertyOptional({ description: 'The device type; a certificate that names another type is refused.', example: 'water-meter' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @IsSubjectText()
  deviceType?: string;
}

export class DeviceResponse {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) tenantId!: string;
  @ApiProperty({ format: 'uuid' }) authorityId!: string;
  @ApiProperty() identity!: string;
  @ApiProperty({ nullable: true, type: String }) deviceType!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'uuid', description: 'The certificate the identity is bound to; null until the device first authenticates.' }) certificateId!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class DevicePage {
  @ApiProperty({ type: [DeviceResponse] }) items!: DeviceResponse[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

export class DeviceRemovalResponse {
  @ApiProperty({ description: 'Whether its bound certificate was revoked now (false: none was bound, or it was revoked already).' }) revokedCertificate!: boolean;
}

export function tenantAuthorityResponse(authority: Authority): TenantAuthorityResponse {
  return {
    ...authorityResponse(authority),
    tenantId: authority.tenantId!,
    name: authority.name,
    registration: authority.registration,
    issuerAuthorityId: authority.issuerAuthorityId,
    createdAt: authority.createdAt.toISOString(),
  };
}

export function issuedIntermediateResponse(issued: IssuedDelegatedAuthority): IssuedIntermediateResponse {
  return { ...tenantAuthorityResponse(issued.authority), certificatePem: issued.certificatePem, chainPem: issued.chainPem };
}

export function tenantAuthorityRevocationResponse(revocation: AuthorityRevocation): TenantAuthorityRevocationResponse {
  return { authority: tenantAuthorityResponse(revocation.authority), revokedCertificates: revocation.revokedCertificates };
}

export function deviceResponse(device: Device): DeviceResponse {
  return {
    id: device.id,
    tenantId: device.tenantId,
    authorityId: device.authorityId,
    identity: device.identity,
    deviceType: device.deviceType,
    certificateId: device.certificateId,
    createdAt: device.createdAt.toISOString(),
    updatedAt: device.updatedAt.toISOString(),
  };
}
