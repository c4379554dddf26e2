/**
 * Metrics: binds the metrics ports to one PrometheusMetrics per application
 * instance and, when CCM_METRICS_PORT is set, serves them on the metrics
 * listener. In a cluster worker (CCM_WORKERS > 1) the primary serves them
 * instead, aggregated over the workers (cluster-metrics.ts, main.ts).
 */
import cluster from 'node:cluster';
import { Global, Inject, Logger, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { Clock } from '../shared/clock.js';
import { shareWithPrimary } from './cluster-metrics.js';
import { formatHost, MetricsListener } from './metrics-listener.js';
import { AuthenticationMetrics, CertificateTransitionMetrics, CustodyMetrics, EventMetrics, HttpRequestMetrics, IssuanceMetrics, RevocationMetrics } from './metrics.js';
import { OutboxBacklog } from './outbox-backlog.js';
import { PrometheusMetrics } from './prometheus-metrics.js';

const PORTS = [IssuanceMetrics, AuthenticationMetrics, CertificateTransitionMetrics, EventMetrics, CustodyMetrics, RevocationMetrics, HttpRequestMetrics];

@Global()
@Module({
  providers: [
    {
      provide: PrometheusMetrics,
      inject: [CONFIGURATION, OutboxBacklog, Clock],
      useFactory: (config: Configuration, backlog: OutboxBacklog, clock: Clock) => new PrometheusMetrics({ backlog, clock, processMetrics: config.metrics !== null }),
    },
    ...PORTS.map((port) => ({ provide: port, useExisting: PrometheusMetrics })),
  ],
  exports: [PrometheusMetrics, ...PORTS],
})
export class MetricsModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private listener: MetricsListener | null = null;

  constructor(
    @Inject(CONFIGURATION) private readonly config: Configuration,
    private readonly metrics: PrometheusMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const settings = this.config.metrics;
    if (settings === null) return;
    if (cluster.isWorker) {
      shareWithPrimary(this.metrics.registry);
      return;
    }
    const listener = new MetricsListener({ contentType: this.metrics.contentType, text: () => this.metrics.exposition() }, (error) =>
      this.logger.error(`a metrics scrape failed: ${error instanceof Error ? error.message : String(error)}`),
    );
    const address = await listener.listen(settings.host, settings.port);
    this.listener = listener;
    this.logger.log(`metrics at http://${formatHost(address.address)}:${address.port}/metrics`);
  }

  /** The metrics listener's bound address; null when there is none in this process. */
  listenerAddress(): { readonly host: string; readonly port: number } | null {
    const address = this.listener?.address();
    return address ? { host: address.address, port: address.port } : null;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.listener?.close();
    this.listener = null;
  }
}
