/**
 * The metrics ports on prom-client: one Registry per application instance
 * (never prom-client's global one), so two ccm instances in one process (the
 * tests, a replica pair) count apart. Owns the metric names, HELP texts,
 * label sets and buckets; README's "Metrics" table lists the same.
 *
 * Per call cost: counters and histograms are cells (cell-metrics.ts), found
 * without allocating (nested maps keyed by the label values, filled on first
 * use; label sets known up front made at construction, so their series are
 * there at 0 from the start).
 */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { Logger } from '@nestjs/common';
import { KEY_ALGORITHMS } from '../codec/key-algorithm.js';
import type { Clock } from '../shared/clock.js';
import type { LifeCycleState } from '../shared/life-cycle-state.js';
import { CellCounter, CellHistogram, type CounterCell, type HistogramCell } from './cell-metrics.js';
import type { OutboxBacklog, OutboxBacklogReading } from './outbox-backlog.js';
import type {
  AuthenticationDecision,
  AuthenticationMetrics,
  CertificateTransitionMetrics,
  CrlFormat,
  CustodyMetrics,
  EventMetrics,
  HttpRequestMetrics,
  IssuanceMethod,
  IssuanceMetrics,
  OcspOutcome,
  RevocationMetrics,
  TransitionOrigin,
} from './metrics.js';

/** Issuance takes a few milliseconds with local custody, tens with Vault under load; seconds only when something is wrong. */
const ISSUANCE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Authentication is a database round trip and a signature check: well under a millisecond to a few. */
const AUTHENTICATION_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const SIGN_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];
/** Powers of two up to CCM_VAULT_SIGN_BATCH_SIZE's default of 64 and beyond. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** A scrape never waits longer than this for the outbox reading. */
const BACKLOG_TIMEOUT_MS = 1000;

export interface PrometheusMetricsOptions {
  readonly backlog: OutboxBacklog;
  readonly clock: Clock;
  /** Process metrics (CPU, memory, event loop, GC) of prom-client, gathered only when something will scrape them. */
  readonly processMetrics: boolean;
}

export class PrometheusMetrics implements IssuanceMetrics, AuthenticationMetrics, CertificateTransitionMetrics, EventMetrics, CustodyMetrics, RevocationMetrics, HttpRequestMetrics {
  readonly registry = new Registry();
  private readonly logger = new Logger('Metrics');

  // Tenant is a label of the counter only: a counter is one series per tenant, algorithm and method, while a
  // histogram would be ~15 (its buckets, sum and count) for each, and an installation may have thousands of
  // tenants. Latency by algorithm (a handful of values) is what tells a slow custody key type apart.
  private readonly issuedCounter = new CellCounter({
    name: 'ccm_certificates_issued_total',
    help: 'Client certificates issued, by tenant id, device key algorithm and method (csr, keygen, renew, est).',
    labelNames: ['tenant', 'algorithm', 'method'] as const,
    registers: [this.registry],
  });
  private readonly issuedByTenant = new Map<string, Map<string, Map<IssuanceMethod, CounterCell>>>();
  private readonly issuanceDuration = new CellHistogram({
    name: 'ccm_issuance_duration_seconds',
    help: 'Time to issue one client certificate (policy, record, signature), by device key algorithm; issued ones only.',
    labelNames: ['algorithm'] as const,
    buckets: ISSUANCE_BUCKETS,
    registers: [this.registry],
  });
  private readonly issuanceDurationByAlgorithm = new Map<string, HistogramCell>();
  private readonly issuanceFailures = new CellCounter({
    name: 'ccm_issuance_failures_total',
    help: 'Issuances that ended without a certificate, by reason: the problem type (malformed-csr, policy-violation, custody-unavailable, ...) or error.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly issuanceFailuresByReason = new Map<string, CounterCell>();

  private readonly authentications = new CellCounter({
    name: 'ccm_authentications_total',
    help: 'Device authentications decided, by decision: accepted, or the refusal (its problem type), invalid-request or error.',
    labelNames: ['decision'] as const,
    registers: [this.registry],
  });
  private readonly authenticationsByDecision = new Map<string, CounterCell>();
  private readonly authenticationDuration: HistogramCell;

  private readonly transitions = new CellCounter({
    name: 'ccm_certificate_transitions_total',
    help: 'Certificate state changes committed, by state before and after; from="any" counts the certificates a CA revocation revoked with it.',
    labelNames: ['from', 'to'] as const,
    registers: [this.registry],
  });
  private readonly transitionsByOrigin = new Map<string, Map<string, CounterCell>>();

  private readonly eventsPublished: CounterCell;

  private readonly signDuration = new CellHistogram({
    name: 'ccm_custody_sign_duration_seconds',
    help: 'Time a CA signature took as its caller waited for it (queueing for a Transit batch included), by custody and CA key algorithm.',
    labelNames: ['custody', 'algorithm'] as const,
    buckets: SIGN_BUCKETS,
    registers: [this.registry],
  });
  private readonly signDurationByCustody = new Map<string, Map<string, HistogramCell>>();
  private readonly signBatchSizes: HistogramCell;

  private readonly crlRequests = new CellCounter({
    name: 'ccm_crl_requests_total',
    help: 'CRLs served, by format (der, pem).',
    labelNames: ['format'] as const,
    registers: [this.registry],
  });
  private readonly crlsByFormat: Record<CrlFormat, CounterCell>;
  private readonly ocspResponses = new CellCounter({
    name: 'ccm_ocsp_responses_total',
    help: 'OCSP answers: per certificate status in a successful response (good, revoked, unknown), or per unsuccessful response by its status (malformed, unauthorized, try-later, internal-error).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  private readonly ocspByOutcome = new Map<OcspOutcome, CounterCell>();

  private readonly httpRequests = new CellCounter({
    name: 'ccm_http_requests_total',
    help: 'HTTP requests answered by the API, by route pattern (unmatched: no route), method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new CellHistogram({
    name: 'ccm_http_request_duration_seconds',
    help: 'Time from a request\'s arrival to its answer, by route pattern, method and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });
  private readonly httpByRoute = new Map<string, Map<string, Map<number, { readonly count: CounterCell; readonly duration: HistogramCell }>>>();

  private readonly pendingEvents: Gauge;
  private readonly oldestEventAge: Gauge;
  private backlogReading: Promise<OutboxBacklogReading | null> | null = null;
  private backlogFailing = false;

  constructor(private readonly options: PrometheusMetricsOptions) {
    // Series known up front exist from the start, at 0, so that rate() and absent() work before the first event.
    for (const algorithm of KEY_ALGORITHMS) this.issuanceDurationByAlgorithm.set(algorithm, this.issuanceDuration.cell(algorithm));
    this.authenticationsByDecision.set('accepted', this.authentications.cell('accepted'));
    this.authenticationDuration = new CellHistogram({
      name: 'ccm_authentication_duration_seconds',
      help: 'Time to decide one device authentication, whatever the decision.',
      buckets: AUTHENTICATION_BUCKETS,
      labelNames: [],
      registers: [this.registry],
    }).cell();
    this.eventsPublished = new CellCounter({
      name: 'ccm_events_published_total',
      help: 'Events put on subscriber queues (BullMQ) by the outbox relay; one event for three subscribers counts three.',
      labelNames: [],
      registers: [this.registry],
    }).cell();
    this.signBatchSizes = new CellHistogram({
      name: 'ccm_custody_sign_batch_size',
      help: 'Signatures per Vault Transit sign request (batch_input size; 1 for a signature sent alone).',
      buckets: BATCH_BUCKETS,
      labelNames: [],
      registers: [this.registry],
    }).cell();
    this.crlsByFormat = { der: this.crlRequests.cell('der'), pem: this.crlRequests.cell('pem') };
    for (const outcome of ['good', 'revoked', 'unknown'] as const) this.ocspByOutcome.set(outcome, this.ocspResponses.cell(outcome));

    // Collected at scrape time from one shared reading; in a cluster every worker reads the same database, so the
    // primary takes the largest reading instead of adding them up.
    this.pendingEvents = new Gauge({
      name: 'ccm_outbox_pending_events',
      help: 'Events in the outbox that some event subscriber has not had yet (NaN when the database did not answer in time).',
      aggregator: 'max',
      registers: [this.registry],
      collect: () => this.collectBacklog(),
    });
    this.oldestEventAge = new Gauge({
      name: 'ccm_outbox_oldest_event_age_seconds',
      help: 'Age of the oldest of those events; 0 when none is pending (NaN when the database did not answer in time).',
      aggregator: 'max',
      registers: [this.registry],
      collect: () => this.collectBacklog(),
    });

    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** The text exposition format of everything in the registry. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  issued(tenantId: string, algorithm: string, method: IssuanceMethod, seconds: number): void {
    let byAlgorithm = this.issuedByTenant.get(tenantId);
    if (!byAlgorithm) this.issuedByTenant.set(tenantId, (byAlgorithm = new Map()));
    let byMethod = byAlgorithm.get(algorithm);
    if (!byMethod) byAlgorithm.set(algorithm, (byMethod = new Map()));
    let counter = byMethod.get(method);
    if (!counter) byMethod.set(method, (counter = this.issuedCounter.cell(tenantId, algorithm, method)));
    counter.inc();
    let duration = this.issuanceDurationByAlgorithm.get(algorithm);
    if (!duration) this.issuanceDurationByAlgorithm.set(algorithm, (duration = this.issuanceDuration.cell(algorithm)));
    duration.observe(seconds);
  }

  failed(reason: string): void {
    let counter = this.issuanceFailuresByReason.get(reason);
    if (!counter) this.issuanceFailuresByReason.set(reason, (counter = this.issuanceFailures.cell(reason)));
    counter.inc();
  }

  decided(decision: AuthenticationDecision, seconds: number): void {
    let counter = this.authenticationsByDecision.get(decision);
    if (!counter) this.authenticationsByDecision.set(decision, (counter = this.authentications.cell(decision)));
    counter.inc();
    this.authenticationDuration.observe(seconds);
  }

  transitioned(from: TransitionOrigin, to: LifeCycleState, count: number): void {
    if (count <= 0) return;
    let byTarget = this.transitionsByOrigin.get(from);
    if (!byTarget) this.transitionsByOrigin.set(from, (byTarget = new Map()));
    let counter = byTarget.get(to);
    if (!counter) byTarget.set(to, (counter = this.transitions.cell(from, to)));
    counter.inc(count);
  }

  published(count: number): void {
    if (count > 0) this.eventsPublished.inc(count);
  }

  signed(custody: string, algorithm: string, seconds: number): void {
    let byAlgorithm = this.signDurationByCustody.get(custody);
    if (!byAlgorithm) this.signDurationByCustody.set(custody, (byAlgorithm = new Map()));
    let histogram = byAlgorithm.get(algorithm);
    if (!histogram) byAlgorithm.set(algorithm, (histogram = this.signDuration.cell(custody, algorithm)));
    histogram.observe(seconds);
  }

  signBatch(size: number): void {
    this.signBatchSizes.observe(size);
  }

  crlServed(format: CrlFormat): void {
    this.crlsByFormat[format].inc();
  }

  ocspAnswered(outcome: OcspOutcome): void {
    let counter = this.ocspByOutcome.get(outcome);
    if (!counter) this.ocspByOutcome.set(outcome, (counter = this.ocspResponses.cell(outcome)));
    counter.inc();
  }

  requested(route: string, method: string, status: number, seconds: number): void {
    let byMethod = this.httpByRoute.get(route);
    if (!byMethod) this.httpByRoute.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let children = byStatus.get(status);
    if (!children) {
      const code = String(status);
      byStatus.set(status, (children = { count: this.httpRequests.cell(route, method, code), duration: this.httpDuration.cell(route, method, code) }));
    }
    children.count.inc();
    children.duration.observe(seconds);
  }

  private async collectBacklog(): Promise<void> {
    const reading = await this.readBacklog();
    if (reading === null) {
      this.pendingEvents.set(Number.NaN);
      this.oldestEventAge.set(Number.NaN);
      return;
    }
    this.pendingEvents.set(reading.pendingEvents);
    const age = reading.oldestOccurredAt === null ? 0 : (this.options.clock.now().getTime() - reading.oldestOccurredAt.getTime()) / 1000;
    this.oldestEventAge.set(Math.max(0, age));
  }

  /** One query however many gauges ask in the same scrape (prom-client collects them in parallel); null (the gauges read NaN) when it fails or times out. */
  private readBacklog(): Promise<OutboxBacklogReading | null> {
    this.backlogReading ??= this.options.backlog
      .read(BACKLOG_TIMEOUT_MS)
      .then((reading) => {
        if (this.backlogFailing) this.logger.log('the outbox backlog reads again');
        this.backlogFailing = false;
        return reading;
      })
      .catch((error: unknown) => {
        // Once per failing spell, not once per scrape.
        if (!this.backlogFailing) this.logger.warn(`the outbox backlog could not be read: ${error instanceof Error ? error.message : String(error)}`);
        this.backlogFailing = true;
        return null;
      })
      .finally(() => {
        this.backlogReading = null;
      });
    return this.backlogReading;
  }
}
