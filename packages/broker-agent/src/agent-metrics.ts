/**
 * The agent's Prometheus metrics (served on /metrics by the health server).
 * Names start with ccm_agent_ and carry the broker as a label, so one
 * dashboard covers every agent.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Verdict } from './device-index.js';

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly events: Counter<'type' | 'outcome'>;
  private readonly rejected: Counter;
  private readonly brokerCalls: Counter<'operation' | 'outcome'>;
  private readonly brokerCallSeconds: Histogram<'operation'>;
  private readonly ccmRequests: Counter<'outcome'>;
  private readonly reconciliations: Counter<'outcome'>;
  private readonly lastReconciliation: Gauge;
  private readonly enforced: Gauge<'verdict'>;
  private readonly certificates: Gauge;
  private readonly enforcementLag: Histogram;
  private readonly sessionsOutOfPlace: Counter;

  constructor(broker: string) {
    this.registry.setDefaultLabels({ broker });
    collectDefaultMetrics({ register: this.registry, prefix: 'ccm_agent_' });
    const registers = [this.registry];
    this.events = new Counter({ name: 'ccm_agent_events_total', help: 'Events handled, by type and outcome (enforced, ignored: another tenant or no effect, failed: will be retried).', labelNames: ['type', 'outcome'], registers });
    this.rejected = new Counter({ name: 'ccm_agent_events_rejected_total', help: 'Queue or feed items that are not a ccm event this agent understands (skipped, never retried).', registers });
    this.brokerCalls = new Counter({ name: 'ccm_agent_broker_calls_total', help: 'Adapter calls to the broker, by operation and outcome.', labelNames: ['operation', 'outcome'], registers });
    this.brokerCallSeconds = new Histogram({ name: 'ccm_agent_broker_call_seconds', help: 'Duration of adapter calls to the broker.', labelNames: ['operation'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.ccmRequests = new Counter({ name: 'ccm_agent_ccm_requests_total', help: 'Requests to ccm\'s API, by outcome (ok, failed).', labelNames: ['outcome'], registers });
    this.reconciliations = new Counter({ name: 'ccm_agent_reconciliations_total', help: 'Full reconciliations against ccm\'s certificate list, by outcome.', labelNames: ['outcome'], registers });
    this.lastReconciliation = new Gauge({ name: 'ccm_agent_last_reconciliation_timestamp_seconds', help: 'When the last successful reconciliation ended (Unix time).', registers });
    this.enforced = new Gauge({ name: 'ccm_agent_devices', help: 'Device identities by the verdict last carried out on the broker.', labelNames: ['verdict'], registers });
    this.certificates = new Gauge({ name: 'ccm_agent_certificates', help: 'Certificates of the served tenants the agent knows.', registers });
    this.enforcementLag = new Histogram({ name: 'ccm_agent_enforcement_lag_seconds', help: 'From the transition in ccm (the event time) to the broker call carrying it out.', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.sessionsOutOfPlace = new Counter({ name: 'ccm_agent_sessions_out_of_place_total', help: 'Live sessions found by a reconciliation for a device that must be out (then ended).', registers });
  }

  event(type: string, outcome: 'enforced' | 'ignored' | 'failed'): void {
    this.events.inc({ type, outcome });
  }
  eventRejected(): void {
    this.rejected.inc();
  }
  brokerCall(operation: string, outcome: 'ok' | 'failed', seconds: number): void {
    this.brokerCalls.inc({ operation, outcome });
    this.brokerCallSeconds.observe({ operation }, seconds);
  }
  ccmRequest(ok: boolean): void {
    this.ccmRequests.inc({ outcome: ok ? 'ok' : 'failed' });
  }
  reconciliation(ok: boolean, at: Date): void {
    this.reconciliations.inc({ outcome: ok ? 'ok' : 'failed' });
    if (ok) this.lastReconciliation.set(at.getTime() / 1000);
  }
  setEnforced(counts: Record<Verdict, number>): void {
    for (const [verdict, count] of Object.entries(counts)) this.enforced.set({ verdict }, count);
  }
  setCertificates(count: number): void {
    this.certificates.set(count);
  }
  enforcedAfter(seconds: number): void {
    this.enforcementLag.observe(Math.max(0, seconds));
  }
  sessionOutOfPlace(count: number): void {
    this.sessionsOutOfPlace.inc(count);
  }
}
