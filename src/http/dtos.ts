/**
 * Request and response shapes of the REST API, with their OpenAPI
 * descriptions. Responses are built by the explicit mappers at the bottom:
 * a private key appears in exactly one response, the issuance that made it.
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import type { Authority } from '../authorities/authority.js';
import { LISTED_STATES, type CertificateState, type ClientCertificate, type ListedState } from '../certificates/client-certificate.js';
import type { IssuedClientCertificate } from '../certificates/issue-client-certificate.js';
import type { SubjectAltNames } from '../codec/certificate-encoder.js';
import { DEVICE_KEY_ALGORITHMS } from '../codec/key-algorithm.js';
import { EVENT_TYPES, REVOCATION_REASONS, REVOKE_REASONS, type CcmEvent, type RevocationReason } from '@ccm/event-consumer/contract';
import type { StoredEvent } from '../events/event-outbox.js';
import { queueOf, type EventSubscriber } from '../events/event-subscriber.js';
import type { EnrollmentCredential } from '../enrollment/enrollment-credential.js';
import type { AuthenticatedDevice } from '../device-authentication/authenticate-device.js';
import type { RenewedClientCertificate } from '../lifecycle/renew-client-certificate.js';
import type { TenantRootRollover } from '../lifecycle/roll-over-tenant-root.js';
import type { AuthorityRevocation } from '../lifecycle/revoke-authority.js';
import type { Tenant } from '../tenants/tenant.js';
import { IsOmittable, IsSubjectText } from './request-validation.js';

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
  @ApiProperty({ enum: ['platform', 'tenant-root', 'ocsp-responder', 'intermediate', 'external'] }) kind!: string;
  @ApiProperty({ enum: ['pending', 'active', 'published', 'retiring', 'retired', 'revoked', 'failed'], description: 'published: a tenant root a staged rollover certified, trusted but signing nothing until activated; retiring: a tenant root that a rollover replaced; what it issued stays valid until it expires, then it is retired.' }) status!: string;
  @ApiProperty({ example: 'CN=ccm platform CA' }) subject!: string;
  @ApiProperty({ example: 'ecdsa-p256' }) keyAlgorithm!: string;
  @ApiProperty({ nullable: true, type: String, description: 'Lowercase hex.' }) serialNumber!: string | null;
  @ApiProperty({ nullable: true, type: String }) fingerprintSha256!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) notBefore!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) notAfter!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'The CA certificate in PEM.' }) certificatePem!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) revokedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revocationReason!: string | null;
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
  @IsOmittable()
  @IsString()
  @MaxLength(64)
  @IsSubjectText()
  commonName?: string;

  @ApiPropertyOptional({ description: 'Validity in seconds; capped by the tenant and installation policy and by the issuer\'s notAfter.', example: 86400 })
  @IsOmittable()
  @IsInt()
  ttlSeconds?: number;

  @ApiPropertyOptional({ enum: DEVICE_KEY_ALGORITHMS, description: 'Server-side key generation (default ecdsa-p256). Not with csr.' })
  @IsOmittable()
  @IsString()
  keyAlgorithm?: string;

  @ApiPropertyOptional({ description: 'PKCS#10 request in PEM: the device keeps its key. Extension requests in it are never copied.' })
  @IsOmittable()
  @IsString()
  @MaxLength(65536)
  csr?: string;
}

export class SubjectAltNamesResponse {
  @ApiPropertyOptional({ type: [String], description: 'dNSName entries.', example: ['sensor-0042.devices.example.com'] }) dns?: string[];
  @ApiPropertyOptional({
    type: [String],
    description: 'uniformResourceIdentifier entries. Certificates ccm issues carry exactly one, urn:uuid:<id> (their id), unless CCM_CLIENT_CERTIFICATE_ID_URI=off.',
    example: ['urn:uuid:01935c4e-7b1a-7c3e-9d2f-5a6b7c8d9e0f'],
  })
  uri?: string[];
  @ApiPropertyOptional({ type: [String], description: 'rfc822Name entries.' }) email?: string[];
  @ApiPropertyOptional({ type: [String], description: 'iPAddress entries, IPv4 dotted or IPv6 text form.' }) ip?: string[];
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
  @ApiProperty({
    type: SubjectAltNamesResponse,
    description: 'The subject alternative names in the certificate, by kind; kinds it has none of are left out. For a certificate of an external or delegated CA, those it carried when first seen.',
  })
  subjectAltNames!: SubjectAltNamesResponse;
  @ApiProperty({ format: 'date-time' }) notBefore!: string;
  @ApiProperty({ format: 'date-time' }) notAfter!: string;
  @ApiProperty() keyAlgorithm!: string;
  @ApiProperty({ description: 'SHA-256 of the DER SubjectPublicKeyInfo.' }) publicKeySha256!: string;
  @ApiProperty({ enum: ['server', 'csr', 'external'], description: 'external: issued by an external or delegated CA, recorded when the device first authenticated with it.' }) keySource!: string;
  @ApiProperty({ format: 'date-time' }) issuedAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) firstUsedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) lastUsedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) revokedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revocationReason!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time', description: 'When the current suspension began.' }) suspendedAt!: string | null;
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
  state?: ListedState;

  @ApiPropertyOptional({ description: 'Exact common name.' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  @IsSubjectText()
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
    revokedAt: iso(authority.revokedAt),
    revocationReason: authority.revocationReason,
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
    subjectAltNames: subjectAltNamesResponse(certificate.subjectAltNames),
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
    suspendedAt: iso(certificate.suspendedAt),
  };
}

function subjectAltNamesResponse(names: SubjectAltNames): SubjectAltNamesResponse {
  return {
    ...(names.dns ? { dns: [...names.dns] } : {}),
    ...(names.uri ? { uri: [...names.uri] } : {}),
    ...(names.email ? { email: [...names.email] } : {}),
    ...(names.ip ? { ip: [...names.ip] } : {}),
  };
}

export function issuedCertificateResponse(issued: IssuedClientCertificate): IssuedCertificateResponse {
  return { ...certificateResponse(issued.certificate), certificatePem: issued.certificatePem, chainPem: issued.chainPem, privateKeyPem: issued.privateKeyPem };
}

export class RenewCertificateRequest {
  @ApiPropertyOptional({ description: 'PKCS#10 CSR in PEM: the same key (or a new one the device made); its subject must be the renewed certificate\'s.' })
  @IsOmittable()
  @IsString()
  @MaxLength(65536)
  csr?: string;

  @ApiPropertyOptional({ enum: DEVICE_KEY_ALGORITHMS, description: 'Without a CSR: a new key generated here (default ecdsa-p256), returned once.' })
  @IsOmittable()
  @IsString()
  keyAlgorithm?: string;

  @ApiPropertyOptional({ description: 'Validity in seconds, within policy.' })
  @IsOmittable()
  @IsInt()
  ttlSeconds?: number;

  @ApiPropertyOptional({ default: false, description: 'Revoke the renewed certificate with reason superseded once the new one is issued.' })
  @IsOmittable()
  @IsBoolean()
  revokePrevious?: boolean;
}

export class RenewedCertificateResponse extends IssuedCertificateResponse {
  @ApiProperty({ type: CertificateResponse, description: 'The renewed certificate as it is now.' }) previous!: CertificateResponse;
  @ApiProperty({ description: 'The new certificate certifies the same key as the renewed one.' }) sameKey!: boolean;
}

export class RevokeRequest {
  @ApiPropertyOptional({ enum: REVOKE_REASONS, default: 'unspecified', description: 'RFC 5280 CRLReason. certificateHold is not a revocation: suspend instead.' })
  @IsOptional()
  @IsIn(REVOKE_REASONS)
  reason?: RevocationReason;
}

export class RetireRequest {
  @ApiPropertyOptional({ enum: REVOKE_REASONS, default: 'superseded', description: 'RFC 5280 CRLReason given to the certificates of the retiring root, revoked now.' })
  @IsOptional()
  @IsIn(REVOKE_REASONS)
  reason?: RevocationReason;
}

/** As CCM_TENANT_CA_VALIDITY_DAYS allows. */
const MAX_CA_VALIDITY_DAYS = 36500;

export class RolloverRequest {
  @ApiPropertyOptional({ description: 'Validity of the new root in days (default CCM_TENANT_CA_VALIDITY_DAYS); never past the platform CA\'s.', minimum: 1, maximum: MAX_CA_VALIDITY_DAYS })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_CA_VALIDITY_DAYS)
  validityDays?: number;

  @ApiPropertyOptional({
    default: true,
    description:
      'false: a staged rollover. The new root is certified and published (in the trust bundle and GET …/revocation-lists, with an authority.published event) but signs nothing until POST …/ca/{authorityId}/activate; the old root keeps signing meanwhile.',
  })
  @IsOptional()
  @IsBoolean()
  activate?: boolean;
}

export class RolloverResponse {
  @ApiProperty({ type: AuthorityResponse, description: 'The new tenant root CA, active: it signs every certificate of the tenant from now on (published, when the rollover is staged).' }) rootAuthority!: AuthorityResponse;
  @ApiProperty({ type: AuthorityResponse, description: 'The root it replaced, retiring: what it issued stays valid, and in the trust bundle, until the last of it expires (still active, when the rollover is staged).' }) previousAuthority!: AuthorityResponse;
}

export function rolloverResponse(rollover: TenantRootRollover): RolloverResponse {
  return { rootAuthority: authorityResponse(rollover.authority), previousAuthority: authorityResponse(rollover.previous) };
}

export class AuthorityRevocationResponse {
  @ApiProperty({ type: AuthorityResponse }) authority!: AuthorityResponse;
  @ApiProperty({ description: 'Certificates the CA had issued that were revoked with it.' }) revokedCertificates!: number;
}

export class AuthenticationRequest {
  @ApiPropertyOptional({ description: 'The client certificate the broker saw, PEM; its chain may follow and is ignored (ccm verifies against its own CA records).' })
  @IsOmittable()
  @IsString()
  @MaxLength(65536)
  certificatePem?: string;

  @ApiPropertyOptional({ description: 'Cheap path, for a broker that verified the chain in the TLS handshake: the issuer DN, RFC 4514 (as `openssl x509 -issuer -nameopt RFC2253` prints it).', example: 'CN=acme root CA,OU=0190...' })
  @IsOmittable()
  @IsString()
  @MaxLength(1024)
  // No CA of ccm has such a name, and PostgreSQL refuses a NUL in a query.
  @IsSubjectText()
  issuer?: string;

  @ApiPropertyOptional({ description: 'Cheap path: the serial number in hex (colons allowed).' })
  @IsOmittable()
  @IsString()
  @MaxLength(64)
  serialNumber?: string;

  @ApiPropertyOptional({
    description:
      'Cheap path, optional: the certificate\'s authorityKeyIdentifier in hex (colons allowed), naming the CA by its key as well as its name. CA names are unique in ccm, so the name alone is enough; a name several older CA records share is refused (issuer-ambiguous) unless this narrows it to one.',
    example: '3A:9F:…',
  })
  @IsOmittable()
  @IsString()
  @MaxLength(191)
  authorityKeyIdentifier?: string;
}

export class AuthenticationResponse {
  @ApiProperty({ enum: ['accepted'] }) decision!: 'accepted';
  @ApiProperty({ format: 'uuid' }) tenantId!: string;
  @ApiProperty({ format: 'uuid' }) certificateId!: string;
  @ApiProperty({ format: 'uuid' }) authorityId!: string;
  @ApiProperty({ description: 'The device identity under the CA\'s identity rules (the subject CN by default).' }) deviceId!: string;
  @ApiProperty({ nullable: true, type: String, description: 'The device type under the CA\'s identity rules; null when they name none.' }) deviceType!: string | null;
  @ApiProperty({ enum: ['tenant-root', 'intermediate', 'external'], description: 'The kind of CA that issued the certificate.' }) authorityKind!: string;
  @ApiProperty({ enum: ['inactive', 'active'], description: 'After this authentication: a first use has made it active.' }) state!: string;
  @ApiProperty() serialNumber!: string;
  @ApiProperty({ format: 'date-time' }) notAfter!: string;
}

export class CreateEventSubscriberRequest {
  @ApiProperty({ description: 'Unique name, e.g. the broker node or group.', example: 'mosquitto-eu-1' })
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: 'name may hold letters, digits, ".", "_" and "-"' })
  name!: string;

  @ApiPropertyOptional({ type: [String], description: 'Only events of these tenants; all tenants when absent.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @Matches(UUID_PATTERN, { each: true, message: 'tenantIds must be tenant ids' })
  tenantIds?: string[];
}

export class EventSubscriberResponse {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'The BullMQ queue (default prefix "bull") that receives this subscriber\'s events.' }) queue!: string;
  @ApiProperty({ nullable: true, type: [String] }) tenantIds!: string[] | null;
  @ApiProperty({ description: 'Outbox position delivered so far.' }) deliveredPosition!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class EventResponse {
  @ApiProperty({ description: 'Position in the outbox: the cursor to resume after.' }) position!: string;
  @ApiProperty({ enum: [1] }) schemaVersion!: number;
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: EVENT_TYPES }) type!: string;
  @ApiProperty({ format: 'date-time' }) time!: string;
  @ApiProperty({ format: 'uuid' }) tenantId!: string;
  @ApiProperty({ format: 'uuid' }) authorityId!: string;
  @ApiProperty({ nullable: true, type: String, format: 'uuid' }) certificateId!: string | null;
  @ApiProperty() serialNumber!: string;
  @ApiProperty() fingerprintSha256!: string;
  @ApiProperty() commonName!: string;
  @ApiProperty() issuer!: string;
  @ApiProperty({ nullable: true, type: String, enum: Object.keys(REVOCATION_REASONS) }) reason!: string | null;
  @ApiProperty({ enum: ['inactive', 'active', 'suspended', 'revoked'] }) state!: string;
  @ApiPropertyOptional() revokedCertificates?: number;
}

export class EventPage {
  @ApiProperty({ type: [EventResponse] }) items!: EventResponse[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as `after` to read on; null only when the feed is empty.' }) nextCursor!: string | null;
}

/** Paging of the logs kept in commit order (events, audit entries): the cursor is a position, not an id. */
export class PositionPageQuery {
  @ApiPropertyOptional({ description: 'The nextCursor of the previous page; absent: from the beginning.' })
  @IsOptional()
  @Matches(/^\d{1,15}$/, { message: 'after must be a cursor returned as nextCursor' })
  after?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

/** The longest a feed read may wait for an event: below the idle timeouts of common proxies (60 s). */
export const MAX_FEED_WAIT_MS = 30_000;

export class EventFeedQuery extends PositionPageQuery {

  @ApiPropertyOptional({ format: 'uuid', description: 'Only this tenant\'s events.' })
  @IsOptional()
  @Matches(UUID_PATTERN, { message: 'tenantId must be a tenant id' })
  tenantId?: string;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: MAX_FEED_WAIT_MS,
    default: 0,
    description: 'Long polling: when no event follows `after`, wait up to this many milliseconds for one to be committed before answering an empty page. The page is answered as soon as there is an event, so a reader that asks again at once learns of each event within milliseconds of its commit.',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(MAX_FEED_WAIT_MS)
  waitMs?: number;
}

export class TenantRevocationList {
  @ApiProperty({ format: 'uuid', description: 'The root CA whose CRL this is (the id in its certificates\' CRL distribution point).' }) authorityId!: string;
  @ApiProperty({ enum: ['active', 'published', 'retiring', 'revoked'] }) status!: string;
  @ApiProperty({ description: 'The root CA\'s certificate, PEM: what the CRL\'s signature verifies with.' }) certificatePem!: string;
  @ApiProperty({ description: 'Its current CRL (complete, when CRLs are sharded), PEM.' }) crlPem!: string;
  @ApiProperty({ description: 'The CRL\'s cRLNumber.' }) crlNumber!: number;
  @ApiProperty({ format: 'date-time' }) thisUpdate!: string;
  @ApiProperty({ format: 'date-time' }) nextUpdate!: string;
}

export class TenantRevocationLists {
  @ApiProperty({ type: [TenantRevocationList], description: 'One per root CA in force: the active one first, then retiring ones, newest first.' }) items!: TenantRevocationList[];
}

export class RevocationListQuery {
  @ApiPropertyOptional({ enum: ['der', 'pem'], default: 'der' })
  @IsOptional()
  @IsIn(['der', 'pem'])
  format?: 'der' | 'pem';
}

export function authorityRevocationResponse(revocation: AuthorityRevocation): AuthorityRevocationResponse {
  return { authority: authorityResponse(revocation.authority), revokedCertificates: revocation.revokedCertificates };
}

export function authenticationResponse(device: AuthenticatedDevice): AuthenticationResponse {
  const { certificate } = device;
  return {
    decision: 'accepted',
    tenantId: certificate.tenantId,
    certificateId: certificate.id,
    authorityId: certificate.authorityId,
    deviceId: device.deviceId,
    deviceType: device.deviceType,
    authorityKind: device.authority.kind,
    state: certificate.state,
    serialNumber: certificate.serialNumber,
    notAfter: certificate.notAfter.toISOString(),
  };
}

export function eventSubscriberResponse(subscriber: EventSubscriber): EventSubscriberResponse {
  return {
    id: subscriber.id,
    name: subscriber.name,
    queue: queueOf(subscriber),
    tenantIds: subscriber.tenantIds ? [...subscriber.tenantIds] : null,
    deliveredPosition: String(subscriber.deliveredPosition),
    createdAt: subscriber.createdAt.toISOString(),
  };
}

export function eventResponse(stored: StoredEvent): EventResponse {
  const event: CcmEvent = stored.event;
  return { position: String(stored.position), ...event };
}

export function renewedCertificateResponse(renewed: RenewedClientCertificate): RenewedCertificateResponse {
  return { ...issuedCertificateResponse(renewed.issued), previous: certificateResponse(renewed.previous), sameKey: renewed.sameKey };
}

export class CreateEnrollmentCredentialRequest {
  @ApiProperty({ description: 'What the credential is for, e.g. a factory line or a batch.', example: 'factory-line-3' })
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @IsSubjectText()
  name!: string;
}

export class EnrollmentCredentialResponse {
  @ApiProperty({ format: 'uuid', description: 'Also the HTTP Basic username for EST.' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' }) revokedAt!: string | null;
}

export class CreatedEnrollmentCredentialResponse extends EnrollmentCredentialResponse {
  @ApiProperty({ description: 'The HTTP Basic password for EST. Shown once; ccm keeps only a hash.' }) secret!: string;
}

export function enrollmentCredentialResponse(credential: EnrollmentCredential): EnrollmentCredentialResponse {
  return { id: credential.id, name: credential.name, createdAt: credential.createdAt.toISOString(), revokedAt: iso(credential.revokedAt) };
}
