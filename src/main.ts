#!/usr/bin/env node
/**
 * Service entry point: parse the configuration (a bad setting stops here,
 * naming the variable), build the application, listen; with CCM_WORKERS > 1
 * this process supervises that many workers that each do so (http-workers.ts).
 * SIGTERM and SIGINT stop it in order (orderly-stop.ts).
 */
import { createApplication } from './app.js';
import { ConfigurationError, parseConfiguration, type Configuration } from './config/configuration.js';
import { announceListening, isWorkerProcess, superviseWorkers } from './http-workers.js';
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
  if (configuration.http.workers > 1 && !isWorkerProcess()) {
    await superviseWorkers(configuration.http.workers, (message) => process.stderr.write(`ccm: ${message}\n`));
    process.stdout.write(`ccm listening on ${configuration.http.publicUrl} with ${configuration.http.workers} workers (API docs at ${configuration.http.publicUrl}/docs)\n`);
    return;
  }
  const app = await createApplication(configuration);
  const orderlyStop = new OrderlyStop(app, configuration.http.shutdownGraceMs);
  orderlyStop.exitOnSignals();
  await app.listen({ host: configuration.http.host, port: configuration.http.port });
  if (isWorkerProcess()) {
    announceListening();
    return;
  }
  process.stdout.write(`ccm listening on ${configuration.http.publicUrl} (API docs at ${configuration.http.publicUrl}/docs)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`ccm: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
