/**
 * Request and response shapes of the REST API, with their OpenAPI
 * descriptions. Responses are built by the explicit mappers at the bottom:
 * a private key appears in exactly one response, the issuance that made it.
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import type { Authority } from '../authorities/authority.js';
import { LISTED_STATES, type CertificateState, type ClientCertificate } from '../certificates/client-certificate.js';
import type { IssuedClientCertificate } from '../certificates/issue-client-certificate.js';
import { DEVICE_KEY_ALGORITHMS } from '../custody/key-algorithm.js';
import type { Tenant } from '../tenants/tenant.js';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class PageQuery {
  @ApiPropertyOptional({ description: 'Cursor: the nextCursor of the previous page.', format: 'uuid' })
  @IsOptional()
  @Matches(UUID_PATTERN, { message: 'after must be a cursor returned as nextCursor' })
  after?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}

export class CreateTenantRequest {
  @ApiProperty({ description: 'Unique name: letters, digits, space, ".", "_", "-"; 1 to 128 characters.', example: 'acme-water' })
  @IsString()
  @MaxLength(128)
  name!: string;

  @ApiPropertyOptional({ description: 'Cap on client certificate validity for this tenant, in seconds (below the installation cap).', example: 2592000 })
  @IsOptional()
  @IsInt()
  maxTtlSeconds?: number;
}

export class AuthorityResponse {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: ['platform', 'tenant-root'] }) kind!: string;
  @ApiProperty({ enum: ['pending', 'active'] }) status!: string;
  @ApiProperty({ example: 'CN=ccm platform CA' }) subject!: string;
  @ApiProperty({ example: 'ecdsa-p256' }) keyAlgorithm!: string;
  @ApiProperty({ nullable: true, type: String, description: 'Lowercase hex.' }) serialNumber!: string | null;
  @ApiProperty({ nullable: true, type: String }) fingerprintSha256!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) notBefore!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) notAfter!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The CA certificate in PEM.' }) certificatePem!: string | null;
}

export class TenantResponse {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ nullable: true, type: Number }) maxTtlSeconds!: number | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: AuthorityResponse, description: 'The tenant root CA.' }) rootAuthority!: AuthorityResponse;
}

export class TenantSummary {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ nullable: true, type: Number }) maxTtlSeconds!: number | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class TenantPage {
  @ApiProperty({ type: [TenantSummary] }) items!: TenantSummary[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

export class IssueCertificateRequest {
  @ApiPropertyOptional({ description: 'Device identity. Generated (a UUID) when absent; with a CSR it must equal the CSR\'s CN if both are given.', maxLength: 64, example: 'sensor-0042' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  commonName?: string;

  @ApiPropertyOptional({ description: 'Validity in seconds; capped by the tenant and installation policy and by the issuer\'s notAfter.', example: 86400 })
  @IsOptional()
  @IsInt()
  ttlSeconds?: number;

  @ApiPropertyOptional({ enum: DEVICE_KEY_ALGORITHMS, description: 'Server-side key generation (default ecdsa-p256). Not with csr.' })
  @IsOptional()
  @IsString()
  keyAlgorithm?: string;

  @ApiPropertyOptional({ description: 'PKCS#10 request in PEM: the device keeps its key. Extension requests in it are never copied.' })
  @IsOptional()
  @IsString()
  @MaxLength(65536)
  csr?: string;
}

export class CertificateResponse {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) tenantId!: string;
  @ApiProperty({ format: 'uuid' }) authorityId!: string;
  @ApiProperty({ description: 'Lowercase hex, no leading zero bytes.' }) serialNumber!: string;
  @ApiProperty({ enum: LISTED_STATES }) state!: string;
  @ApiProperty() fingerprintSha256!: string;
  @ApiProperty() fingerprintSha1!: string;
  @ApiProperty({ example: 'CN=sensor-0042' }) subject!: string;
  @ApiProperty() commonName!: string;
  @ApiProperty({ format: 'date-time' }) notBefore!: string;
  @ApiProperty({ format: 'date-time' }) notAfter!: string;
  @ApiProperty() keyAlgorithm!: string;
  @ApiProperty({ description: 'SHA-256 of the DER SubjectPublicKeyInfo.' }) publicKeySha256!: string;
  @ApiProperty({ enum: ['server', 'csr'] }) keySource!: string;
  @ApiProperty({ format: 'date-time' }) issuedAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) firstUsedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) lastUsedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) revokedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revocationReason!: string | null;
}

export class IssuedCertificateResponse extends CertificateResponse {
  @ApiProperty({ description: 'The certificate in PEM.' }) certificatePem!: string;
  @ApiProperty({ description: 'Issuer chain in PEM: tenant root CA, then the platform CA.' }) chainPem!: string;
  @ApiProperty({ nullable: true, type: String, description: 'PKCS#8 PEM, only when ccm generated the key. Shown once; ccm keeps no copy.' })
  privateKeyPem!: string | null;
}

export class CertificatePage {
  @ApiProperty({ type: [CertificateResponse] }) items!: CertificateResponse[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

export class CertificateListQuery extends PageQuery {
  @ApiPropertyOptional({ enum: LISTED_STATES })
  @IsOptional()
  @IsIn(LISTED_STATES)
  state?: CertificateState;

  @ApiPropertyOptional({ description: 'Exact common name.' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  commonName?: string;

  @ApiPropertyOptional({ description: 'Serial number in hex (case-insensitive, leading zeros ignored).' })
  @IsOptional()
  @Matches(/^(0x)?[0-9a-fA-F]{1,42}$/, { message: 'serialNumber must be hexadecimal' })
  serialNumber?: string;
}

export class PlatformCertificateImportRequest {
  @ApiProperty({ description: 'The platform CA certificate signed by your offline root, PEM.' })
  @IsString()
  @MaxLength(65536)
  certificatePem!: string;

  @ApiPropertyOptional({ description: 'The certificates above it (issuer first, up to the root), PEM.' })
  @IsOptional()
  @IsString()
  @MaxLength(262144)
  issuerChainPem?: string;
}

export class CertificationRequestResponse {
  @ApiProperty({ description: 'PKCS#10 request for the platform CA key, PEM.' }) csrPem!: string;
}

const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

export function authorityResponse(authority: Authority): AuthorityResponse {
  return {
    id: authority.id,
    kind: authority.kind,
    status: authority.status,
    subject: authority.subject,
    keyAlgorithm: authority.keyAlgorithm,
    serialNumber: authority.serialNumber,
    fingerprintSha256: authority.fingerprintSha256,
    notBefore: iso(authority.notBefore),
    notAfter: iso(authority.notAfter),
    certificatePem: authority.certificatePem,
  };
}

export function tenantSummary(tenant: Tenant): TenantSummary {
  return { id: tenant.id, name: tenant.name, maxTtlSeconds: tenant.maxTtlSeconds, createdAt: tenant.createdAt.toISOString() };
}

export function tenantResponse(tenant: Tenant, authority: Authority): TenantResponse {
  return { ...tenantSummary(tenant), rootAuthority: authorityResponse(authority) };
}

export function certificateResponse(certificate: ClientCertificate): CertificateResponse {
  return {
    id: certificate.id,
    tenantId: certificate.tenantId,
    authorityId: certificate.authorityId,
    serialNumber: certificate.serialNumber,
    state: certificate.state,
    fingerprintSha256: certificate.fingerprintSha256 ?? '',
    fingerprintSha1: certificate.fingerprintSha1 ?? '',
    subject: certificate.subject,
    commonName: certificate.commonName,
    notBefore: certificate.notBefore.toISOString(),
    notAfter: certificate.notAfter.toISOString(),
    keyAlgorithm: certificate.keyAlgorithm,
    publicKeySha256: certificate.publicKeySha256,
    keySource: certificate.keySource,
    issuedAt: iso(certificate.issuedAt) ?? '',
    firstUsedAt: iso(certificate.firstUsedAt),
    lastUsedAt: iso(certificate.lastUsedAt),
    revokedAt: iso(certificate.revokedAt),
    revocationReason: certificate.revocationReason,
  };
}

export function issuedCertificateResponse(issued: IssuedClientCertificate): IssuedCertificateResponse {
  return { ...certificateResponse(issued.certificate), certificatePem: issued.certificatePem, chainPem: issued.chainPem, privateKeyPem: issued.privateKeyPem };
}
