/**
 * The CAs whose device certificates ccm accepts, seen from a tenant: its
 * root CA (ccm's key), delegated intermediates the root certified (the
 * tenant's key) and external CAs the tenant uploaded (the tenant's PKI).
 * Lookups are always by (tenant, authority) for callers acting for a tenant,
 * so an id of another tenant's CA names nothing.
 */
import type { Authority, AuthorityKind } from '../authorities/authority.js';
import type { ClientCertificate } from '../certificates/client-certificate.js';

/** The kinds of CA that issue device certificates. */
export const DEVICE_ISSUING_KINDS = ['tenant-root', 'intermediate', 'external'] as const satisfies readonly AuthorityKind[];

/** The CAs whose keys the tenant holds: ccm records their certificates and binds devices under them. */
export function isTenantHeldAuthority(authority: Authority): boolean {
  return authority.kind === 'external' || authority.kind === 'intermediate';
}

/** A CA a leaf's issuer name may mean, and ccm's record of one serial number under it. */
export interface IssuerCandidate {
  readonly authority: Authority;
  /** null: no record (a pending or failed issuance is none either). */
  readonly certificate: ClientCertificate | null;
}

export abstract class TrustedAuthorityRepository {
  /**
   * The active and revoked device-issuing CAs whose subject RFC 5280 §7.1
   * calls equal to the name of `comparableSubject` (name-comparison.ts),
   * active first, newest first within each: the CAs a leaf's issuer name may
   * mean, each with its record of `serialNumber`. Device authentication's
   * lookup, in one round trip; both are read as they are now, never from a
   * cache (a suspension must count at the next authentication). Pending and
   * failed CAs have no certificate and are left out.
   */
  abstract findByNameWithRecord(comparableSubject: string, serialNumber: string): Promise<IssuerCandidate[]>;
  /** A device-issuing CA of this tenant; null for another tenant's id, an OCSP responder or the platform CA. */
  abstract findOfTenant(tenantId: string, authorityId: string): Promise<Authority | null>;
  /** The tenant's device-issuing CAs in creation order; failed records (nothing was signed) are none. */
  abstract listOfTenant(tenantId: string): Promise<Authority[]>;
  /** Records an external CA (active) or a delegated intermediate before it is signed (pending); AuthorityNameTaken when another CA in force has its name. */
  abstract insert(authority: Authority): Promise<void>;
  /** A delegated intermediate that `issuerAuthorityId` certified with this serial number, for its issuer's OCSP responder. */
  abstract findDelegatedBySerial(issuerAuthorityId: string, serialNumber: string): Promise<Authority | null>;
}
