/**
 * The agent's decision logic: keeps Mosquitto's crlfile equal to the current
 * CRLs of the configured tenants and drops the sessions of devices whose
 * certificate is suspended or revoked. It only talks to ports (ports.ts), so
 * every rule here is unit-tested with fakes.
 *
 * Rules, and why:
 * - A certificate event is a hint, not the truth. Retries deliver events out
 *   of order (a suspension can arrive after the reactivation that followed
 *   it), so the enforcer acts on the certificate's state now. Fast path: the
 *   tenant's CRL, fetched after the event was seen and never older than the
 *   one installed, already says what the event says; then that is the state.
 *   Otherwise the certificate is read from ccm, and the CRL is read again
 *   until it agrees with that state; if it never does, the device is still
 *   kicked when it must go, and the handler throws so the event is retried.
 * - Order for a block: install CRL, reload (SIGHUP), kick (dynsec
 *   disableClient). The reload is what refuses the reconnect; the kick ends
 *   the live session, which a reload never does. Mosquitto applies a pending
 *   reload in the loop iteration that handles the kick or earlier, so the
 *   device's next connection meets the new CRL; it is kicked again after
 *   each configured delay anyway, while it is still meant to be out.
 * - A reload is signalled only once the broker is done with the one asked
 *   for before: Mosquitto clears its reload flag when a reload ends, so a
 *   SIGHUP that arrives during one is lost, and the file written for it would
 *   not be read until the next change.
 * - Order for an unblock: install CRL, reload, then enableClient.
 * - Many events are handled at once (the consumer's concurrency), but one
 *   certificate's events one at a time. Work of events in flight together is
 *   shared: one CRL request serves all that arrived while the previous one
 *   ran, CRL writes (and reloads) are coalesced, and dynsec commands go out
 *   in one message (DynsecBrokerControl). A burst of 100 suspensions costs a
 *   handful of reloads, each of which stalls the broker for ~45 ms.
 * - A CRL is never installed when it expires within the configured margin,
 *   nor when it is older than the one installed (a lagging replica must not
 *   undo a suspension); an unchanged bundle is neither written nor reloaded.
 */
import type { CcmEvent } from '../events/certificate-event.js';
import { crlLists, isOlderThan, CrlRejectedError, type TenantCrl } from './crl.js';
import { AgentClock, AgentLog, BrokerControl, BrokerReloader, CertificateDirectory, CrlFile, CrlSource, type CertificateStatus } from './ports.js';

export interface EnforcerSettings {
  /** The tenants whose CRLs make up the crlfile, in file order. */
  readonly tenantIds: readonly string[];
  /** Kick again this long after the first kick (ms), while the device is still to be kept out. */
  readonly rekickDelaysMs: readonly number[];
  /** A CRL whose nextUpdate is closer than this is refused (ms). */
  readonly crlMinimumValidityMs: number;
  /** Reads of certificate state + CRL before giving up on them agreeing. */
  readonly consistencyAttempts?: number;
  /** Wait between those reads (ms). */
  readonly consistencyDelayMs?: number;
}

export interface EnforcerPorts {
  readonly crls: CrlSource;
  readonly directory: CertificateDirectory;
  readonly crlFile: CrlFile;
  readonly reloader: BrokerReloader;
  readonly broker: BrokerControl;
  readonly clock: AgentClock;
  readonly log: AgentLog;
}

/** ccm's CRL does not (yet) reflect the certificate's state; the event must be retried. */
export class CrlBehindStateError extends Error {
  constructor(tenantId: string, serialNumber: string, state: string) {
    super(`the CRL of tenant ${tenantId} does not yet reflect certificate ${serialNumber} being ${state}`);
    this.name = 'CrlBehindStateError';
  }
}

export type Outcome = 'ignored' | 'blocked' | 'unblocked';

/** How long a reload signal waits at most for the broker to finish the previous reload. */
const RELOAD_SETTLE_LIMIT_MS = 1000;

const BLOCKING_STATES = new Set(['suspended', 'revoked']);

export class RevocationEnforcer {
  private readonly installed = new Map<string, TenantCrl>();
  private readonly tenants: ReadonlySet<string>;
  private lastBundle: string | null = null;
  /** CRLs waiting for the next write, and who waits for it (writes are coalesced, never interleaved). */
  private readonly queuedCrls = new Map<string, TenantCrl>();
  private readonly installWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void; why: string }> = [];
  private installRunning = false;
  /** The broker being done with the last reload this agent asked for (see installNow). */
  private reloadSettled: Promise<void> = Promise.resolve();
  private reloadSettling = false;
  private readonly crlFetches = new Map<string, { inFlight: Promise<TenantCrl> | null; next: Promise<TenantCrl> | null }>();
  /** The tail of each certificate's chain of handlers (events are handled concurrently, but one at a time per certificate). */
  private readonly perCertificate = new Map<string, Promise<void>>();
  /** Usernames with re-kicks pending, and which block they belong to (a later unblock cancels them). */
  private readonly pendingRekicks = new Map<string, number>();
  private blockSequence = 0;
  /** Each tenant's root CA id: the one CA whose certificates the tenant CRL lists. A tenant keeps its root for life. */
  private readonly tenantRoots = new Map<string, Promise<string>>();
  private readonly cancellers = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly ports: EnforcerPorts,
    private readonly settings: EnforcerSettings,
  ) {
    if (settings.tenantIds.length === 0) throw new Error('the enforcer needs at least one tenant');
    this.tenants = new Set(settings.tenantIds);
  }

  /** The CRLs now in the crlfile, by tenant. */
  get installedCrls(): ReadonlyMap<string, TenantCrl> {
    return this.installed;
  }

  /**
   * Start-up: fetches every tenant's CRL and installs them together. Throws if
   * any is missing or unusable: a crlfile without a tenant's CRL makes
   * Mosquitto refuse all of that tenant's devices, so there is no partial start.
   */
  async installAll(): Promise<void> {
    // Asked now so that the first event does not wait for it; a failure is asked again by that event.
    for (const tenantId of this.settings.tenantIds) this.tenantRootOf(tenantId).catch(() => undefined);
    const results = await Promise.allSettled(this.settings.tenantIds.map((tenantId) => this.ports.crls.currentCrl(tenantId)));
    const failures = results.flatMap((result, i) => (result.status === 'rejected' ? [`${this.settings.tenantIds[i]}: ${(result.reason as Error).message}`] : []));
    if (failures.length > 0) throw new Error(`cannot install the CRLs: ${failures.join('; ')}`);
    await this.install(results.map((result) => (result as PromiseFulfilledResult<TenantCrl>).value), 'start-up');
  }

  /**
   * The timer's job: fetches every CRL again and installs what changed. A
   * tenant whose CRL cannot be had keeps the installed one; the log says so,
   * loudly once it is close to its nextUpdate.
   */
  async refresh(): Promise<void> {
    const results = await Promise.allSettled(this.settings.tenantIds.map((tenantId) => this.ports.crls.currentCrl(tenantId)));
    const fresh: TenantCrl[] = [];
    results.forEach((result, i) => {
      const tenantId = this.settings.tenantIds[i]!;
      if (result.status === 'fulfilled') return void fresh.push(result.value);
      const kept = this.installed.get(tenantId);
      const fields = { tenantId, error: (result.reason as Error).message, installedNextUpdate: kept?.nextUpdate.toISOString() ?? null };
      const remaining = kept ? kept.nextUpdate.getTime() - this.ports.clock.now().getTime() : 0;
      if (remaining < 4 * this.settings.crlMinimumValidityMs) this.ports.log.error('CRL refresh failed and the installed CRL expires soon: Mosquitto will then refuse every device of this tenant', fields);
      else this.ports.log.warn('CRL refresh failed; keeping the installed CRL', fields);
    });
    await this.install(fresh, 'refresh', { skipRejected: true });
  }

  /** Acts on one event; throws when it must be retried. */
  async handle(event: CcmEvent): Promise<Outcome> {
    if (!this.tenants.has(event.tenantId)) {
      this.ports.log.debug('event for a tenant this broker does not serve', { eventId: event.id, tenantId: event.tenantId });
      return 'ignored';
    }
    this.ports.log.debug('event received', { eventId: event.id, eventType: event.type, tenantId: event.tenantId, certificateId: event.certificateId, eventLagMs: this.lagOf(event) });
    if (event.type === 'certificate.activated') return 'ignored';
    // Certificates of a tenant's own CAs (uploaded, or delegated with the tenant holding the key) are in no CRL ccm
    // signs, so no CRL will ever agree with their state: the dynamic-security client alone keeps such a device out.
    const inTenantCrl = event.authorityId === (await this.tenantRootOf(event.tenantId));
    switch (event.type) {
      case 'certificate.suspended':
      case 'certificate.revoked':
      case 'certificate.reactivated':
        return this.serialised(event.certificateId!, () => (inTenantCrl ? this.reconcileCertificate(event) : this.reconcileWithoutCrl(event)));
      case 'authority.revoked':
        return inTenantCrl ? this.enforceAuthorityRevocation(event) : this.enforceTenantHeldAuthorityRevocation(event);
    }
  }

  private async tenantRootOf(tenantId: string): Promise<string> {
    // The promise is kept, not the answer: the events of a burst arrive together, and before it was settled each
    // of them asked ccm again (65 requests in one burst, each queued behind the burst's own API calls).
    let root = this.tenantRoots.get(tenantId);
    if (root === undefined) {
      root = this.ports.directory.tenantRootAuthorityId(tenantId);
      this.tenantRoots.set(tenantId, root);
      root.catch(() => {
        if (this.tenantRoots.get(tenantId) === root) this.tenantRoots.delete(tenantId);
      });
    }
    return root;
  }

  /** A certificate of a tenant-held CA: its current state in ccm decides, and dynsec enforces it; there is no CRL to wait for. */
  private async reconcileWithoutCrl(event: CcmEvent): Promise<Outcome> {
    const status = await this.ports.directory.certificate(event.tenantId, event.certificateId!);
    const mustBlock = status ? BLOCKING_STATES.has(status.state) : event.type !== 'certificate.reactivated';
    const username = status?.commonName ?? event.commonName;
    const fields = { eventId: event.id, eventType: event.type, tenantId: event.tenantId, authorityId: event.authorityId, serialNumber: status?.serialNumber ?? event.serialNumber, username, state: status?.state ?? 'unknown to ccm', crl: 'none (tenant-held CA)' };
    if (mustBlock) {
      await this.kick([username], fields, event);
      return 'blocked';
    }
    this.cancelRekicks([username]);
    if (username) await this.ports.broker.enableClients([username]);
    this.ports.log.info('device allowed back', { ...fields, eventLagMs: this.lagOf(event) });
    return 'unblocked';
  }

  /** A tenant-held CA removed with everything bound under it: kick each device; no CRL lists them. */
  private async enforceTenantHeldAuthorityRevocation(event: CcmEvent): Promise<Outcome> {
    const revoked = await this.ports.directory.revokedCertificatesOf(event.tenantId, event.authorityId);
    const usernames = [...new Set(revoked.map((certificate) => certificate.commonName))];
    await this.kick(usernames, { eventId: event.id, eventType: event.type, tenantId: event.tenantId, authorityId: event.authorityId, devices: usernames.length, crl: 'none (tenant-held CA)' }, event);
    return 'blocked';
  }

  /** Cancels pending re-kicks. */
  close(): void {
    this.closed = true;
    for (const cancel of this.cancellers) cancel();
    this.cancellers.clear();
    this.pendingRekicks.clear();
  }

  private async reconcileCertificate(event: CcmEvent): Promise<Outcome> {
    const attempts = this.settings.consistencyAttempts ?? 10;
    const started = performance.now();
    let status: CertificateStatus | null = null;
    // Fast path: the CRL already says what the event says. The CRL is never older than one installed before, so
    // a later transition of this certificate that was already handled would show in it. In a burst the CRL request
    // in flight usually lists the event's certificate already (the event was committed before the request reached
    // ccm), so a block tries it first; only when it does not is a request that starts after this event awaited.
    // Not an unblock: that CRL may predate a suspension whose event is still to come, and the device must not be
    // let in on it even for a moment. A block on it errs the other way, and the later event undoes it.
    let mustBlock = event.type !== 'certificate.reactivated';
    const inFlight = mustBlock ? this.crlInFlight(event.tenantId) : null;
    let crl = this.newest(await (inFlight ?? this.freshCrl(event.tenantId)));
    let consistent = crlLists(crl, event.serialNumber) === mustBlock;
    if (!consistent && inFlight) {
      crl = this.newest(await this.freshCrl(event.tenantId));
      consistent = crlLists(crl, event.serialNumber) === mustBlock;
    }
    let reads = 1;
    // Slow path: the CRL disagrees with the event, either because it is behind or because the certificate moved
    // on since. The certificate's current state decides; the CRL is read again until it agrees with it.
    while (!consistent && reads < attempts + 1) {
      if (reads++ > 1) await this.ports.clock.sleep(this.settings.consistencyDelayMs ?? 100);
      let fetched: TenantCrl;
      [status, fetched] = await Promise.all([this.ports.directory.certificate(event.tenantId, event.certificateId!), this.freshCrl(event.tenantId)]);
      crl = this.newest(fetched);
      // A certificate ccm no longer knows: the event is all there is to go on; keep the device out if it said so.
      mustBlock = status ? BLOCKING_STATES.has(status.state) : event.type !== 'certificate.reactivated';
      consistent = crlLists(crl, status?.serialNumber ?? event.serialNumber) === mustBlock;
    }
    const serialNumber = status?.serialNumber ?? event.serialNumber;
    const username = status?.commonName ?? event.commonName;
    const read = performance.now();
    if (consistent) await this.install([crl], `event ${event.id}`);
    const installed = performance.now();
    // Timings say where a slow enforcement spent its time: reading ccm, waiting for the crlfile write, or the broker.
    const state = status?.state ?? (reads === 1 ? event.state : 'unknown to ccm');
    const fields = { eventId: event.id, eventType: event.type, tenantId: event.tenantId, serialNumber, username, state, reads, readMs: round(read - started), installMs: round(installed - read) };

    if (mustBlock) {
      await this.kick([username], fields, event);
      if (!consistent) throw new CrlBehindStateError(event.tenantId, serialNumber, status?.state ?? event.state);
      return 'blocked';
    }
    if (!consistent) throw new CrlBehindStateError(event.tenantId, serialNumber, status?.state ?? event.state);
    this.cancelRekicks([username]);
    if (username) await this.ports.broker.enableClients([username]);
    this.ports.log.info('device allowed back', { ...fields, eventLagMs: this.lagOf(event) });
    return 'unblocked';
  }

  /**
   * A tenant CA revoked with everything it issued (one event, no certificate
   * id): install the CRL once it lists all of them, then kick each device.
   */
  private async enforceAuthorityRevocation(event: CcmEvent): Promise<Outcome> {
    const attempts = this.settings.consistencyAttempts ?? 10;
    let revoked: CertificateStatus[] = [];
    let consistent = false;
    let crl: TenantCrl | null = null;
    for (let attempt = 1; attempt <= attempts && !consistent; attempt++) {
      if (attempt > 1) await this.ports.clock.sleep(this.settings.consistencyDelayMs ?? 100);
      [revoked, crl] = await Promise.all([this.ports.directory.revokedCertificatesOf(event.tenantId, event.authorityId), this.ports.crls.currentCrl(event.tenantId).catch(() => null)]);
      consistent = crl !== null && revoked.every((certificate) => crlLists(crl!, certificate.serialNumber));
    }
    if (consistent) await this.install([crl!], `event ${event.id}`);
    const usernames = [...new Set(revoked.map((certificate) => certificate.commonName))];
    await this.kick(usernames, { eventId: event.id, eventType: event.type, tenantId: event.tenantId, authorityId: event.authorityId, devices: usernames.length }, event);
    if (!consistent) throw new CrlBehindStateError(event.tenantId, `(${revoked.length} certificates of authority ${event.authorityId})`, 'revoked');
    return 'blocked';
  }

  /** Disconnects now, and again after each re-kick delay unless an unblock comes first. */
  private async kick(usernames: readonly string[], fields: Record<string, unknown>, event: CcmEvent): Promise<void> {
    const targets = usernames.filter((u) => u !== '');
    if (targets.length === 0) {
      this.ports.log.warn('no username to kick (certificate without a common name)', fields);
      return;
    }
    const block = ++this.blockSequence;
    for (const username of targets) this.pendingRekicks.set(username, block);
    const started = performance.now();
    await this.ports.broker.disableClients(targets);
    this.ports.log.info('device kicked', { ...fields, kicked: targets.length, kickMs: round(performance.now() - started), eventLagMs: this.lagOf(event) });
    if (this.settings.rekickDelaysMs.length === 0) this.cancelRekicks(targets);
    const last = Math.max(0, ...this.settings.rekickDelaysMs);
    for (const delay of this.settings.rekickDelaysMs) {
      if (this.closed) break;
      const cancel = this.ports.clock.schedule(delay, () => {
        this.cancellers.delete(cancel);
        const still = targets.filter((username) => this.pendingRekicks.get(username) === block);
        if (delay === last) for (const username of still) this.pendingRekicks.delete(username);
        if (still.length === 0 || this.closed) return;
        this.ports.broker.disableClients(still).catch((error: unknown) => this.ports.log.warn('re-kick failed', { ...fields, error: (error as Error).message }));
      });
      this.cancellers.add(cancel);
    }
  }

  private cancelRekicks(usernames: readonly string[]): void {
    for (const username of usernames) this.pendingRekicks.delete(username);
  }

  /**
   * Merges CRLs into the installed set and, if the bundle changed, writes it
   * and reloads Mosquitto. Calls made while a write is under way are
   * coalesced: the next write takes all of them at once, so a burst of
   * suspensions costs a few reloads, not one per device. Resolves once a
   * write that includes these CRLs is done (and the reload was signalled).
   */
  private install(crls: readonly TenantCrl[], why: string, options: { skipRejected?: boolean } = {}): Promise<void> {
    const now = this.ports.clock.now().getTime();
    for (const crl of crls) {
      const remaining = crl.nextUpdate.getTime() - now;
      if (remaining >= this.settings.crlMinimumValidityMs) {
        const queued = this.queuedCrls.get(crl.tenantId);
        if (!queued || !isOlderThan(crl, queued)) this.queuedCrls.set(crl.tenantId, crl);
        continue;
      }
      const error = new CrlRejectedError(crl.tenantId, `its nextUpdate ${crl.nextUpdate.toISOString()} is ${remaining < 0 ? 'past' : 'too close'}; an expired CRL locks every device of the CA out`);
      if (!options.skipRejected) return Promise.reject(error);
      this.ports.log.error(error.message, { tenantId: crl.tenantId });
    }
    return new Promise((resolve, reject) => {
      this.installWaiters.push({ resolve, reject, why });
      void this.pumpInstalls();
    });
  }

  private async pumpInstalls(): Promise<void> {
    if (this.installRunning) return;
    this.installRunning = true;
    try {
      while (this.installWaiters.length > 0) {
        const waiters = this.installWaiters.splice(0);
        const crls = [...this.queuedCrls.values()];
        this.queuedCrls.clear();
        try {
          await this.installNow(crls, waiters.length === 1 ? waiters[0]!.why : `${waiters.length} changes`);
          for (const waiter of waiters) waiter.resolve();
        } catch (error) {
          for (const waiter of waiters) waiter.reject(error);
        }
      }
    } finally {
      this.installRunning = false;
    }
  }

  private async installNow(crls: readonly TenantCrl[], why: string): Promise<void> {
    const next = new Map(this.installed);
    for (const crl of crls) {
      const current = next.get(crl.tenantId);
      if (current && isOlderThan(crl, current)) {
        this.ports.log.warn('ignoring a CRL older than the installed one', { tenantId: crl.tenantId, installedThisUpdate: current.thisUpdate.toISOString(), offeredThisUpdate: crl.thisUpdate.toISOString() });
        continue;
      }
      next.set(crl.tenantId, crl);
    }
    const bundle = this.settings.tenantIds.flatMap((tenantId) => (next.has(tenantId) ? [next.get(tenantId)!.pem] : [])).join('');
    const started = performance.now();
    if (bundle !== this.lastBundle) await this.ports.crlFile.install(bundle);
    for (const [tenantId, crl] of next) this.installed.set(tenantId, crl);
    if (bundle === this.lastBundle) return;
    this.lastBundle = bundle;
    const written = performance.now();
    // Mosquitto clears its reload flag when a reload ends, so a SIGHUP that lands while one runs is lost, and that
    // reload may have read the file written before this one: in a burst, five suspended devices got back in that
    // way, kicked after a signal that was never acted on. A signal therefore waits for the broker to be done with
    // the reload asked for before (bounded: a broker that does not answer must not hold CRLs back).
    if (this.reloadSettling) {
      await new Promise<void>((resolve) => {
        const cancel = this.ports.clock.schedule(RELOAD_SETTLE_LIMIT_MS, resolve);
        void this.reloadSettled.then(() => {
          cancel();
          resolve();
        });
      });
    }
    const reloaded = await this.ports.reloader.reload();
    if (reloaded) {
      const settled = this.ports.broker.settled().catch(() => undefined);
      this.reloadSettled = settled;
      this.reloadSettling = true;
      void settled.then(() => {
        if (this.reloadSettled === settled) this.reloadSettling = false;
      });
    }
    const summary = { why, tenants: next.size, revokedSerials: [...next.values()].reduce((n, crl) => n + crl.revokedSerials.size, 0), writeMs: round(written - started), signalMs: round(performance.now() - written) };
    if (reloaded) this.ports.log.info('CRLs installed, Mosquitto reloading', summary);
    else this.ports.log.warn('CRLs installed, but no running Mosquitto to reload (it reads them when it starts)', summary);
  }

  /**
   * The tenant's current CRL from a request that starts after this call, so
   * it cannot predate the event being handled. At most one request per tenant
   * is in flight; callers arriving meanwhile share the one that starts when it
   * ends. Idle, that costs nothing; in a burst, a handful of CRL requests
   * serve a hundred events.
   */
  private freshCrl(tenantId: string): Promise<TenantCrl> {
    let slot = this.crlFetches.get(tenantId);
    if (!slot) {
      slot = { inFlight: null, next: null };
      this.crlFetches.set(tenantId, slot);
    }
    const current = slot;
    const start = (): Promise<TenantCrl> => {
      const fetch = this.ports.crls.currentCrl(tenantId);
      current.inFlight = fetch;
      void fetch.then(
        () => this.settleFetch(tenantId, current, fetch),
        () => this.settleFetch(tenantId, current, fetch),
      );
      return fetch;
    };
    if (!current.inFlight) return start();
    current.next ??= current.inFlight.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      current.next = null;
      return start();
    });
    return current.next;
  }

  /** The tenant's CRL request under way, if any (whenever it started); a failed one counts as none. */
  private crlInFlight(tenantId: string): Promise<TenantCrl> | null {
    const inFlight = this.crlFetches.get(tenantId)?.inFlight;
    return inFlight ? inFlight.catch(() => this.freshCrl(tenantId)) : null;
  }

  private settleFetch(tenantId: string, slot: { inFlight: Promise<TenantCrl> | null; next: Promise<TenantCrl> | null }, fetch: Promise<TenantCrl>): void {
    if (slot.inFlight === fetch) slot.inFlight = null;
    if (!slot.inFlight && !slot.next) this.crlFetches.delete(tenantId);
  }

  /** The newer of a fetched CRL and the one installed for its tenant. */
  private newest(fetched: TenantCrl): TenantCrl {
    const installed = this.installed.get(fetched.tenantId);
    return installed && isOlderThan(fetched, installed) ? installed : fetched;
  }

  /** Runs `task` after every earlier task of the same key: events of one certificate never interleave. */
  private serialised<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.perCertificate.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.perCertificate.set(key, settled);
    void settled.then(() => {
      if (this.perCertificate.get(key) === settled) this.perCertificate.delete(key);
    });
    return run;
  }

  private lagOf(event: CcmEvent): number {
    return this.ports.clock.now().getTime() - Date.parse(event.time);
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
