/**
 * Client certificates as ccm records them: metadata only. The certificate
 * body is returned once at issuance and the device key, when ccm made it, is
 * never recorded at all.
 */
import type { DeviceKeyAlgorithm } from '../codec/key-algorithm.js';
import type { SubjectAltNames } from '../codec/certificate-encoder.js';
import type { Page } from '../shared/page.js';

/**
 * pending: serial reserved and recorded, not yet signed (a crash here leaves
 * a record, never an unknown certificate); failed: signing failed, nothing
 * was issued. The life-cycle states proper start at inactive.
 */
export type CertificateState = 'pending' | 'failed' | 'inactive' | 'active' | 'suspended' | 'revoked';
export const LISTED_STATES = ['inactive', 'active', 'suspended', 'revoked'] as const;
export type ListedState = (typeof LISTED_STATES)[number];

export interface ClientCertificate {
  readonly id: string;
  readonly tenantId: string;
  readonly authorityId: string;
  readonly serialNumber: string;
  readonly state: CertificateState;
  readonly fingerprintSha256: string | null;
  readonly fingerprintSha1: string | null;
  readonly subject: string;
  readonly commonName: string;
  readonly subjectAltNames: SubjectAltNames;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyAlgorithm: DeviceKeyAlgorithm | string;
  /** SHA-256 of the DER SubjectPublicKeyInfo: finds every certificate of one device key. */
  readonly publicKeySha256: string;
  /** server: ccm made the key; csr: the device's key, certified by ccm; external: issued by an external or delegated CA, recorded when first seen. */
  readonly keySource: 'server' | 'csr' | 'external';
  readonly issuedAt: Date | null;
  readonly firstUsedAt: Date | null;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
  readonly revocationReason: string | null;
  /** When the current suspension began; null unless suspended. */
  readonly suspendedAt: Date | null;
  /** Which of its CA's CRLs lists it (0: the CA's single CRL); fixed at issuance, it is in the certificate's CDP. */
  readonly crlShard: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface CertificateFilter {
  /** Only the life-cycle states: pending and failed records are the issuance's own bookkeeping. */
  readonly state?: ListedState;
  readonly commonName?: string;
  readonly serialNumber?: string;
}

export abstract class CertificateRepository {
  abstract insertPending(certificate: ClientCertificate): Promise<void>;
  /** pending → inactive with the fingerprints of the signed certificate. */
  abstract markIssued(id: string, fingerprints: { sha256: string; sha1: string }, at: Date): Promise<void>;
  abstract markFailed(id: string, at: Date): Promise<void>;
  abstract findById(tenantId: string, id: string): Promise<ClientCertificate | null>;
  /** The authentication and OCSP lookup: a serial number is unique per issuing CA (RFC 5280 §4.1.2.2), not across CAs. */
  abstract findByAuthorityAndSerial(authorityId: string, serialNumber: string): Promise<ClientCertificate | null>;
  abstract findBySerial(tenantId: string, serialNumber: string): Promise<ClientCertificate | null>;
  abstract findByFingerprint(tenantId: string, sha256: string): Promise<ClientCertificate | null>;
  abstract list(tenantId: string, filter: CertificateFilter, after: string | null, limit: number): Promise<Page<ClientCertificate>>;
}
