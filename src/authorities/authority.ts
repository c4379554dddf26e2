/**
 * Certificate authorities that ccm holds the keys of: the platform CA (one
 * per installation) and each tenant's root CA. Only the public certificate
 * and the custody key's name are recorded; the key stays in custody. The
 * same records hold the CAs a tenant holds the keys of (external CAs and
 * delegated intermediates, src/trust/): certificate only, no custody key.
 */
import type { KeyAlgorithm } from '../codec/key-algorithm.js';
import { DomainError } from '../shared/errors.js';
import type { IdentityRules } from './identity-rules.js';

/**
 * ocsp-responder: not a CA but a key ccm holds for a CA, to sign OCSP responses on its behalf (RFC 6960 §4.2.2.2).
 * external: a tenant's own CA, uploaded as a certificate only ("bring your own CA"); ccm holds no key.
 * intermediate: a delegated CA that the tenant root certified from the tenant's CSR; the tenant holds the key.
 */
export type AuthorityKind = 'platform' | 'tenant-root' | 'ocsp-responder' | 'external' | 'intermediate';
/** How devices under an external or delegated CA become known: on their first connection, or only when registered beforehand. */
export type DeviceRegistration = 'self' | 'preregistered';
/**
 * pending: key created, certificate not yet in place (being signed, or awaiting an operator's import);
 * active: in force, and for a tenant root the one that signs new certificates;
 * published: a tenant root certified by a staged rollover, in the trust bundle but signing nothing until it is activated;
 * retiring: a tenant root that another replaced (rolled over): it signs no new certificates, but what it issued stays
 * valid, and it still signs their CRLs and OCSP answers, until the last of them expires;
 * retired: a retiring root whose certificates have all expired: out of every trust bundle, signs nothing more;
 * revoked: terminal, issues nothing more, and what it issued is revoked with it;
 * failed: a CA whose signing failed, so no certificate exists (the record stays, as for client certificates).
 */
export type AuthorityStatus = 'pending' | 'active' | 'published' | 'retiring' | 'retired' | 'revoked' | 'failed';

/** The statuses of a CA whose certificate is in force: the ones trust bundles carry and brokers trust. */
export const IN_FORCE_STATUSES = ['active', 'published', 'retiring'] as const satisfies readonly AuthorityStatus[];

export function isInForce(authority: Pick<Authority, 'status'>): boolean {
  return (IN_FORCE_STATUSES as readonly string[]).includes(authority.status);
}

/**
 * Of a tenant's roots (as findTenantRoots orders them), those a relying party needs: every one in force, or, with
 * none (the tenant CA revoked), the newest with a certificate, whose CRL still lists what it issued. Empty when no
 * root was ever certified.
 */
export function rootsToPublish(roots: readonly Authority[]): Authority[] {
  const certified = roots.filter((root) => root.certificatePem !== null);
  const inForce = certified.filter(isInForce);
  return inForce.length > 0 ? inForce : certified.slice(0, 1);
}

export interface Authority {
  readonly id: string;
  readonly tenantId: string | null;
  readonly kind: AuthorityKind;
  readonly status: AuthorityStatus;
  readonly custodyKeyName: string;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly subject: string;
  readonly serialNumber: string | null;
  readonly certificatePem: string | null;
  readonly issuerChainPem: string | null;
  readonly fingerprintSha256: string | null;
  readonly notBefore: Date | null;
  readonly notAfter: Date | null;
  readonly issuerAuthorityId: string | null;
  readonly revokedAt: Date | null;
  readonly revocationReason: string | null;
  /** Changes with every suspension, reactivation or revocation of a certificate under this CA: tells a CRL that it is stale. */
  readonly revocationVersion: number;
  /** null: the defaults (identity from CN, no type, no CSR subject policy). */
  readonly identityRules: IdentityRules | null;
  /** External and delegated CAs only; null for the CAs ccm holds keys of. */
  readonly registration: DeviceRegistration | null;
  /** A label for external and delegated CAs. */
  readonly name: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Whether ccm holds this authority's key in custody and may sign with it
 * (certificates, CRLs, OCSP). Never for external and delegated CAs: the
 * tenant holds their keys, and their custodyKeyName is the empty string.
 */
export function holdsCustodyKey(authority: Authority): boolean {
  return authority.kind !== 'external' && authority.kind !== 'intermediate' && authority.custodyKeyName !== '';
}

/** What a CA's record is made of before anything is signed; the rest starts empty (no certificate, nothing revoked, default rules). */
export type PendingCaFields = Pick<Authority, 'id' | 'tenantId' | 'kind' | 'custodyKeyName' | 'keyAlgorithm' | 'subject' | 'serialNumber' | 'notBefore' | 'notAfter' | 'issuerAuthorityId' | 'createdAt'>;

/** The record of a CA ccm holds the key of, as it is committed (pending) before the CA role signs its certificate. */
export function pendingCaRecord(fields: PendingCaFields): Authority {
  return {
    ...fields,
    status: 'pending',
    certificatePem: null,
    issuerChainPem: null,
    fingerprintSha256: null,
    revokedAt: null,
    revocationReason: null,
    revocationVersion: 0,
    identityRules: null,
    registration: null,
    name: null,
    updatedAt: fields.createdAt,
  };
}

export interface AuthorityCertificate {
  readonly subject: string;
  readonly serialNumber: string;
  readonly certificatePem: string;
  readonly issuerChainPem: string | null;
  readonly fingerprintSha256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Another root CA of the tenant is being issued (a rollover, or the tenant's creation, in progress): one at a time. */
export class TenantRootInProgress extends DomainError {
  constructor() {
    super('conflict', 'another root CA of this tenant is being issued right now (a concurrent rollover); ask again once it has finished', { reason: 'root-in-progress' });
  }
}

export abstract class AuthorityRepository {
  abstract findPlatform(): Promise<Authority | null>;
  abstract findById(id: string): Promise<Authority | null>;
  abstract findActiveTenantRoot(tenantId: string): Promise<Authority | null>;
  /**
   * The tenant's current root CA: the active one, else the newest that is
   * retiring, retired or revoked (a revoked CA still publishes its CRL), else
   * a pending or failed one.
   */
  abstract findTenantRoot(tenantId: string): Promise<Authority | null>;
  /** Every root CA the tenant has had, failed ones left out: the active one first, then newest first. */
  abstract findTenantRoots(tenantId: string): Promise<Authority[]>;
  /** How many root CA records the tenant has, pending and failed ones included (each rollover's generation is the next number). */
  abstract countTenantRootRecords(tenantId: string): Promise<number>;
  /** Inserts the pending platform CA row; false when another process already has one (the unique singleton index); AuthorityNameTaken when another CA has its name. */
  abstract insertPlatformIfAbsent(authority: Authority): Promise<boolean>;
  /**
   * Every CA recorded under a name that RFC 5280 §7.1 calls equal to
   * `comparableSubject` (name-comparison.ts), of any tenant, kind and
   * status but failed (a failed record certifies nothing).
   */
  abstract findByComparableSubject(comparableSubject: string): Promise<Authority[]>;
  /** The newest delegated OCSP responder of a CA, if any. */
  abstract findLatestResponder(issuerAuthorityId: string): Promise<Authority | null>;
  /**
   * Records `serialNumber` on the pending platform CA before it is signed, when
   * no serial is there or the one there was recorded before `staleBefore` (its
   * replica died signing); false when a peer's fresh serial is there or the CA is no longer pending.
   */
  abstract leasePlatformSerial(id: string, serialNumber: string, at: Date, staleBefore: Date): Promise<boolean>;
  /**
   * Records a CA certificate (tenant root, OCSP responder) about to be signed, in its own transaction; AuthorityNameTaken when another CA in force has its name,
   * TenantRootInProgress for a tenant root while another of the tenant's is being signed.
   */
  abstract insertPending(authority: Authority): Promise<void>;
  /** A pending authority whose signing failed: no certificate of it exists, and it frees its name. */
  abstract markFailed(id: string, at: Date): Promise<void>;
  /** Moves a pending authority to active with its certificate; false when it was no longer pending (someone else finished first); AuthorityNameTaken when the certificate's subject is another CA's. */
  abstract activate(id: string, certificate: AuthorityCertificate, at: Date): Promise<boolean>;
  /** Replaces the certificate of an active authority (re-certification of the same key and name). */
  abstract replaceCertificate(id: string, certificate: AuthorityCertificate, at: Date): Promise<void>;
  /** Sets the identity rules of the tenant's CA `authorityId` (null: the defaults); false when the tenant has no such CA. */
  abstract updateIdentityRules(tenantId: string, authorityId: string, rules: IdentityRules | null, at: Date): Promise<boolean>;
}
