/**
 * CRLs of tenant CAs (RFC 5280 §5), linted and signed by the CA role. A CRL is re-signed
 * when a certificate under its CA changed state since it was built, or when
 * half of its validity has passed, so a consumer refreshing at any sensible
 * interval never holds an expired one. Concurrent requests share one build.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { IssuingCertificateCache } from '../authorities/authority-certificate.js';
import { AuthorityRepository, holdsCustodyKey, rootsToPublish, type Authority } from '../authorities/authority.js';
import { CertificateAuthority } from '../ca/certificate-authority.js';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { Clock } from '../shared/clock.js';
import { RevocationListRefresher } from '../lifecycle/revocation-list-refresher.js';
import { NotFound } from '../shared/errors.js';
import { COMPLETE_SCOPE, RevocationListStore, type RevocationListRecord } from './revocation-list-store.js';
import { crlUrlOf } from '../shared/revocation-urls.js';

const REMEMBERED_CRLS = 64;

/** Tenant root CAs only: the platform CA signs no client certificates, and the keys of external and delegated CAs are the tenant's. */
function publishesRevocationList(authority: Authority): boolean {
  return authority.kind === 'tenant-root' && holdsCustodyKey(authority);
}

/** How long a background build waits for more transitions under the same CA before it starts. */
const REFRESH_COALESCE_MS = 50;

@Injectable()
export class RevocationLists extends RevocationListRefresher implements OnModuleDestroy {
  private readonly logger = new Logger('RevocationLists');
  private readonly refreshes = new Map<string, NodeJS.Timeout>();
  private readonly building = new Map<string, Promise<RevocationListRecord>>();
  /** The last CRL seen per CA: a fresh one of the current revocation version is served without reading megabytes back from the database. */
  private readonly latest = new Map<string, RevocationListRecord>();

  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly authorities: AuthorityRepository,
    private readonly issuers: IssuingCertificateCache,
    private readonly store: RevocationListStore,
    private readonly ca: CertificateAuthority,
    private readonly clock: Clock,
  ) {
    super();
  }

  refreshSoon(authorityId: string, shard: number): void {
    const scopes = this.config.revocation.crlShardDays > 0 ? [shard, COMPLETE_SCOPE] : [shard];
    for (const scope of scopes) {
      const key = `${authorityId}:${scope}`;
      if (this.refreshes.has(key)) continue;
      const timer = setTimeout(() => {
        this.refreshes.delete(key);
        // A failure here only means the next fetch builds it; say so and move on.
        this.refreshIfPublished(authorityId, scope).catch((error: unknown) => this.logger.warn(`background CRL build for ${authorityId} (scope ${scope}) failed: ${error instanceof Error ? error.message : String(error)}`));
      }, REFRESH_COALESCE_MS);
      timer.unref();
      this.refreshes.set(key, timer);
    }
  }

  async onModuleDestroy(): Promise<void> {
    for (const timer of this.refreshes.values()) clearTimeout(timer);
    this.refreshes.clear();
    await Promise.allSettled([...this.building.values()]);
  }

  /** What a tenant's operators fetch: the active root's single CRL, or, when sharded, its complete CRL. */
  async ofTenant(tenantId: string): Promise<RevocationListRecord> {
    const authority = await this.authorities.findTenantRoot(tenantId);
    return this.currentOf(authority, this.config.revocation.crlShardDays > 0 ? COMPLETE_SCOPE : 0);
  }

  /**
   * The CRL of each of the tenant's root CAs whose certificates are in force (the active root, then retiring ones
   * newest first), as a broker that checks CRLs needs them all during a rollover: a TLS library that checks CRLs
   * refuses a certificate whose issuer has none. With none in force (the tenant CA revoked), the revoked root's, so
   * that its certificates stay listed. Complete CRLs when sharded.
   */
  async ofTenantRoots(tenantId: string): Promise<Array<{ readonly authority: Authority; readonly crl: RevocationListRecord }>> {
    const published = rootsToPublish(await this.authorities.findTenantRoots(tenantId));
    if (published.length === 0) throw new NotFound('CRL');
    const scope = this.config.revocation.crlShardDays > 0 ? COMPLETE_SCOPE : 0;
    return Promise.all(published.map(async (authority) => ({ authority, crl: await this.currentOf(authority, scope) })));
  }

  /** A CRL distribution point: shard 0 is the CA's single CRL, others exist once a certificate names them. */
  async ofDistributionPoint(authorityId: string, shard: number): Promise<RevocationListRecord> {
    if (shard !== 0 && !(await this.store.hasShard(authorityId, shard))) throw new NotFound('CRL');
    return this.current(authorityId, shard);
  }

  private async current(authorityId: string, scope: number): Promise<RevocationListRecord> {
    const authority = await this.authorities.findById(authorityId);
    return this.currentOf(authority && publishesRevocationList(authority) ? authority : null, scope);
  }

  /** Transitions of certificates under external and delegated CAs also ask for a refresh; ccm signs no CRL for those CAs, so there is nothing to build. */
  private async refreshIfPublished(authorityId: string, scope: number): Promise<void> {
    const authority = await this.authorities.findById(authorityId);
    if (authority && publishesRevocationList(authority)) await this.currentOf(authority, scope);
  }

  private async currentOf(authority: Authority | null, scope: number): Promise<RevocationListRecord> {
    if (!authority || !authority.certificatePem || !publishesRevocationList(authority)) throw new NotFound('CRL');
    const remembered = this.latest.get(`${authority.id}:${scope}`);
    if (remembered && this.isFresh(remembered, authority)) return remembered;
    const cached = await this.store.current(authority.id, scope);
    if (cached && this.isFresh(cached, authority)) return this.remember(cached);
    // Join only a build of this same revocation version: one started before a transition committed would miss it.
    const key = `${authority.id}:${scope}:${authority.revocationVersion}`;
    let build = this.building.get(key);
    if (!build) {
      build = this.build(authority, scope, cached)
        .then((record) => this.remember(record))
        .finally(() => this.building.delete(key));
      this.building.set(key, build);
    }
    return build;
  }

  private remember(record: RevocationListRecord): RevocationListRecord {
    // Bounded, oldest out: CRLs of large fleets run to megabytes each.
    const key = `${record.authorityId}:${record.scope}`;
    this.latest.delete(key);
    if (this.latest.size >= REMEMBERED_CRLS) this.latest.delete(this.latest.keys().next().value!);
    this.latest.set(key, record);
    return record;
  }

  private isFresh(crl: RevocationListRecord, authority: Authority): boolean {
    const now = this.clock.now().getTime();
    const halfLife = (crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / 2;
    // A CRL from the future (another replica's clock ahead, or ours set back) is "not yet valid" to relying parties.
    return crl.revocationVersion === authority.revocationVersion && crl.thisUpdate.getTime() <= now && now < crl.thisUpdate.getTime() + halfLife;
  }

  private async build(authority: Authority, scope: number, previous: RevocationListRecord | null): Promise<RevocationListRecord> {
    const issuer = this.issuers.of(authority);
    const entries = await this.store.revokedEntries(authority.id, scope);
    const now = this.clock.now();
    // Backdated like certificates' notBefore, so relying parties with a slow clock do not find it "not yet valid".
    const thisUpdate = new Date(now.getTime() - this.config.clientCertificates.backdateSeconds * 1000);
    const nextUpdate = new Date(now.getTime() + this.config.revocation.crlValiditySeconds * 1000);
    // The clock's milliseconds, and always past the previous number (a clock set back, another replica's skew).
    // A count from 1 would go backwards after the database is restored from a backup, and a consumer that keeps
    // the highest number it has seen (the Mosquitto agent, RFC 5280 §5.2.3) would then refuse every new CRL.
    const crlNumber = Math.max((previous?.crlNumber ?? 0) + 1, now.getTime());
    const der = await this.ca.signRevocationList(
      issuer,
      {
        crlNumber: BigInt(crlNumber),
        thisUpdate,
        nextUpdate,
        entries: entries.map((entry) => ({ serialNumber: entry.serialNumber, revocationDate: entry.revokedAt, reason: entry.reason })),
        // The same URL as the certificates' CRL distribution point: brokers such as EMQX refuse a CRL without it.
        // The complete CRL has none: without an IDP it is in scope for every certificate of the CA (RFC 5280 §5.2.5).
        ...(scope === COMPLETE_SCOPE ? {} : { issuingDistributionPointUri: crlUrlOf(this.config.http.publicUrl, authority.id, scope) }),
      },
    );
    const record: RevocationListRecord = { authorityId: authority.id, scope, crlNumber, revocationVersion: authority.revocationVersion, thisUpdate, nextUpdate, der };
    if (await this.store.save(record, previous?.crlNumber ?? null)) return record;
    // Another replica or build stored a CRL meanwhile: use it if it covers our version, else build again on top of it.
    const theirs = (await this.store.current(authority.id, scope))!;
    return theirs.revocationVersion >= authority.revocationVersion ? theirs : this.build(authority, scope, theirs);
  }
}
