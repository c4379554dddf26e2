#!/usr/bin/env node
/**
 * Service entry point: parse the configuration (a bad setting stops here,
 * naming the variable), build the application, listen.
 */
import { createApplication } from './app.js';
import { ConfigurationError, parseConfiguration } from './config/configuration.js';

async function main(): Promise<void> {
  let configuration;
  try {
    configuration = parseConfiguration(process.env);
  } catch (error) {
    if (error instanceof ConfigurationError) {
      process.stderr.write(`ccm: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const app = await createApplication(configuration);
  await app.listen({ host: configuration.http.host, port: configuration.http.port });
  process.stdout.write(`ccm listening on ${configuration.http.publicUrl} (API docs at ${configuration.http.publicUrl}/docs)\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`ccm: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
