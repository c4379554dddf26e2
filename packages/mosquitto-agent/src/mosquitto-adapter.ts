/**
 * MosquittoAdapter: carries the core's verdicts out on a stock Mosquitto 2.0.
 * It owns Mosquitto's crlfile (kept equal to the served tenants' current
 * CRLs) and the dynamic-security clients it disables to kick sessions. It
 * only talks to ports (ports.ts), so every rule here is unit-tested with fakes.
 *
 * Rules, and why:
 * - Keeping a device out takes both halves. The CRL refuses its reconnects
 *   (a reload never drops a live session); the kick (dynsec disableClient)
 *   ends the live session but refuses nothing (a certificate client never
 *   meets the plugin's password check). Order: install CRL, reload
 *   (SIGHUP), kick. Mosquitto applies a pending reload in the loop iteration
 *   that handles the kick or earlier, so the device's next connection meets
 *   the new CRL; it is kicked again after each configured delay anyway.
 * - Letting back in: the clients this agent holds disabled are released
 *   (deleted when the agent created them, which keeps the plugin's
 *   configuration, saved whole at every change, as small as the set of
 *   devices kept out; enabled otherwise), then a CRL that no longer lists
 *   the serial, reload. Released first: deleting a client kicks its live
 *   session, and until the new CRL the device has none (one of a CA in no
 *   ccm CRL may have got back in between kicks; it is kicked once more and
 *   reconnects).
 * - Only the tenant root CA's certificates are in the tenant CRL; a tenant's
 *   own CAs (uploaded, or delegated with the tenant holding the key) are in
 *   no CRL ccm signs, so for their certificates the kick is all there is.
 * - The CRL used must agree with the states the core hands over. A let-in
 *   takes only a CRL from a request that started after the call (an older
 *   one may predate a suspension the core has not handed over yet); a
 *   keep-out may take any CRL already fetched or in flight that lists the
 *   serials (it errs towards keeping out). The CRL is read again a bounded
 *   number of times; when it never agrees the device is kicked anyway and
 *   the call throws CrlBehindStateError (the core retries with backoff).
 *   Reads are short and few: the core sends its next batch only once this
 *   call returns, so a keep-out that needed a CRL asks for the next one
 *   while it installs and kicks (in a burst the next batch finds it ready).
 * - Idempotent, as the port asks: a device already disabled whose serials
 *   the installed CRL already lists is not kicked again; an identity never
 *   disabled is not enabled (at start the core lets in every certificate in
 *   force, possibly 100,000: that costs no broker call); an unchanged bundle
 *   is neither written nor reloaded, and at start a crlfile that already
 *   holds the bundle is not rewritten, nor reloaded when the note beside it
 *   says Mosquitto was signalled to read it.
 * - A reload is signalled only once the broker is done with the one asked
 *   for before: Mosquitto clears its reload flag when a reload ends, so a
 *   SIGHUP that arrives during one is lost, and the file written for it would
 *   not be read until the next change.
 * - Calls may overlap (the core runs shutOut and letBackIn of one round
 *   together): CRL requests are shared (one in flight per tenant; callers
 *   arriving meanwhile share the next), writes are coalesced and never
 *   interleave, dynsec commands go out one message at a time.
 * - A CRL is never installed when it expires within the configured margin,
 *   nor when it is older than the one installed (a lagging replica must not
 *   undo a suspension).
 * - An identity whose every certificate has expired is left alone: TLS
 *   refuses its reconnects, and kicking it would create a dynsec client for
 *   each such identity on the first start.
 */
import { createHash } from 'node:crypto';
import { BrokerAdapter, type AgentLog, type CertificateStatus, type Device } from '@ccm/broker-agent';
import { crlLists, CrlRejectedError, isOlderThan, type TenantCrl } from './crl.js';
import { AdapterClock, BrokerControl, BrokerReloader, CrlFile, CrlSource } from './ports.js';

export interface MosquittoAdapterPorts {
  readonly crls: CrlSource;
  readonly crlFile: CrlFile;
  readonly reloader: BrokerReloader;
  /** Opens the dynamic-security admin connection (start() calls it, again after a failure). */
  readonly connectControl: () => Promise<BrokerControl>;
  readonly clock: AdapterClock;
  readonly log: AgentLog;
}

export interface MosquittoAdapterSettings {
  /** The tenants whose CRLs make up the crlfile, in file order. */
  readonly tenantIds: readonly string[];
  /** Kick again this long after the first kick (ms), while the device is still to be kept out. */
  readonly rekickDelaysMs: readonly number[];
  /** A CRL whose nextUpdate is closer than this is refused (ms). */
  readonly crlMinimumValidityMs: number;
  /** Every CRL is fetched again this often (ms). */
  readonly crlRefreshMs: number;
  /** Fresh CRL reads per call before giving up on one agreeing with the states (default 3). */
  readonly crlReadsPerCall?: number;
  /** Wait between those reads (ms, default 100). */
  readonly crlReadDelayMs?: number;
}

/** ccm's CRL does not (yet) say what the certificates' states say; the core retries the call. */
export class CrlBehindStateError extends Error {
  constructor(
    readonly tenantId: string,
    readonly serialNumbers: readonly string[],
    readonly wanted: 'listed' | 'not listed',
  ) {
    super(`the CRL of tenant ${tenantId} does not yet show ${serialNumbers.length === 1 ? `certificate ${serialNumbers[0]}` : `${serialNumbers.length} certificates`} as ${wanted}`);
    this.name = 'CrlBehindStateError';
  }
}

/** The adapter was asked to act before start() succeeded, or after close(). */
export class AdapterNotRunningError extends Error {
  constructor(what: string, state: 'not started' | 'closed') {
    super(`the Mosquitto adapter cannot ${what}: it is ${state}`);
    this.name = 'AdapterNotRunningError';
  }
}

/** How long a reload signal waits at most for the broker to finish the previous reload. */
const RELOAD_SETTLE_LIMIT_MS = 1000;
/** Usernames listed in one log line; the count is always there. */
const LOGGED_USERNAMES = 20;

/** What one device needs from the crlfile and the plugin. */
interface DevicePlan {
  readonly identity: string;
  /** Serials of the certificates that decide, by tenant: the ones ccm's tenant CRL speaks for. */
  readonly crlSerials: ReadonlyMap<string, readonly string[]>;
  /** How many certificates decide (those of tenant-held CAs included). 0: nothing to do. */
  readonly deciding: number;
}

type CrlFetchSlot = { inFlight: Promise<TenantCrl> | null; next: Promise<TenantCrl> | null };

export class MosquittoAdapter extends BrokerAdapter {
  readonly broker = 'mosquitto';

  private readonly installed = new Map<string, TenantCrl>();
  /** The bundle last written (or found on disk at start); null before the first install of this process. */
  private lastBundle: string | null = null;
  /** CRLs waiting for the next write, and who waits for it (writes are coalesced, never interleaved). */
  private readonly queuedCrls = new Map<string, TenantCrl>();
  private readonly installWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void; why: string }> = [];
  private installRunning = false;
  /** The broker being done with the last reload this agent asked for (see installNow). */
  private reloadSettled: Promise<void> = Promise.resolve();
  private reloadSettling = false;
  /** The reload notes, written one after another (the last one wins). */
  private reloadNotes: Promise<void> = Promise.resolve();
  private readonly crlFetches = new Map<string, CrlFetchSlot>();
  /** The newest CRL fetched per tenant, installed or not (a keep-out may use it when it lists the serials). */
  private readonly latestFetched = new Map<string, TenantCrl>();
  /** Usernames with re-kicks pending, and which kick they belong to (a later let-in cancels them). */
  private readonly pendingRekicks = new Map<string, number>();
  private kickSequence = 0;
  /** Usernames the plugin holds disabled (read at start, then kept by this adapter's own commands). */
  private disabled = new Set<string>();
  private control: BrokerControl | null = null;
  private crlsInstalled = false;
  private disabledRead = false;
  private cancelRefresh: (() => void) | null = null;
  private readonly cancellers = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly ports: MosquittoAdapterPorts,
    private readonly settings: MosquittoAdapterSettings,
  ) {
    super();
    if (settings.tenantIds.length === 0) throw new Error('the Mosquitto adapter needs at least one tenant');
  }

  /** The CRLs now in the crlfile, by tenant. */
  get installedCrls(): ReadonlyMap<string, TenantCrl> {
    return this.installed;
  }

  /** The usernames this adapter holds disabled in the plugin. */
  get disabledClients(): ReadonlySet<string> {
    return this.disabled;
  }

  /** Mosquitto's username for the holder (use_identity_as_username): the CN; null without one (Mosquitto refuses such a certificate at connect). */
  identityOf(certificate: CertificateStatus): string | null {
    return certificate.commonName === '' ? null : certificate.commonName;
  }

  /**
   * CRLs first (Mosquitto refuses to start without its crlfile, and keeps the
   * old one meanwhile), then the admin connection, then who the plugin holds
   * disabled. A failed step throws and the core calls start() again: the steps
   * already done are not redone.
   */
  async start(): Promise<void> {
    if (this.closed) throw new AdapterNotRunningError('start', 'closed');
    if (!this.crlsInstalled) {
      await this.installAll('start-up');
      this.crlsInstalled = true;
    }
    if (!this.control) this.control = await this.ports.connectControl();
    if (!this.disabledRead) {
      this.disabled = new Set(await this.control.disabledClients());
      this.disabledRead = true;
    }
    if (!this.cancelRefresh) this.scheduleRefresh();
    this.ports.log.info('mosquitto adapter started', { tenants: this.settings.tenantIds.length, revokedSerials: this.revokedSerialCount(), disabledClients: this.disabled.size });
  }

  /**
   * Fetches every tenant's CRL and installs them together, with no admin
   * connection (`--once`, before Mosquitto first starts). Throws if any is
   * missing or unusable: a crlfile without a tenant's CRL makes Mosquitto
   * refuse all of that tenant's devices, so there is no partial install.
   */
  async installCrlsOnce(): Promise<void> {
    await this.installAll('--once');
  }

  /** Mosquitto cannot list its sessions; the core then keeps every identity that must be out shut out. */
  async listSessions(): Promise<ReadonlySet<string> | null> {
    return null;
  }

  shutOut(devices: readonly Device[]): Promise<void> {
    return this.keepOut(devices, 'shutOut');
  }

  endForGood(devices: readonly Device[]): Promise<void> {
    return this.keepOut(devices, 'endForGood');
  }

  async letBackIn(devices: readonly Device[]): Promise<void> {
    const control = this.running('let devices back in');
    const started = performance.now();
    const now = this.ports.clock.now().getTime();
    const plans = devices.map((device) => this.planOf(device, (certificate) => (certificate.state === 'active' || certificate.state === 'inactive') && certificate.notAfter.getTime() > now));
    for (const plan of plans) this.pendingRekicks.delete(plan.identity);
    // Serials the installed CRL still lists: a CRL without them is needed first.
    const wanted = new Map<string, Set<string>>();
    for (const plan of plans) {
      for (const [tenantId, serials] of plan.crlSerials) {
        const crl = this.installed.get(tenantId);
        for (const serial of serials) if (!crl || crlLists(crl, serial)) add(wanted, tenantId, serial);
      }
    }
    const disabled = plans.filter((plan) => this.disabled.has(plan.identity));
    if (wanted.size === 0 && disabled.length === 0) return;

    const { crls, behind, reads, failure } = await this.crlsThatAgree(wanted, false);
    if (failure) throw failure;
    const read = performance.now();
    const held = new Set<string>();
    for (const plan of plans) if (behind.some((lag) => plan.crlSerials.get(lag.tenantId)?.some((serial) => lag.serialNumbers.includes(serial)))) held.add(plan.identity);
    const release = disabled.map((plan) => plan.identity).filter((identity) => !held.has(identity));
    if (release.length > 0) {
      await control.releaseClients(release);
      for (const identity of release) this.disabled.delete(identity);
    }
    const released = performance.now();
    if (crls.length > 0) await this.install(crls, 'letBackIn');
    const allowed = plans.map((plan) => plan.identity).filter((identity) => !held.has(identity));
    this.ports.log.info('devices allowed back', { devices: allowed.length, ...sample(allowed), released: release.length, crlReads: reads, readMs: round(read - started), releaseMs: round(released - read), installMs: round(performance.now() - released) });
    if (behind.length > 0) throw new CrlBehindStateError(behind[0]!.tenantId, behind[0]!.serialNumbers, 'not listed');
  }

  /**
   * The admin connection is up. No command is sent: the core checks every
   * few seconds, and Mosquitto logs every dynamic-security command, reads
   * included. A broker that stops answering drops the connection within
   * mqtt.js's keepalive.
   */
  async check(): Promise<void> {
    if (!this.running('check the broker').connected) throw new Error('the admin connection to Mosquitto is down (mqtt.js is reconnecting)');
  }

  /** Cancels pending re-kicks and the CRL refresh, closes the admin connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelRefresh?.();
    for (const cancel of this.cancellers) cancel();
    this.cancellers.clear();
    this.pendingRekicks.clear();
    await this.reloadNotes;
    await this.control?.close();
  }

  /**
   * A root of the tenant was rolled over to, retired or revoked: the tenant's CRLs are read again and installed,
   * so the crlfile carries a CRL for each root in force (Mosquitto refuses a certificate whose issuer has none)
   * before this returns. A tenant this agent does not serve changes nothing.
   */
  override async trustChanged(tenantId: string): Promise<void> {
    if (!this.settings.tenantIds.includes(tenantId)) return;
    this.running('follow a change of the tenant\'s CAs');
    const crl = await this.freshCrl(tenantId);
    await this.install([crl], 'trust changed');
    this.ports.log.info('tenant CAs changed; their CRLs installed', { tenantId, authorities: [...crl.authorityIds] });
  }

  /**
   * The timer's job: fetches every CRL again and installs what changed. A
   * tenant whose CRL cannot be had keeps the installed one; the log says so,
   * loudly once it is close to its nextUpdate.
   */
  async refresh(): Promise<void> {
    const results = await Promise.allSettled(this.settings.tenantIds.map((tenantId) => this.freshCrl(tenantId)));
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
    if (fresh.length > 0) await this.install(fresh, 'refresh', { skipRejected: true });
  }

  // ------------------------------------------------------------------ keeping out

  /** shutOut and endForGood: on Mosquitto both are "listed in the CRL, disabled, kicked". */
  private async keepOut(devices: readonly Device[], operation: 'shutOut' | 'endForGood'): Promise<void> {
    this.running(operation === 'shutOut' ? 'shut devices out' : 'end devices');
    const started = performance.now();
    const now = this.ports.clock.now().getTime();
    const plans = devices.map((device) => this.planOf(device, (certificate) => (certificate.state === 'suspended' || certificate.state === 'revoked') && certificate.notAfter.getTime() > now));
    const todo = plans.filter((plan) => plan.deciding > 0 && !(this.disabled.has(plan.identity) && this.listedByInstalled(plan)));
    if (todo.length === 0) return;

    const wanted = new Map<string, Set<string>>();
    for (const plan of todo) {
      for (const [tenantId, serials] of plan.crlSerials) {
        const crl = this.installed.get(tenantId);
        for (const serial of serials) if (!crl || !crlLists(crl, serial)) add(wanted, tenantId, serial);
      }
    }
    // Whatever happens with the CRL, the sessions are ended: a device that must be out is kicked even when ccm's
    // CRL lags or cannot be had (the call then throws, and the core retries the CRL part).
    const { crls, behind, reads, failure } = await this.crlsThatAgree(wanted, true);
    const read = performance.now();
    // A keep-out that had to ask ccm is usually part of a burst: the core sends the next batch once this call
    // returns, and a CRL asked for now (while this one is installed and the devices kicked) already lists most of
    // the suspensions committed meanwhile, so the next batch finds it ready instead of asking and waiting again.
    for (const tenantId of wanted.keys()) this.fetchAhead(tenantId);
    let installFailure: unknown = null;
    if (crls.length > 0) await this.install(crls, operation).catch((error: unknown) => (installFailure = error));
    const installed = performance.now();
    const usernames = todo.map((plan) => plan.identity);
    await this.kick(usernames, operation);
    this.ports.log.info('devices kicked', { operation, devices: usernames.length, ...sample(usernames), crlReads: reads, readMs: round(read - started), installMs: round(installed - read), kickMs: round(performance.now() - installed) });
    if (failure) throw failure;
    if (installFailure) throw installFailure;
    if (behind.length > 0) throw new CrlBehindStateError(behind[0]!.tenantId, behind[0]!.serialNumbers, 'listed');
  }

  /** Whether the installed CRLs list every serial of the plan. */
  private listedByInstalled(plan: DevicePlan): boolean {
    for (const [tenantId, serials] of plan.crlSerials) {
      const crl = this.installed.get(tenantId);
      if (!crl || serials.some((serial) => !crlLists(crl, serial))) return false;
    }
    return true;
  }

  /** The device's deciding certificates (`decides`), split into those the tenant CRL speaks for and the rest. */
  private planOf(device: Device, decides: (certificate: CertificateStatus) => boolean): DevicePlan {
    const crlSerials = new Map<string, string[]>();
    let deciding = 0;
    for (const certificate of device.certificates) {
      if (!decides(certificate)) continue;
      deciding++;
      // A tenant-held CA (no CRL of ccm's lists it), or a root whose CRL the crlfile does not carry (one retired, or
      // one rolled over to that trustChanged has not brought in yet): Mosquitto refuses its certificates for want of
      // a CRL, and the kick is all there is to do.
      if (!this.crlOf(certificate.tenantId)?.authorityIds.has(certificate.authorityId)) continue;
      let serials = crlSerials.get(certificate.tenantId);
      if (!serials) crlSerials.set(certificate.tenantId, (serials = []));
      serials.push(certificate.serialNumber);
    }
    return { identity: device.identity, crlSerials, deciding };
  }

  /** The tenant's CRLs as the crlfile has them, or (before the first install) as last fetched. */
  private crlOf(tenantId: string): TenantCrl | undefined {
    return this.installed.get(tenantId) ?? this.latestFetched.get(tenantId);
  }

  /** Disables (and so disconnects) now, and again after each re-kick delay unless a let-in comes first. */
  private async kick(usernames: readonly string[], operation: string): Promise<void> {
    const control = this.running('kick');
    const kick = ++this.kickSequence;
    for (const username of usernames) this.pendingRekicks.set(username, kick);
    try {
      await control.disableClients(usernames);
    } catch (error) {
      for (const username of usernames) if (this.pendingRekicks.get(username) === kick) this.pendingRekicks.delete(username);
      throw error;
    }
    for (const username of usernames) this.disabled.add(username);
    const delays = this.settings.rekickDelaysMs;
    if (delays.length === 0) {
      for (const username of usernames) if (this.pendingRekicks.get(username) === kick) this.pendingRekicks.delete(username);
      return;
    }
    const last = Math.max(...delays);
    for (const delay of delays) {
      const cancel = this.ports.clock.schedule(delay, () => {
        this.cancellers.delete(cancel);
        const still = usernames.filter((username) => this.pendingRekicks.get(username) === kick);
        if (delay === last) for (const username of still) this.pendingRekicks.delete(username);
        if (still.length === 0 || this.closed) return;
        control.disableClients(still).catch((error: unknown) => this.ports.log.warn('re-kick failed', { operation, devices: still.length, ...sample(still), error: (error as Error).message }));
      });
      this.cancellers.add(cancel);
    }
  }

  // ------------------------------------------------------------------ CRLs

  /**
   * For each tenant, a CRL that lists (mustList) or does not list the wanted
   * serials, newest of fetched and installed. `behind`: the serials whose CRL
   * never agreed within the reads allowed; `failure`: a tenant whose CRL could
   * not be had at all (the others are still returned).
   */
  private async crlsThatAgree(wanted: ReadonlyMap<string, ReadonlySet<string>>, mustList: boolean): Promise<{ crls: TenantCrl[]; behind: Array<{ tenantId: string; serialNumbers: string[] }>; reads: number; failure: unknown }> {
    const attempts = this.settings.crlReadsPerCall ?? 3;
    const outcomes = await Promise.allSettled(
      [...wanted].map(async ([tenantId, serials]) => {
        const disagreeing = (crl: TenantCrl): string[] => [...serials].filter((serial) => crlLists(crl, serial) !== mustList);
        let reads = 0;
        let crl: TenantCrl | null = null;
        // A keep-out may use the request already under way (in a burst it usually lists the newest suspensions
        // already); a let-in must not: that CRL may predate a suspension the core has not handed over yet.
        const recent = mustList ? this.latestFetched.get(tenantId) : undefined;
        if (recent && disagreeing(this.newest(recent)).length === 0) return { tenantId, crl: this.newest(recent), reads, lagging: [] as string[] };
        const inFlight = mustList ? this.crlInFlight(tenantId) : null;
        if (inFlight) {
          crl = this.newest(await inFlight);
          reads++;
          if (disagreeing(crl).length === 0) return { tenantId, crl, reads, lagging: [] as string[] };
        }
        for (let fresh = 0; fresh < attempts; fresh++) {
          if (fresh > 0) await this.ports.clock.sleep(this.settings.crlReadDelayMs ?? 100);
          crl = this.newest(await this.freshCrl(tenantId));
          reads++;
          if (disagreeing(crl).length === 0) return { tenantId, crl, reads, lagging: [] as string[] };
        }
        return { tenantId, crl: crl!, reads, lagging: disagreeing(crl!) };
      }),
    );
    const crls: TenantCrl[] = [];
    const behind: Array<{ tenantId: string; serialNumbers: string[] }> = [];
    let reads = 0;
    let failure: unknown = null;
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        failure ??= outcome.reason;
        continue;
      }
      reads += outcome.value.reads;
      if (outcome.value.crl !== this.installed.get(outcome.value.tenantId)) crls.push(outcome.value.crl);
      if (outcome.value.lagging.length > 0) behind.push({ tenantId: outcome.value.tenantId, serialNumbers: outcome.value.lagging });
    }
    return { crls, behind, reads, failure };
  }

  private async installAll(why: string): Promise<void> {
    const results = await Promise.allSettled(this.settings.tenantIds.map((tenantId) => this.ports.crls.currentCrl(tenantId)));
    const failures = results.flatMap((result, i) => (result.status === 'rejected' ? [`${this.settings.tenantIds[i]}: ${(result.reason as Error).message}`] : []));
    if (failures.length > 0) throw new Error(`cannot install the CRLs: ${failures.join('; ')}`);
    await this.install(
      results.map((result) => (result as PromiseFulfilledResult<TenantCrl>).value),
      why,
    );
  }

  private scheduleRefresh(): void {
    this.cancelRefresh = this.ports.clock.schedule(this.settings.crlRefreshMs, () => {
      if (this.closed) return;
      this.refresh()
        .catch((error: unknown) => this.ports.log.error('CRL refresh failed', { error: (error as Error).message }))
        .finally(() => {
          if (!this.closed) this.scheduleRefresh();
        });
    });
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
    const commit = (): void => {
      for (const [tenantId, crl] of next) this.installed.set(tenantId, crl);
      this.lastBundle = bundle;
    };
    if (bundle === this.lastBundle) return commit();
    const digest = createHash('sha256').update(bundle).digest('hex');
    const summary = (): Record<string, unknown> => ({ why, tenants: next.size, revokedSerials: [...next.values()].reduce((n, crl) => n + crl.revokedSerials.size, 0) });

    let write = true;
    if (this.lastBundle === null && (await this.ports.crlFile.read()) === bundle) {
      // A restart: the file already holds this bundle. Mosquitto has read it if the agent before this one signalled
      // it to (the note), or if no Mosquitto runs yet (it reads the file when it starts). Otherwise that agent may
      // have died between the write and the signal, and only the signal is missing.
      write = false;
      const [note, pid] = await Promise.all([this.ports.crlFile.lastReload(), this.ports.reloader.runningPid()]);
      if (pid === null || note?.sha256 === digest) {
        commit();
        this.ports.log.info('crlfile already current; nothing written, no reload', { ...summary(), because: pid === null ? 'no Mosquitto running (it reads the file when it starts)' : 'Mosquitto was signalled to read it' });
        return;
      }
    }
    const started = performance.now();
    if (write) await this.ports.crlFile.install(bundle);
    commit();
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
    const pid = await this.ports.reloader.reload();
    if (pid !== null) {
      // Before the admin connection exists (start-up) nothing else was asked of the broker.
      const settled = this.control ? this.control.settled().catch(() => undefined) : Promise.resolve();
      this.reloadSettled = settled;
      this.reloadSettling = true;
      void settled.then(() => {
        if (this.reloadSettled === settled) this.reloadSettling = false;
      });
      // Only a restarted agent reads the note, so it is written in the background, one after another.
      this.reloadNotes = this.reloadNotes
        .then(() => this.ports.crlFile.recordReload({ sha256: digest, pid }))
        .catch((error: unknown) => this.ports.log.warn('cannot note the reload beside the crlfile (a restarted agent will reload once more)', { error: (error as Error).message }));
    }
    const fields = { ...summary(), written: write, writeMs: round(written - started), signalMs: round(performance.now() - written) };
    if (pid !== null) this.ports.log.info('CRLs installed, Mosquitto reloading', fields);
    else this.ports.log.warn('CRLs installed, but no running Mosquitto to reload (it reads them when it starts)', fields);
  }

  /**
   * The tenant's current CRL from a request that starts after this call, so
   * it cannot predate the states being enforced. At most one request per
   * tenant is in flight; callers arriving meanwhile share the one that starts
   * when it ends. Idle, that costs nothing; in a burst, a handful of CRL
   * requests serve a hundred devices.
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
        (crl) => {
          const latest = this.latestFetched.get(tenantId);
          if (!latest || !isOlderThan(crl, latest)) this.latestFetched.set(tenantId, crl);
          this.settleFetch(tenantId, current, fetch);
        },
        () => this.settleFetch(tenantId, current, fetch),
      );
      return fetch;
    };
    if (!current.inFlight) return start();
    current.next ??= current.inFlight
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        current.next = null;
        return start();
      });
    return current.next;
  }

  /** Starts a CRL request for the tenant unless one is under way; its answer waits in latestFetched. */
  private fetchAhead(tenantId: string): void {
    if (this.closed || this.crlFetches.get(tenantId)?.inFlight) return;
    this.freshCrl(tenantId).catch(() => undefined); // a failure is met again, and reported, by the next call that needs the CRL
  }

  /** The tenant's CRL request under way, if any (whenever it started); a failed one counts as none. */
  private crlInFlight(tenantId: string): Promise<TenantCrl> | null {
    const inFlight = this.crlFetches.get(tenantId)?.inFlight;
    return inFlight ? inFlight.catch(() => this.freshCrl(tenantId)) : null;
  }

  private settleFetch(tenantId: string, slot: CrlFetchSlot, fetch: Promise<TenantCrl>): void {
    if (slot.inFlight === fetch) slot.inFlight = null;
    if (!slot.inFlight && !slot.next) this.crlFetches.delete(tenantId);
  }

  /** The newer of a fetched CRL and the one installed for its tenant. */
  private newest(fetched: TenantCrl): TenantCrl {
    const installed = this.installed.get(fetched.tenantId);
    return installed && isOlderThan(fetched, installed) ? installed : fetched;
  }

  private revokedSerialCount(): number {
    return [...this.installed.values()].reduce((n, crl) => n + crl.revokedSerials.size, 0);
  }

  /** The admin connection, or a typed error when the adapter is not (or no longer) running. */
  private running(what: string): BrokerControl {
    if (this.closed) throw new AdapterNotRunningError(what, 'closed');
    if (!this.control) throw new AdapterNotRunningError(what, 'not started');
    return this.control;
  }
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function sample(usernames: readonly string[]): { usernames: string[]; more?: number } {
  return usernames.length > LOGGED_USERNAMES ? { usernames: usernames.slice(0, LOGGED_USERNAMES), more: usernames.length - LOGGED_USERNAMES } : { usernames: [...usernames] };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
