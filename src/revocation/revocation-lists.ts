/**
 * CRLs of tenant CAs (RFC 5280 §5), signed through custody. A CRL is re-signed
 * when a certificate under its CA changed state since it was built, or when
 * half of its validity has passed, so a consumer refreshing at any sensible
 * interval never holds an expired one. Concurrent requests share one build.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { IssuingCertificateCache } from '../authorities/authority-certificate.js';
import { AuthorityRepository, type Authority } from '../authorities/authority.js';
import { custodySigner } from '../authorities/custody-signer.js';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { KeyCustody } from '../custody/key-custody.js';
import { encodeCertificateList } from '../issuance/certificate-list-encoder.js';
import { Clock } from '../shared/clock.js';
import { RevocationListRefresher } from '../lifecycle/revocation-list-refresher.js';
import { NotFound } from '../shared/errors.js';
import { RevocationListStore, type RevocationListRecord } from './revocation-list-store.js';
import { crlUrlOf } from './revocation-urls.js';

const REMEMBERED_CRLS = 64;
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
    private readonly custody: KeyCustody,
    private readonly clock: Clock,
  ) {
    super();
  }

  refreshSoon(authorityId: string): void {
    if (this.refreshes.has(authorityId)) return;
    const timer = setTimeout(() => {
      this.refreshes.delete(authorityId);
      // A failure here only means the next fetch builds it; say so and move on.
      this.ofAuthority(authorityId).catch((error: unknown) => this.logger.warn(`background CRL build for ${authorityId} failed: ${error instanceof Error ? error.message : String(error)}`));
    }, REFRESH_COALESCE_MS);
    timer.unref();
    this.refreshes.set(authorityId, timer);
  }

  async onModuleDestroy(): Promise<void> {
    for (const timer of this.refreshes.values()) clearTimeout(timer);
    this.refreshes.clear();
    await Promise.allSettled([...this.building.values()]);
  }

  async ofTenant(tenantId: string): Promise<RevocationListRecord> {
    return this.current(await this.authorities.findTenantRoot(tenantId));
  }

  /** By issuing CA: the URL in certificates' CRL distribution points. */
  async ofAuthority(authorityId: string): Promise<RevocationListRecord> {
    const authority = await this.authorities.findById(authorityId);
    return this.current(authority?.kind === 'tenant-root' ? authority : null);
  }

  private async current(authority: Authority | null): Promise<RevocationListRecord> {
    if (!authority || !authority.certificatePem) throw new NotFound('CRL');
    const remembered = this.latest.get(authority.id);
    if (remembered && this.isFresh(remembered, authority)) return remembered;
    const cached = await this.store.current(authority.id);
    if (cached && this.isFresh(cached, authority)) return this.remember(cached);
    // Join only a build of this same revocation version: one started before a transition committed would miss it.
    const key = `${authority.id}:${authority.revocationVersion}`;
    let build = this.building.get(key);
    if (!build) {
      build = this.build(authority, cached)
        .then((record) => this.remember(record))
        .finally(() => this.building.delete(key));
      this.building.set(key, build);
    }
    return build;
  }

  private remember(record: RevocationListRecord): RevocationListRecord {
    // Bounded, oldest out: CRLs of large fleets run to megabytes each.
    this.latest.delete(record.authorityId);
    if (this.latest.size >= REMEMBERED_CRLS) this.latest.delete(this.latest.keys().next().value!);
    this.latest.set(record.authorityId, record);
    return record;
  }

  private isFresh(crl: RevocationListRecord, authority: Authority): boolean {
    const now = this.clock.now().getTime();
    const halfLife = (crl.nextUpdate.getTime() - crl.thisUpdate.getTime()) / 2;
    // A CRL from the future (another replica's clock ahead, or ours set back) is "not yet valid" to relying parties.
    return crl.revocationVersion === authority.revocationVersion && crl.thisUpdate.getTime() <= now && now < crl.thisUpdate.getTime() + halfLife;
  }

  private async build(authority: Authority, previous: RevocationListRecord | null): Promise<RevocationListRecord> {
    const issuer = this.issuers.of(authority);
    const entries = await this.store.revokedEntries(authority.id);
    const now = this.clock.now();
    // Backdated like certificates' notBefore, so relying parties with a slow clock do not find it "not yet valid".
    const thisUpdate = new Date(now.getTime() - this.config.clientCertificates.backdateSeconds * 1000);
    const nextUpdate = new Date(now.getTime() + this.config.revocation.crlValiditySeconds * 1000);
    const crlNumber = (previous?.crlNumber ?? 0) + 1;
    const der = await encodeCertificateList(
      {
        issuerName: issuer.subjectName,
        authorityKeyIdentifier: issuer.subjectKeyIdentifier,
        crlNumber: BigInt(crlNumber),
        thisUpdate,
        nextUpdate,
        entries: entries.map((entry) => ({ serialNumber: entry.serialNumber, revocationDate: entry.revokedAt, reason: entry.reason })),
        // The same URL as the certificates' CRL distribution point: brokers such as EMQX refuse a CRL without it.
        issuingDistributionPointUri: crlUrlOf(this.config.http.publicUrl, authority.id),
      },
      custodySigner(this.custody, authority.custodyKeyName, authority.keyAlgorithm),
    );
    const record: RevocationListRecord = { authorityId: authority.id, crlNumber, revocationVersion: authority.revocationVersion, thisUpdate, nextUpdate, der };
    if (await this.store.save(record, previous?.crlNumber ?? null)) return record;
    // Another replica or build stored a CRL meanwhile: use it if it covers our version, else build again on top of it.
    const theirs = (await this.store.current(authority.id))!;
    return theirs.revocationVersion >= authority.revocationVersion ? theirs : this.build(authority, theirs);
  }
}
