/**
 * One name, one CA. A certificate names its issuer by subject only, and a
 * broker (or ccm's own lookup by issuer and serial) finds the CA by that
 * name: two CAs under one name, say a tenant's delegated intermediate named
 * exactly like another tenant's root, would let one tenant's certificates
 * pass for the other's. So no two CAs ccm knows, of any tenant or kind
 * (platform, tenant roots, delegated intermediates, external CAs, OCSP
 * responders, and the operator's CAs above the platform CA), share a subject
 * under RFC 5280 §7.1 comparison; and a tenant cannot choose a name of the
 * shape ccm gives its own CAs, so ccm's names never collide with a tenant's.
 *
 * The one exception keeps a single security domain single: a tenant that
 * removed its own external or delegated CA may record the very same CA (same
 * kind, same key) again; both records are its own and authenticate as one.
 *
 * The database holds the rule among the CAs in force (a unique index), so two
 * replicas racing for one name cannot both win; this module tells the caller
 * why before that, and covers what the index leaves out (revoked CAs, OCSP
 * responders, the chain above the platform CA).
 */
import { Injectable } from '@nestjs/common';
import { inspectCertificate } from '../codec/certificate-inspection.js';
import type { DistinguishedName } from '../codec/distinguished-name.js';
import { comparableName, comparableSubject } from '../codec/name-comparison.js';
import { decodePem } from '../codec/pem.js';
import { DomainError } from '../shared/errors.js';
import { IssuingCertificateCache } from './authority-certificate.js';
import { AuthorityRepository, type Authority, type AuthorityKind, type AuthorityStatus } from './authority.js';

/** The statuses in which a CA holds its name in the database's unique index: being signed, or in force. */
export const LIVE_NAME_STATUSES = ['pending', 'active', 'published', 'retiring'] as const satisfies readonly AuthorityStatus[];

export interface NameClaim {
  readonly subject: DistinguishedName;
  readonly kind: AuthorityKind;
  readonly tenantId: string | null;
  /** The key the new CA certificate certifies. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** The name came from a tenant (its CSR, its CA certificate), not from ccm. */
  readonly chosenByTenant: boolean;
}

export class AuthorityNameTaken extends DomainError {
  /** Another CA of ccm's has the name. Which one, and whose, is not the caller's to learn. */
  static inUse(field = 'subject'): AuthorityNameTaken {
    return new AuthorityNameTaken('another CA of ccm has this subject (compared as RFC 5280 §7.1 compares names); a CA\'s subject must be unique', { field, reason: 'in-use' });
  }

  /** The name has the shape of one ccm gives its own CAs. */
  static reserved(): AuthorityNameTaken {
    return new AuthorityNameTaken('names of this shape are kept for the CAs ccm creates itself (tenant roots, OCSP responders); choose another subject', { field: 'subject', reason: 'reserved' });
  }

  private constructor(message: string, details: Record<string, unknown>) {
    super('authority-name-taken', message, details);
  }
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const OU = '2.5.4.11';
const CN = '2.5.4.3';
/**
 * The comparable forms of the names ccm generates: "OU=<tenant id>, CN=… root CA" (and "… root CA G<n>" for the
 * roots that replaced it), "OU=<CA id>, CN=OCSP responder <id>", and older responders' "CN=OCSP responder <CA id>".
 */
const CCM_NAME_SHAPES = [
  new RegExp(`^\\[\\["${OU}","${UUID}"\\],\\["${CN}",".* root ca(?: g[0-9]+)?"\\]\\]$`),
  new RegExp(`^\\[\\["${OU}","${UUID}"\\],\\["${CN}","ocsp responder ${UUID}"\\]\\]$`),
  new RegExp(`^\\[\\["${CN}","ocsp responder ${UUID}"\\]\\]$`),
];

/** Whether a name has the shape of one ccm gives its own CAs (a tenant may not choose it). */
export function isNameOfCcmShape(name: DistinguishedName): boolean {
  const comparable = comparableName(name);
  return CCM_NAME_SHAPES.some((shape) => shape.test(comparable));
}

@Injectable()
export class AuthorityNames {
  constructor(
    private readonly authorities: AuthorityRepository,
    private readonly issuers: IssuingCertificateCache,
  ) {}

  /** Refuses a new CA whose name is taken (AuthorityNameTaken, 409); nothing is recorded either way. */
  async assertAvailable(claim: NameClaim): Promise<void> {
    if (claim.chosenByTenant && isNameOfCcmShape(claim.subject)) throw AuthorityNameTaken.reserved();
    const comparable = comparableName(claim.subject);
    for (const holder of await this.authorities.findByComparableSubject(comparable)) {
      if (!this.isSameCaAgain(holder, claim)) throw AuthorityNameTaken.inUse();
    }
    const platform = await this.authorities.findPlatform();
    if (platform?.issuerChainPem && decodePem(platform.issuerChainPem, ['CERTIFICATE']).some((der) => comparableName(inspectCertificate(der).subject) === comparable)) {
      throw AuthorityNameTaken.inUse();
    }
  }

  /** The CAs above the platform CA (an operator's offline root and its intermediates) are names brokers trust too: none may be another CA's. */
  async assertAboveThePlatformAvailable(chain: readonly Uint8Array[]): Promise<void> {
    for (const above of chain) {
      const holders = await this.authorities.findByComparableSubject(comparableName(inspectCertificate(above).subject));
      if (holders.some((holder) => holder.kind !== 'platform')) throw AuthorityNameTaken.inUse('issuerChainPem');
    }
  }

  private isSameCaAgain(holder: Authority, claim: NameClaim): boolean {
    return (
      holder.status === 'revoked' &&
      holder.kind === claim.kind &&
      holder.tenantId === claim.tenantId &&
      holder.certificatePem !== null &&
      Buffer.from(this.issuers.of(holder).subjectPublicKeyInfo).equals(claim.subjectPublicKeyInfo)
    );
  }
}

/** A CA's record as a listing of names needs it (read before the comparable form was stored). */
export interface NamedAuthority {
  readonly id: string;
  readonly tenantId: string | null;
  readonly kind: AuthorityKind;
  readonly status: AuthorityStatus;
  readonly subject: string;
}

export interface NameCollision {
  readonly comparableSubject: string;
  readonly authorities: readonly NamedAuthority[];
  /** Two or more of them are in force (or being signed), which the unique index cannot hold. */
  readonly blocking: boolean;
}

/**
 * CAs recorded before names were unique that share one: for the operator
 * (`ccm authorities check-names`) and the migration that adds the index.
 * Failed records hold no name. OCSP responders of one CA share theirs by
 * design of older ccm versions and count only against other CAs.
 */
export function authorityNameCollisions(authorities: readonly NamedAuthority[]): NameCollision[] {
  const byName = new Map<string, NamedAuthority[]>();
  for (const authority of authorities) {
    if (authority.status === 'failed') continue;
    const key = comparableSubject(authority.subject);
    byName.set(key, [...(byName.get(key) ?? []), authority]);
  }
  const collisions: NameCollision[] = [];
  for (const [comparable, holders] of byName) {
    const cas = holders.filter((holder) => holder.kind !== 'ocsp-responder');
    // Only responders: the generations of one CA's responder ("CN=OCSP responder <CA id>").
    if (holders.length < 2 || cas.length === 0) continue;
    const live = cas.filter((holder) => (LIVE_NAME_STATUSES as readonly string[]).includes(holder.status));
    collisions.push({ comparableSubject: comparable, authorities: holders, blocking: live.length > 1 });
  }
  return collisions;
}

/** One line per CA of a collision, for the operator. */
export function describeCollision(collision: NameCollision): string {
  return collision.authorities.map((a) => `  ${a.subject}: ${a.kind} ${a.id} (${a.status}) of ${a.tenantId === null ? 'the installation' : `tenant ${a.tenantId}`}`).join('\n');
}
