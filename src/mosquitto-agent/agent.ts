/**
 * MosquittoAgent: builds the adapters from the configuration and runs the
 * agent's life cycle around the RevocationEnforcer:
 *   1. install every tenant's CRL (retrying until ccm answers; Mosquitto
 *      cannot start without the crlfile, and keeps the old one meanwhile),
 *   2. connect to Mosquitto's admin listener as the dynsec admin,
 *   3. refresh the CRLs on a timer, well before their nextUpdate,
 *   4. consume events: the subscriber's BullMQ queue when Redis is
 *      configured, otherwise ccm's HTTP feed with a cursor file.
 * close() stops in the reverse order.
 */
import { CcmEventConsumer, type CcmEventDelivery } from '../consumer/ccm-event-consumer.js';
import { FileCursorStore, HttpEventFeedConsumer } from '../consumer/http-event-feed.js';
import type { CcmEvent } from '../events/certificate-event.js';
import { CcmApi, CcmCertificateDirectory, CcmCrlSource } from './ccm-http.js';
import type { AgentConfiguration } from './configuration.js';
import { AtomicCrlFile } from './crl-file.js';
import { DynsecBrokerControl } from './dynsec-control.js';
import { JsonLineLog } from './json-log.js';
import { AgentLog, BrokerControl, SystemAgentClock, type AgentClock } from './ports.js';
import { SighupReloader } from './process-signaller.js';
import { RevocationEnforcer } from './revocation-enforcer.js';

/** BullMQ workers (Redis connections) the event concurrency is shared among. */
const EVENT_WORKERS = 4;

export interface AgentDependencies {
  readonly log?: AgentLog;
  readonly clock?: AgentClock;
}

/** Fetches and installs the CRLs once (for `main.js --once`, before Mosquitto first starts). */
export async function installCrlsOnce(configuration: AgentConfiguration, dependencies: AgentDependencies = {}): Promise<void> {
  const log = dependencies.log ?? new JsonLineLog(configuration.logLevel);
  const enforcer = buildEnforcer(configuration, log, dependencies.clock ?? new SystemAgentClock(), new ConnectedLater());
  await enforcer.installAll();
}

export class MosquittoAgent {
  private refreshTimer: NodeJS.Timeout | null = null;
  private events: { close(): Promise<void> } | null = null;
  private stopped = false;

  private constructor(
    private readonly configuration: AgentConfiguration,
    private readonly log: AgentLog,
    private readonly enforcer: RevocationEnforcer,
    private readonly broker: DynsecBrokerControl,
  ) {}

  static async start(configuration: AgentConfiguration, dependencies: AgentDependencies = {}): Promise<MosquittoAgent> {
    const log = dependencies.log ?? new JsonLineLog(configuration.logLevel);
    const clock = dependencies.clock ?? new SystemAgentClock();

    // 1. CRLs first: they decide who may connect, and Mosquitto may be waiting for the file.
    const broker = new ConnectedLater();
    const enforcer = buildEnforcer(configuration, log, clock, broker);
    await retryUntilDone('install the CRLs', log, clock, () => enforcer.installAll());

    // 2. The admin connection.
    const control = await retryUntilDone('connect to Mosquitto as the dynamic-security admin', log, clock, () =>
      DynsecBrokerControl.connect({
        url: configuration.mqtt.url,
        username: configuration.mqtt.username,
        password: configuration.mqtt.password,
        timeoutMs: configuration.mqtt.controlTimeoutMs,
        onConnectionError: (error) => log.warn('Mosquitto admin connection trouble', { error: error.message }),
      }),
    );
    broker.target = control;
    const agent = new MosquittoAgent(configuration, log, enforcer, control);

    // 3. Keep the CRLs fresh.
    agent.refreshTimer = setInterval(() => {
      enforcer.refresh().catch((error: unknown) => log.error('CRL refresh failed', { error: (error as Error).message }));
    }, configuration.crlRefreshMs);
    agent.refreshTimer.unref();

    // 4. Events.
    try {
      agent.events = await agent.startEvents();
    } catch (error) {
      await agent.close();
      throw error;
    }
    log.info('mosquitto agent running', {
      tenants: configuration.tenantIds.length,
      events: configuration.events.kind,
      crlFile: configuration.crlFile,
      crlRefreshSeconds: configuration.crlRefreshMs / 1000,
    });
    return agent;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    await this.events?.close();
    this.enforcer.close();
    await this.broker.close();
    this.log.info('mosquitto agent stopped');
  }

  private async startEvents(): Promise<{ close(): Promise<void> }> {
    const handler = async (event: CcmEvent, delivery: CcmEventDelivery): Promise<void> => {
      if (delivery.queuedAt) {
        const queuedAt = delivery.queuedAt.getTime();
        this.log.debug('event delivered', { eventId: event.id, attempt: delivery.attempt, relayLagMs: queuedAt - Date.parse(event.time), queueWaitMs: Date.now() - queuedAt });
      }
      await this.enforcer.handle(event);
    };
    const source = this.configuration.events;
    if (source.kind === 'redis') {
      const consumer = new CcmEventConsumer({
        redis: source.redisUrl,
        subscriberId: source.subscriberId,
        handler,
        concurrency: this.configuration.eventConcurrency,
        // One BullMQ worker takes a burst off the queue one round trip at a time (measured: the last of 20 events
        // queued together waited up to 0.3 s for it); a few take it that many at a time.
        workers: Math.min(EVENT_WORKERS, this.configuration.eventConcurrency),
        observer: {
          handlerFailed: (event, error, delivery, willRetry) =>
            (willRetry ? this.log.warn : this.log.error).call(this.log, willRetry ? 'event handling failed; BullMQ will retry it' : 'event handling failed for good; it stays in the failed set', {
              eventId: event.id,
              eventType: event.type,
              attempt: delivery.attempt,
              error: error.message,
            }),
          rejected: (jobId, error) => this.log.error('not a ccm event this agent understands; failed without retry', { jobId, error: error.message }),
          connectionError: (error) => this.log.warn('Redis connection trouble', { error: error.message }),
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
      // One tenant: let ccm filter. Several: read the whole feed; the enforcer ignores other tenants.
      ...(tenantIds.length === 1 ? { tenantId: tenantIds[0]! } : {}),
      pollIntervalMs: source.pollIntervalMs,
      concurrency: this.configuration.eventConcurrency,
      requestTimeoutMs: this.configuration.ccm.timeoutMs,
      ...(this.configuration.ccm.authorization ? { headers: { authorization: this.configuration.ccm.authorization } } : {}),
      observer: {
        handlerFailed: (event, error, attempt, retryInMs) => this.log.warn('event handling failed; retrying it before any later event', { eventId: event.id, eventType: event.type, attempt, retryInMs, error: error.message }),
        rejected: (position, error) => this.log.error('skipping a feed item that is not a ccm event this agent understands', { position, error: error.message }),
        pollFailed: (error) => this.log.warn('reading the event feed failed', { error: error.message }),
      },
    });
    await feed.start();
    return feed;
  }
}

/** The broker port before the admin connection exists: the enforcer is built (and installs CRLs) first. */
class ConnectedLater extends BrokerControl {
  target: BrokerControl | null = null;
  disableClients(usernames: readonly string[]): Promise<void> {
    return this.connected().disableClients(usernames);
  }
  enableClients(usernames: readonly string[]): Promise<void> {
    return this.connected().enableClients(usernames);
  }
  settled(): Promise<void> {
    // Before the admin connection (the start-up install) nothing else was asked of the broker.
    return this.target ? this.target.settled() : Promise.resolve();
  }
  private connected(): BrokerControl {
    if (!this.target) throw new Error('not connected to Mosquitto yet');
    return this.target;
  }
}

function buildEnforcer(configuration: AgentConfiguration, log: AgentLog, clock: AgentClock, broker: BrokerControl): RevocationEnforcer {
  const api = new CcmApi({
    baseUrl: configuration.ccm.url,
    authorization: configuration.ccm.authorization,
    timeoutMs: configuration.ccm.timeoutMs,
    onResponse: (path, status, ms) => log.debug('ccm request', { path: path.replace(/\?.*$/, ''), status, ms: Math.round(ms * 10) / 10 }),
  });
  return new RevocationEnforcer(
    {
      crls: new CcmCrlSource(api),
      directory: new CcmCertificateDirectory(api),
      crlFile: new AtomicCrlFile(configuration.crlFile),
      reloader: new SighupReloader(configuration.mosquittoPid),
      broker,
      clock,
      log,
    },
    {
      tenantIds: configuration.tenantIds,
      rekickDelaysMs: configuration.rekickDelaysMs,
      crlMinimumValidityMs: configuration.crlMinimumValidityMs,
    },
  );
}

/** Retries with backoff (1 s doubling to 30 s) until it works; errors that retrying cannot fix (bad credentials) are thrown. */
async function retryUntilDone<T>(what: string, log: AgentLog, clock: AgentClock, action: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 4 || code === 5 || code === 134 || code === 135) throw new Error(`${what}: refused (${(error as Error).message})`);
      const wait = Math.min(30_000, 1000 * 2 ** Math.min(attempt - 1, 5));
      log.warn(`cannot ${what} yet; retrying`, { attempt, retryInMs: wait, error: (error as Error).message });
      await clock.sleep(wait);
    }
  }
}
