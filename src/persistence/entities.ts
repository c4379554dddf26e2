/**
 * Table mappings. Rows hold metadata only: no private key of a device, and no
 * CA key (those live in custody, named by `custody_key_name`).
 */
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { counter, isoTimestamp, jsonText } from './columns.js';

@Entity({ name: 'tenants' })
export class TenantRow {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Index('uq_tenants_name', { unique: true })
  @Column({ type: 'varchar', length: 128 })
  name!: string;
  @Column({ name: 'max_ttl_seconds', type: 'integer', nullable: true }) maxTtlSeconds!: number | null;
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoTimestamp }) createdAt!: Date;
}

@Entity({ name: 'authorities' })
export class AuthorityRow {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ name: 'tenant_id', type: 'varchar', length: 36, nullable: true }) tenantId!: string | null;
  @Column({ type: 'varchar', length: 16 }) kind!: string;
  /** 'platform' on the platform CA row, NULL elsewhere: a unique index makes "one platform CA" a database fact. */
  @Column({ type: 'varchar', length: 16, nullable: true }) singleton!: string | null;
  @Column({ type: 'varchar', length: 16 }) status!: string;
  @Column({ name: 'custody_key_name', type: 'varchar', length: 128 }) custodyKeyName!: string;
  @Column({ name: 'key_algorithm', type: 'varchar', length: 16 }) keyAlgorithm!: string;
  @Column({ type: 'text' }) subject!: string;
  /** The subject's RFC 5280 §7.1 comparable form (comparableName): what device authentication looks CAs up by, unique among CAs in force. */
  @Column({ name: 'subject_key', type: 'text' }) subjectKey!: string;
  @Column({ name: 'serial_number', type: 'varchar', length: 42, nullable: true }) serialNumber!: string | null;
  /** CA certificates are public and needed to build chains and issuer names. */
  @Column({ name: 'certificate_pem', type: 'text', nullable: true }) certificatePem!: string | null;
  /** Certificates above this CA that a verifier needs, e.g. an operator's offline root above an imported platform CA. */
  @Column({ name: 'issuer_chain_pem', type: 'text', nullable: true }) issuerChainPem!: string | null;
  @Column({ name: 'fingerprint_sha256', type: 'varchar', length: 64, nullable: true }) fingerprintSha256!: string | null;
  @Column({ name: 'not_before', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) notBefore!: Date | null;
  @Column({ name: 'not_after', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) notAfter!: Date | null;
  @Column({ name: 'issuer_authority_id', type: 'varchar', length: 36, nullable: true }) issuerAuthorityId!: string | null;
  @Column({ name: 'revoked_at', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) revokedAt!: Date | null;
  @Column({ name: 'revocation_reason', type: 'varchar', length: 32, nullable: true }) revocationReason!: string | null;
  @Column({ name: 'revocation_version', type: 'integer', default: 0 }) revocationVersion!: number;
  /** JSON, parsed by the authority adapter. */
  @Column({ name: 'identity_rules', type: 'text', nullable: true }) identityRules!: string | null;
  @Column({ type: 'varchar', length: 16, nullable: true }) registration!: string | null;
  @Column({ type: 'varchar', length: 128, nullable: true }) name!: string | null;
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoTimestamp }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'varchar', length: 32, transformer: isoTimestamp }) updatedAt!: Date;
}

@Entity({ name: 'certificates' })
export class CertificateRow {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ name: 'tenant_id', type: 'varchar', length: 36 }) tenantId!: string;
  @Column({ name: 'authority_id', type: 'varchar', length: 36 }) authorityId!: string;
  @Column({ name: 'serial_number', type: 'varchar', length: 42 }) serialNumber!: string;
  @Column({ type: 'varchar', length: 16 }) state!: string;
  @Column({ name: 'fingerprint_sha256', type: 'varchar', length: 64, nullable: true }) fingerprintSha256!: string | null;
  @Column({ name: 'fingerprint_sha1', type: 'varchar', length: 40, nullable: true }) fingerprintSha1!: string | null;
  @Column({ type: 'text' }) subject!: string;
  @Column({ name: 'common_name', type: 'varchar', length: 255 }) commonName!: string;
  @Column({ name: 'subject_alt_names', type: 'text', transformer: jsonText }) subjectAltNames!: SubjectAltNamesRecord;
  @Column({ name: 'not_before', type: 'varchar', length: 32, transformer: isoTimestamp }) notBefore!: Date;
  @Column({ name: 'not_after', type: 'varchar', length: 32, transformer: isoTimestamp }) notAfter!: Date;
  @Column({ name: 'key_algorithm', type: 'varchar', length: 16 }) keyAlgorithm!: string;
  @Column({ name: 'public_key_sha256', type: 'varchar', length: 64 }) publicKeySha256!: string;
  @Column({ name: 'key_source', type: 'varchar', length: 8 }) keySource!: string;
  @Column({ name: 'issued_at', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) issuedAt!: Date | null;
  @Column({ name: 'first_used_at', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) firstUsedAt!: Date | null;
  @Column({ name: 'last_used_at', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) lastUsedAt!: Date | null;
  @Column({ name: 'revoked_at', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) revokedAt!: Date | null;
  @Column({ name: 'revocation_reason', type: 'varchar', length: 32, nullable: true }) revocationReason!: string | null;
  @Column({ name: 'suspended_at', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) suspendedAt!: Date | null;
  @Column({ name: 'crl_shard', type: 'integer', default: 0 }) crlShard!: number;
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoTimestamp }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'varchar', length: 32, transformer: isoTimestamp }) updatedAt!: Date;
}

export interface SubjectAltNamesRecord {
  dns?: string[];
  uri?: string[];
  email?: string[];
  ip?: string[];
}

@Entity({ name: 'outbox' })
export class OutboxRow {
  @PrimaryColumn({ type: 'bigint', generated: 'increment', transformer: counter }) position!: number;
  @Column({ type: 'varchar', length: 36 }) id!: string;
  @Column({ type: 'varchar', length: 32 }) type!: string;
  @Column({ name: 'tenant_id', type: 'varchar', length: 36 }) tenantId!: string;
  @Column({ name: 'authority_id', type: 'varchar', length: 36 }) authorityId!: string;
  @Column({ name: 'certificate_id', type: 'varchar', length: 36, nullable: true }) certificateId!: string | null;
  @Column({ name: 'occurred_at', type: 'varchar', length: 32, transformer: isoTimestamp }) occurredAt!: Date;
  @Column({ type: 'text' }) payload!: string;
}

@Entity({ name: 'event_subscribers' })
export class EventSubscriberRow {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ type: 'varchar', length: 128 }) name!: string;
  @Column({ name: 'tenant_ids', type: 'text', nullable: true, transformer: jsonText }) tenantIds!: string[] | null;
  @Column({ name: 'delivered_position', type: 'bigint', transformer: counter }) deliveredPosition!: number;
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoTimestamp }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'varchar', length: 32, transformer: isoTimestamp }) updatedAt!: Date;
}

@Entity({ name: 'crl_scopes' })
export class RevocationListRow {
  @PrimaryColumn({ name: 'authority_id', type: 'varchar', length: 36 }) authorityId!: string;
  @PrimaryColumn({ type: 'integer' }) scope!: number;
  @Column({ name: 'crl_number', type: 'bigint', transformer: counter }) crlNumber!: number;
  @Column({ name: 'revocation_version', type: 'integer' }) revocationVersion!: number;
  @Column({ name: 'this_update', type: 'varchar', length: 32, transformer: isoTimestamp }) thisUpdate!: Date;
  @Column({ name: 'next_update', type: 'varchar', length: 32, transformer: isoTimestamp }) nextUpdate!: Date;
  @Column({ name: 'der_base64', type: 'text' }) derBase64!: string;
}

@Entity({ name: 'enrollment_credentials' })
export class EnrollmentCredentialRow {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ name: 'tenant_id', type: 'varchar', length: 36 }) tenantId!: string;
  @Column({ type: 'varchar', length: 128 }) name!: string;
  @Column({ name: 'secret_hash', type: 'varchar', length: 160 }) secretHash!: string;
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoTimestamp }) createdAt!: Date;
  @Column({ name: 'revoked_at', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) revokedAt!: Date | null;
}

@Entity({ name: 'api_credentials' })
export class ApiCredentialRow {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ type: 'varchar', length: 128 }) name!: string;
  @Column({ type: 'varchar', length: 16 }) role!: string;
  @Column({ name: 'tenant_id', type: 'varchar', length: 36, nullable: true }) tenantId!: string | null;
  @Column({ name: 'secret_hash', type: 'varchar', length: 64 }) secretHash!: string;
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoTimestamp }) createdAt!: Date;
  @Column({ name: 'created_by', type: 'varchar', length: 36, nullable: true }) createdBy!: string | null;
  @Column({ name: 'revoked_at', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) revokedAt!: Date | null;
  @Column({ name: 'last_used_at', type: 'varchar', length: 32, nullable: true, transformer: isoTimestamp }) lastUsedAt!: Date | null;
}

@Entity({ name: 'audit_log' })
export class AuditLogRow {
  @PrimaryColumn({ type: 'bigint', generated: 'increment', transformer: counter }) position!: number;
  @Column({ type: 'varchar', length: 36 }) id!: string;
  @Column({ name: 'occurred_at', type: 'varchar', length: 32, transformer: isoTimestamp }) occurredAt!: Date;
  @Column({ name: 'tenant_id', type: 'varchar', length: 36, nullable: true }) tenantId!: string | null;
  @Column({ type: 'varchar', length: 64 }) actor!: string;
  @Column({ type: 'varchar', length: 48 }) action!: string;
  @Column({ name: 'target_type', type: 'varchar', length: 32, nullable: true }) targetType!: string | null;
  @Column({ name: 'target_id', type: 'varchar', length: 128, nullable: true }) targetId!: string | null;
  @Column({ type: 'varchar', length: 16 }) outcome!: string;
  @Column({ type: 'varchar', length: 64, nullable: true }) reason!: string | null;
  @Column({ type: 'text', nullable: true, transformer: jsonText }) details!: Record<string, unknown> | null;
}

@Entity({ name: 'devices' })
export class DeviceRow {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ name: 'tenant_id', type: 'varchar', length: 36 }) tenantId!: string;
  @Column({ name: 'authority_id', type: 'varchar', length: 36 }) authorityId!: string;
  @Column({ type: 'varchar', length: 255 }) identity!: string;
  @Column({ name: 'device_type', type: 'varchar', length: 128, nullable: true }) deviceType!: string | null;
  @Column({ name: 'certificate_id', type: 'varchar', length: 36, nullable: true }) certificateId!: string | null;
  @Column({ name: 'created_at', type: 'varchar', length: 32, transformer: isoTimestamp }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'varchar', length: 32, transformer: isoTimestamp }) updatedAt!: Date;
}

export const ENTITIES = [TenantRow, AuthorityRow, CertificateRow, OutboxRow, EventSubscriberRow, RevocationListRow, EnrollmentCredentialRow, ApiCredentialRow, AuditLogRow, DeviceRow];
