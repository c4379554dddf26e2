/**
 * What a tenant root CA is: its name, its custody key's name and the order
 * the CA role signs for it. One policy for the tenant's first root (made
 * when the tenant is created) and for every root that replaces it (a
 * rollover), so the two cannot drift apart.
 *
 * Each root has a name of its own: generation 1 is "OU=<tenant id>,
 * CN=<tenant name> root CA", generation n "… root CA G<n>". A certificate
 * names its issuer by subject, and ccm finds the CA (for authentication by
 * issuer and serial, CRLs, OCSP) by that name, so two roots of one tenant
 * in force at once must not share one (authority-names.ts).
 */
import type { CertificateOrder, Issuer } from '../ca/certificate-authority.js';
import type { DistinguishedName } from '../codec/distinguished-name.js';
import { formatDistinguishedName } from '../codec/distinguished-name.js';
import type { KeyAlgorithm } from '../codec/key-algorithm.js';
import { pendingCaRecord, type Authority } from './authority.js';

/** A tenant root may certify one level of delegated intermediate CAs below it (RFC 5280 §4.2.1.9). */
const TENANT_ROOT_PATH_LENGTH = 1;
/** Absorbs clock skew between ccm and verifiers for CA certificates. */
const CA_BACKDATE_MS = 5 * 60 * 1000;
/** RFC 5280 ub-common-name. */
const MAXIMUM_COMMON_NAME_LENGTH = 64;

export interface TenantRootPolicy {
  readonly keyAlgorithm: KeyAlgorithm;
  readonly validityDays: number;
}

export interface TenantRootPlan {
  readonly generation: number;
  readonly subject: DistinguishedName;
  readonly custodyKeyName: string;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** What the CA role signs: the platform CA certifies a key created in custody under custodyKeyName. */
  readonly order: CertificateOrder;
}

/** The subject of a tenant's root CA of this generation (1 for the tenant's first). */
export function tenantRootSubject(tenant: { readonly id: string; readonly name: string }, generation: number): DistinguishedName {
  const suffix = generation === 1 ? ' root CA' : ` root CA G${generation}`;
  return [
    { attribute: 'OU', value: tenant.id },
    { attribute: 'CN', value: `${tenant.name.slice(0, MAXIMUM_COMMON_NAME_LENGTH - suffix.length)}${suffix}` },
  ];
}

/** The root of `generation`, certified by the platform CA `issuer`; never valid past the platform CA. */
export function planTenantRoot(tenant: { readonly id: string; readonly name: string }, generation: number, issuer: Issuer & { readonly notBefore: Date; readonly notAfter: Date }, policy: TenantRootPolicy, now: Date): TenantRootPlan {
  if (!Number.isInteger(generation) || generation < 1) throw new Error(`a tenant root generation is a positive integer, not ${generation}`);
  const subject = tenantRootSubject(tenant, generation);
  const custodyKeyName = `tenant-${tenant.id}-root-${generation}`;
  const notBefore = new Date(Math.max(now.getTime() - CA_BACKDATE_MS, issuer.notBefore.getTime()));
  const notAfter = new Date(Math.min(now.getTime() + policy.validityDays * 86_400_000, issuer.notAfter.getTime()));
  return {
    generation,
    subject,
    custodyKeyName,
    keyAlgorithm: policy.keyAlgorithm,
    notBefore,
    notAfter,
    order: {
      purpose: 'ca',
      issuer,
      subject,
      subjectKey: { custodyKeyName, keyAlgorithm: policy.keyAlgorithm },
      notBefore,
      notAfter,
      profile: { kind: 'ca', pathLenConstraint: TENANT_ROOT_PATH_LENGTH },
    },
  };
}

/** The record of a planned root, committed (pending) with its serial before anything is signed. */
export function pendingTenantRoot(id: string, tenantId: string, plan: TenantRootPlan, serialNumber: string, platformId: string, now: Date): Authority {
  return pendingCaRecord({
    id,
    tenantId,
    kind: 'tenant-root',
    custodyKeyName: plan.custodyKeyName,
    keyAlgorithm: plan.keyAlgorithm,
    subject: formatDistinguishedName(plan.subject),
    serialNumber,
    notBefore: plan.notBefore,
    notAfter: plan.notAfter,
    issuerAuthorityId: platformId,
    createdAt: now,
  });
}
