/**
 * BrokerAgent: the life cycle every broker agent shares, around one
 * BrokerAdapter.
 *   1. start the adapter (retrying until the broker answers);
 *   2. reconcile: read every certificate of the served tenants from ccm and
 *      enforce each device's verdict (DeviceIndex) through the adapter, then
 *      end any live session of a device that must be out. Adapters are
 *      idempotent, so a restart against a broker already right changes
 *      nothing; an agent that was down while devices were suspended catches
 *      up here;
 *   3. consume events (the subscriber's BullMQ queue, or the HTTP feed):
 *      each one is a hint to read that certificate's current state from ccm;
 *      one certificate's events one at a time; their broker calls batched
 *      (Enforcement). A handler returns once the broker call is done, so the
 *      queue keeps an event until it is enforced;
 *   4. every few seconds, discover certificates issued since (so brokers
 *      that admit only known identities let new devices in); every few
 *      minutes, and when the broker or the event source comes back after an
 *      outage, reconcile again;
 *   5. serve /healthz, /readyz and /metrics.
 */
import { CcmEventConsumer, FileCursorStore, HttpEventFeedConsumer, type CcmEvent, type CcmEventDelivery } from '@ccm/event-consumer';
import { AgentClock, SystemAgentClock } from './agent-clock.js';
import type { AgentLog } from './agent-log.js';
import { AgentMetrics } from './agent-metrics.js';
import { BrokerRefusedAgentError, type BrokerAdapter, type CertificateStatus } from './broker-port.js';
import { CcmApi } from './ccm-api.js';
import { CcmCertificateDirectory, CertificateDirectory } from './ccm-directory.js';
import type { AgentConfiguration } from './configuration.js';
import { DeviceIndex, verdictOf } from './device-index.js';
import { Enforcement } from './enforcement.js';
import { HealthServer } from './health-server.js';

/** BullMQ workers (Redis connections) the event concurrency is shared among: one takes a burst off the queue one round trip at a time. */
const EVENT_WORKERS = 4;
/** How often the broker is checked (for /readyz, and to reconcile once it is back). */
const BROKER_CHECK_MS = 5000;
/** A certificate becomes visible in ccm's list a little after its id was made (the signature comes between): discovery looks back this far. */
const DISCOVERY_LOOKBACK_MS = 60_000;
/** After trouble with the event source, reconcile this long after the last error (the events of the outage may be gone from a feed). */
const RECONCILE_AFTER_TROUBLE_MS = 5000;

export interface BrokerAgentDependencies {
  readonly log: AgentLog;
  readonly clock?: AgentClock;
  readonly ccm?: CcmApi;
  readonly directory?: CertificateDirectory;
  readonly metrics?: AgentMetrics;
}

type EventSource = { close(): Promise<void> };

export class BrokerAgent {
  readonly metrics: AgentMetrics;
  private readonly clock: AgentClock;
  private readonly log: AgentLog;
  private readonly directory: CertificateDirectory;
  private readonly index: DeviceIndex;
  private readonly enforcement: Enforcement;
  private readonly tenants: ReadonlySet<string>;
  private readonly perCertificate = new Map<string, Promise<void>>();
  /** Per certificate, the outbox position of the newest event handled that had one. */
  private readonly newestPosition = new Map<string, bigint>();
  private readonly timers: NodeJS.Timeout[] = [];
  private events: EventSource | null = null;
  private health: HealthServer | null = null;
  private reconciling: Promise<void> | null = null;
  private reconcileAgain = false;
  private reconciledOnce = false;
  private lastReconcileError: string | null = null;
  private brokerProblem: string | null = null;
  private eventSourceProblem: string | null = null;
  private troubleTimer: NodeJS.Timeout | null = null;
  private discovering = false;
  private stopped = false;

  constructor(
    private readonly configuration: AgentConfiguration,
    private readonly adapter: BrokerAdapter,
    dependencies: BrokerAgentDependencies,
  ) {
    this.log = dependencies.log;
    this.clock = dependencies.clock ?? new SystemAgentClock();
    this.metrics = dependencies.metrics ?? new AgentMetrics(adapter.broker);
    const ccm =
      dependencies.ccm ??
      new CcmApi({
        baseUrl: configuration.ccm.url,
        authorization: configuration.ccm.authorization,
        timeoutMs: configuration.ccm.timeoutMs,
        onResponse: (path, status, ms) => {
          this.metrics.ccmRequest(status !== null && status < 500);
          this.log.debug('ccm request', { path: path.replace(/\?.*$/, ''), status, ms: Math.round(ms * 10) / 10 });
        },
      });
    this.directory = dependencies.directory ?? new CcmCertificateDirectory(ccm);
    this.index = new DeviceIndex((certificate) => adapter.identityOf(certificate));
    this.enforcement = new Enforcement(adapter, this.index, this.clock, this.log, this.metrics, { retryDelaysMs: configuration.brokerRetryDelaysMs });
    this.tenants = new Set(configuration.tenantIds);
  }

  /** Starts everything; resolves once the first reconciliation is done and events are being consumed. */
  async start(): Promise<void> {
    if (this.configuration.health) {
      this.health = await HealthServer.listen(this.configuration.health.host, this.configuration.health.port, { notReady: () => this.notReady() }, this.metrics.registry);
    }
    await this.untilDone(`start the ${this.adapter.broker} adapter`, () => this.adapter.start());
    await this.untilDone('reconcile with ccm', () => this.reconcile());
    this.events = await this.startEvents();
    this.every(this.configuration.discoveryMs, () => this.discover());
    this.every(this.configuration.reconcileMs, () => this.reconcile());
    this.every(BROKER_CHECK_MS, () => this.checkBroker());
    this.log.info(`${this.adapter.broker} agent running`, {
      tenants: this.configuration.tenantIds.length,
      events: this.configuration.events.kind,
      certificates: this.index.size,
      health: this.health ? `${this.configuration.health!.host}:${this.health.port}` : 'off',
    });
  }

  /** The health endpoint's port (0 in the configuration picks one). */
  get healthPort(): number | null {
    return this.health?.port ?? null;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    if (this.troubleTimer) clearTimeout(this.troubleTimer);
    await this.events?.close();
    this.enforcement.close();
    await this.adapter.close().catch((error: unknown) => this.log.warn('closing the broker adapter failed', { error: (error as Error).message }));
    await this.health?.close();
    this.log.info(`${this.adapter.broker} agent stopped`);
  }

  /**
   * Reads every certificate of the served tenants and enforces every
   * device's verdict. Concurrent calls share the run under way, and one
   * more run follows if asked for meanwhile.
   */
  reconcile(): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    const run = (async () => {
      try {
        do {
          this.reconcileAgain = false;
          await this.reconcileOnce();
        } while (this.reconcileAgain && !this.stopped);
      } finally {
        this.reconciling = null;
      }
    })();
    this.reconciling = run;
    return run;
  }

  /** Acts on one event (with its feed position, when it came from the feed); throws when it must be retried. */
  async handle(event: CcmEvent, position?: string): Promise<void> {
    if (!this.tenants.has(event.tenantId)) {
      this.metrics.event(event.type, 'ignored');
      this.log.debug('event for a tenant this broker does not serve', { eventId: event.id, tenantId: event.tenantId });
      return;
    }
    try {
      const outcome = await this.enforceEvent(event, position === undefined ? null : BigInt(position));
      this.metrics.event(event.type, outcome);
    } catch (error) {
      this.metrics.event(event.type, 'failed');
      throw error;
    }
  }

  private async enforceEvent(event: CcmEvent, position: bigint | null): Promise<'enforced' | 'ignored'> {
    switch (event.type) {
      // First use changes no verdict (inactive and active are both in force).
      case 'certificate.activated':
        return 'ignored';
      // A new root of the tenant: the certificates of the one it replaced stay in force, so no verdict changes. The
      // broker's CA file must hold the new root before devices present certificates of it (README, "Root rollover").
      // Trust material of the tenant's roots (Mosquitto's CRLs) must take the new root in before its devices connect:
      // at publication when the rollover is staged (no device holds a certificate of it yet), else at the rollover.
      case 'authority.published':
      case 'authority.rolled-over':
        await this.adapter.trustChanged(event.tenantId);
        return 'enforced';
      // Every certificate of a retired root has expired: the broker refuses them at the handshake already; the index
      // marks them out all the same, so that no verdict of the agent's says otherwise.
      case 'authority.retired': {
        await this.adapter.trustChanged(event.tenantId);
        const affected = this.index.revokeAuthority(event.authorityId);
        if (affected.length > 0) await this.enforceAndLog(affected, event, this.enforcement.enforce(affected));
        return 'enforced';
      }
      case 'certificate.suspended':
      case 'certificate.revoked':
      case 'certificate.reactivated':
        return this.serialised(event.certificateId!, async () => {
          const newest = this.newestPosition.get(event.certificateId!);
          const inOrder = position !== null && (newest === undefined || position > newest);
          if (position !== null && inOrder) this.newestPosition.set(event.certificateId!, position);
          // With its outbox position (feed and queue), a keep-out of a certificate the index knows, newer than any of
          // its events handled so far, is its state as of that position; anything newer comes later. It needs no read from ccm,
          // which in a burst is one request per event against a ccm busy answering the burst. Letting in, an
          // unknown certificate and an event older than one already handled (a retry) still read the state.
          const known = this.index.known(event.certificateId!);
          if (inOrder && known && event.type !== 'certificate.reactivated' && known.authorityId === event.authorityId) {
            const identities = this.index.upsert({ ...known, state: event.state as CertificateStatus['state'] });
            await this.enforceAndLog(identities, event, this.enforcement.enforce(identities));
            return 'enforced';
          }
          const reading = this.directory.certificate(event.tenantId, event.certificateId!);
          // Keeping out does not wait for ccm's answer: under a burst that read is the slowest step (p99 0.4 s
          // measured), and keeping out on an event that turns out stale errs on the safe side for as long as the
          // read takes. Letting in always waits for the current state.
          const provisional = event.type === 'certificate.reactivated' ? null : this.fromEvent(event);
          const keptOut = provisional && this.index.known(provisional.id)?.state !== provisional.state ? this.enforcement.enforce(this.index.upsert(provisional)) : null;
          keptOut?.catch(() => undefined);
          const status = await reading;
          const current = status ?? this.fromEvent(event);
          if (!current) return 'ignored';
          const identityBefore = this.index.identityOfCertificate(current.id);
          const identities = this.index.upsert(current);
          // ccm confirmed what the event said, for the same identity: the keep-out under way is the enforcement.
          const confirmed = keptOut !== null && current.state === provisional!.state && identities.length === 1 && identities[0] === identityBefore;
          await this.enforceAndLog(identities, event, confirmed ? keptOut! : this.enforcement.enforce(identities));
          return 'enforced';
        });
      case 'authority.revoked': {
        // Trust first: a revoked root that leaves the tenant's CRLs (retired early beside an active root) is refused by
        // the broker for want of a CRL, and its devices then need the kick only, not a CRL that lists them.
        await this.adapter.trustChanged(event.tenantId);
        const affected = new Set(this.index.revokeAuthority(event.authorityId));
        for (const tenantId of [event.tenantId]) {
          for await (const page of this.directory.certificates(tenantId, { state: 'revoked' })) {
            for (const certificate of page) if (certificate.authorityId === event.authorityId) for (const identity of this.index.upsert(certificate)) affected.add(identity);
          }
        }
        await this.enforceAndLog(affected, event, this.enforcement.enforce(affected));
        return 'enforced';
      }
    }
  }

  /**
   * A certificate ccm no longer knows (404): the event is all there is. It
   * may keep a device out, never let one in.
   */
  private fromEvent(event: CcmEvent): CertificateStatus | null {
    if (event.state !== 'suspended' && event.state !== 'revoked') return null;
    const known = this.index.known(event.certificateId!);
    if (known) return { ...known, state: event.state };
    return {
      id: event.certificateId!,
      tenantId: event.tenantId,
      authorityId: event.authorityId,
      serialNumber: event.serialNumber,
      subject: `CN=${event.commonName.replace(/["+,;<>\\]/g, (character) => `\\${character}`)}`,
      commonName: event.commonName,
      state: event.state,
      notAfter: new Date(8.64e15),
    };
  }

  /** Waits for `enforced` (the enforcement of `identities`), then records and logs it. */
  private async enforceAndLog(identities: Iterable<string>, event: CcmEvent, enforced: Promise<void>): Promise<void> {
    const targets = [...new Set(identities)];
    const started = performance.now();
    await enforced;
    this.metrics.enforcedAfter((this.clock.now().getTime() - Date.parse(event.time)) / 1000);
    this.metrics.setCertificates(this.index.size);
    const verdicts = targets.map((identity) => this.enforcement.verdictApplied(identity));
    this.log.info('event enforced', {
      eventId: event.id,
      eventType: event.type,
      tenantId: event.tenantId,
      certificateId: event.certificateId,
      serialNumber: event.serialNumber,
      identities: targets.length === 1 ? targets[0] : targets.length,
      verdict: verdicts.length === 1 ? verdicts[0] : undefined,
      enforceMs: Math.round((performance.now() - started) * 10) / 10,
      eventLagMs: this.clock.now().getTime() - Date.parse(event.time),
    });
  }

  private async reconcileOnce(): Promise<void> {
    const started = performance.now();
    this.index.beginSnapshot();
    let identities: string[] = [];
    try {
      for (const tenantId of this.configuration.tenantIds) {
        const snapshot: CertificateStatus[] = [];
        for await (const page of this.directory.certificates(tenantId)) snapshot.push(...page);
        identities.push(...this.index.applySnapshot(tenantId, snapshot));
      }
    } catch (error) {
      this.failedReconciliation(error);
      throw error;
    } finally {
      this.index.endSnapshot();
    }
    identities = [...new Set(identities)];
    const read = performance.now();
    try {
      await this.enforcement.enforce(identities);
      const outOfPlace = await this.sessionsThatMustEnd();
      if (outOfPlace.length > 0) {
        this.metrics.sessionOutOfPlace(outOfPlace.length);
        this.log.warn('live sessions of devices that must be out; ending them', { devices: outOfPlace.length });
        await this.enforcement.enforce(outOfPlace);
      }
    } catch (error) {
      this.failedReconciliation(error);
      throw error;
    }
    this.reconciledOnce = true;
    this.lastReconcileError = null;
    this.metrics.reconciliation(true, this.clock.now());
    this.metrics.setCertificates(this.index.size);
    const counts = this.enforcement.counts();
    this.log.info('reconciled with ccm', { certificates: this.index.size, devices: identities.length, letIn: counts['let-in'], shutOut: counts['shut-out'], ended: counts.ended, readMs: Math.round(read - started), enforceMs: Math.round(performance.now() - read) });
  }

  /** Identities with a live session whose verdict keeps them out (a kick lost to a crash, a broker that restarted). */
  private async sessionsThatMustEnd(): Promise<string[]> {
    const live = await this.adapter.listSessions();
    if (!live) return [];
    const now = this.clock.now();
    const out: string[] = [];
    for (const identity of live) {
      const device = this.index.device(identity);
      if (device && verdictOf(device.certificates, now) !== 'let-in') out.push(identity);
    }
    return out;
  }

  private failedReconciliation(error: unknown): void {
    this.lastReconcileError = (error as Error)?.message ?? String(error);
    this.metrics.reconciliation(false, this.clock.now());
  }

  /** New certificates since the newest one known: let their devices in (brokers that admit only known identities need it). */
  private async discover(): Promise<void> {
    if (this.discovering || this.reconciling) return;
    this.discovering = true;
    try {
      const affected: string[] = [];
      for (const tenantId of this.configuration.tenantIds) {
        const newest = this.index.newestId(tenantId);
        const afterId = newest ? uuidv7Floor(uuidv7Time(newest) - DISCOVERY_LOOKBACK_MS) : undefined;
        for await (const page of this.directory.certificates(tenantId, afterId ? { afterId } : {})) {
          for (const certificate of page) if (!this.index.has(certificate.id)) affected.push(...this.index.upsert(certificate));
        }
      }
      if (affected.length > 0) {
        await this.enforcement.enforce(affected);
        this.metrics.setCertificates(this.index.size);
        this.log.info('new certificates discovered', { devices: new Set(affected).size });
      }
    } finally {
      this.discovering = false;
    }
  }

  private async checkBroker(): Promise<void> {
    try {
      await this.adapter.check();
      if (this.brokerProblem !== null) {
        this.log.info(`${this.adapter.broker} answers again; reconciling`, { was: this.brokerProblem });
        this.brokerProblem = null;
        await this.reconcile();
      }
    } catch (error) {
      if (this.brokerProblem === null) this.log.warn(`${this.adapter.broker} does not answer`, { error: (error as Error).message });
      this.brokerProblem = (error as Error).message;
    }
  }

  private eventSourceTrouble(error: Error): void {
    this.eventSourceProblem = error.message;
    if (this.troubleTimer) clearTimeout(this.troubleTimer);
    this.troubleTimer = setTimeout(() => {
      this.troubleTimer = null;
      this.eventSourceProblem = null;
      this.reconcile().catch((failure: unknown) => this.log.warn('reconciliation after an event source outage failed', { error: (failure as Error).message }));
    }, RECONCILE_AFTER_TROUBLE_MS);
    this.troubleTimer.unref();
  }

  private notReady(): string[] {
    const reasons: string[] = [];
    if (!this.reconciledOnce) reasons.push(this.lastReconcileError ? `not reconciled yet: ${this.lastReconcileError}` : 'not reconciled yet');
    else if (this.lastReconcileError) reasons.push(`last reconciliation failed: ${this.lastReconcileError}`);
    if (this.brokerProblem) reasons.push(`${this.adapter.broker}: ${this.brokerProblem}`);
    if (this.eventSourceProblem) reasons.push(`event source: ${this.eventSourceProblem}`);
    return reasons;
  }

  private async startEvents(): Promise<EventSource> {
    const handler = async (event: CcmEvent, delivery: CcmEventDelivery): Promise<void> => {
      // Where delivery time went: the relay and the queue (BullMQ), or the feed read (commit → page received).
      if (delivery.queuedAt) {
        const queuedAt = delivery.queuedAt.getTime();
        this.log.debug('event delivered', { eventId: event.id, attempt: delivery.attempt, relayLagMs: queuedAt - Date.parse(event.time), queueWaitMs: Date.now() - queuedAt });
      } else {
        this.log.debug('event delivered', { eventId: event.id, attempt: delivery.attempt, feedLagMs: Date.now() - Date.parse(event.time) });
      }
      await this.handle(event, delivery.position);
    };
    const source = this.configuration.events;
    if (source.kind === 'redis') {
      const consumer = new CcmEventConsumer({
        redis: source.redisUrl,
        subscriberId: source.subscriberId,
        handler,
        concurrency: this.configuration.eventConcurrency,
        workers: Math.min(EVENT_WORKERS, this.configuration.eventConcurrency),
        // handle() is order-independent (one certificate's events serialised, outbox positions): a burst is in hand
        // within a read or two instead of one BullMQ round trip per job.
        readAhead: source.readAhead,
        observer: {
          handlerFailed: (event, error, delivery, willRetry) =>
            (willRetry ? this.log.warn : this.log.error).call(this.log, willRetry ? 'event handling failed; BullMQ will retry it' : 'event handling failed for good; it stays in the failed set (the next reconciliation enforces the state anyway)', {
              eventId: event.id,
              eventType: event.type,
              attempt: delivery.attempt,
              error: error.message,
            }),
          rejected: (jobId, error) => {
            this.metrics.eventRejected();
            this.log.error('not a ccm event this agent understands; failed without retry', { jobId, error: error.message });
          },
          readAhead: (started, ms) => {
            if (started > 0) this.log.debug('events read ahead of the queue', { events: started, readMs: Math.round(ms * 10) / 10 });
          },
          connectionError: (error) => {
            this.log.warn('Redis connection trouble', { error: error.message });
            this.eventSourceTrouble(error);
          },
        },
      });
      await consumer.start();
      return consumer;
    }
    const tenantIds = this.configuration.tenantIds;
    const feed = new HttpEventFeedConsumer({
      baseUrl: this.configuration.ccm.url,
      handler,
      cursorStore: new FileCursorStore(source.cursorFile),
      // One tenant: let ccm filter. Several: read the whole feed; handle() ignores other tenants.
      ...(tenantIds.length === 1 ? { tenantId: tenantIds[0]! } : {}),
      waitMs: source.waitMs,
      pollIntervalMs: source.pollIntervalMs,
      concurrency: this.configuration.eventConcurrency,
      requestTimeoutMs: this.configuration.ccm.timeoutMs,
      ...(this.configuration.ccm.authorization ? { headers: { authorization: this.configuration.ccm.authorization } } : {}),
      observer: {
        handlerFailed: (event, error, attempt, retryInMs) => this.log.warn('event handling failed; retrying it before any later event', { eventId: event.id, eventType: event.type, attempt, retryInMs, error: error.message }),
        rejected: (position, error) => {
          this.metrics.eventRejected();
          this.log.error('skipping a feed item that is not a ccm event this agent understands', { position, error: error.message });
        },
        pollFailed: (error) => {
          this.log.warn('reading the event feed failed', { error: error.message });
          this.eventSourceTrouble(error);
        },
      },
    });
    await feed.start();
    return feed;
  }

  private every(ms: number, task: () => Promise<void>): void {
    const timer = setInterval(() => {
      if (this.stopped) return;
      task().catch((error: unknown) => this.log.warn('periodic task failed', { task: task.name || 'task', error: (error as Error).message }));
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Retries with backoff (1 s doubling to 30 s) until it works or the agent stops; a refusal retrying cannot fix is thrown. */
  private async untilDone(what: string, action: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await action();
      } catch (error) {
        if (this.stopped || error instanceof BrokerRefusedAgentError) throw error;
        const wait = Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5));
        this.log.warn(`cannot ${what} yet; retrying`, { attempt, retryInMs: wait, error: (error as Error).message });
        await this.clock.sleep(wait);
      }
    }
  }

  /** Runs `task` after every earlier task of the same key: one certificate's events never interleave. */
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
}

/** The time (ms since epoch) a uuidv7 was made at. */
function uuidv7Time(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

/** The smallest uuidv7 of that millisecond: a cursor that lists every certificate made since. */
function uuidv7Floor(ms: number): string {
  const hex = Math.max(0, ms).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}
