#!/usr/bin/env node
/**
 * Service entry point: parse the configuration (a bad setting stops here,
 * naming the variable), build the application, listen; with CCM_WORKERS > 1
 * this process supervises that many workers that each do so (http-workers.ts).
 * SIGTERM and SIGINT stop it in order (orderly-stop.ts).
 *
 * Everything from here on is a JSON line on stdout. A configuration error is
 * the exception: plain text on stderr with exit code 2, since the log's own
 * settings (CCM_LOG_LEVEL) may be what is wrong, and the one reading it is
 * the person who just started ccm, not a log shipper.
 */
import { createApplication } from './app.js';
import { EventFeed } from './events/event-subscriptions.js';
import { ConfigurationError, parseConfiguration, type Configuration } from './config/configuration.js';
import { announceListening, isWorkerProcess, superviseWorkers } from './http-workers.js';
import { clusterExposition } from './metrics/cluster-metrics.js';
import { formatHost, MetricsListener } from './metrics/metrics-listener.js';
import { createJsonLog, type JsonLog } from './logging/json-log.js';

let log: JsonLog | undefined;
import { OrderlyStop } from './orderly-stop.js';

async function main(): Promise<void> {
  let configuration: Configuration;
  try {
    configuration = parseConfiguration(process.env);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`ccm: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const started = createJsonLog(configuration.logLevel);
  log = started;
  if (configuration.http.workers > 1 && !isWorkerProcess()) {
    // The workers' metrics, aggregated, from the primary alone: bound before any worker starts, so a taken port stops the start.
    if (configuration.metrics) {
      const listener = new MetricsListener(clusterExposition(), (error) => started.error({ context: 'Metrics', err: error }, 'a metrics scrape failed'));
      const address = await listener.listen(configuration.metrics.host, configuration.metrics.port);
      started.info({ context: 'Metrics' }, `ccm metrics at http://${formatHost(address.address)}:${address.port}/metrics`);
    }
    await superviseWorkers(configuration.http.workers, (message) => started.warn({ context: 'Workers' }, message));
    started.info({ context: 'Main' }, `ccm listening on ${configuration.http.publicUrl} with ${configuration.http.workers} workers (API docs at ${configuration.http.publicUrl}/docs)`);
    return;
  }
  const app = await createApplication(configuration, { log: started });
  const orderlyStop = new OrderlyStop(app, configuration.http.shutdownGraceMs, () => app.get(EventFeed).stopWaiting());
  orderlyStop.exitOnSignals();
  await app.listen({ host: configuration.http.host, port: configuration.http.port });
  if (isWorkerProcess()) {
    announceListening();
    return;
  }
  started.info({ context: 'Main' }, `ccm listening on ${configuration.http.publicUrl} (API docs at ${configuration.http.publicUrl}/docs)`);
}

main().catch((error: unknown) => {
  const message = `failed to start: ${error instanceof Error ? error.message : String(error)}`;
  // The log writes synchronously: the line is out before exit.
  if (log) log.fatal({ context: 'Main', err: error }, message);
  else process.stderr.write(`ccm: ${message}\n`);
  process.exit(1);
});
