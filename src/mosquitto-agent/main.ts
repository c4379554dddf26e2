#!/usr/bin/env node
/**
 * Entry point of the Mosquitto agent (`node dist/src/mosquitto-agent/main.js`).
 * The configuration comes from CCM_AGENT_* variables (README.md beside this
 * file), read once: a bad or missing one stops the agent with exit code 2 and
 * a message naming it.
 *
 *   main.js          run: install CRLs, keep them fresh, act on events
 *   main.js --once   install the CRLs and exit (before Mosquitto first starts:
 *                    it refuses to start without its crlfile)
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT or --once done, 1 failure, 2 configuration.
 */
import { AgentConfigurationError, parseAgentConfiguration, type AgentConfiguration } from './configuration.js';
import { installCrlsOnce, MosquittoAgent } from './agent.js';

async function main(argv: readonly string[]): Promise<void> {
  const unknown = argv.filter((arg) => arg !== '--once');
  if (unknown.length > 0) {
    process.stderr.write(`ccm-mosquitto-agent: unknown argument ${unknown[0]} (only --once is accepted)\n`);
    process.exit(2);
  }
  let configuration: AgentConfiguration;
  try {
    configuration = parseAgentConfiguration(process.env);
  } catch (error) {
    if (error instanceof AgentConfigurationError) {
      process.stderr.write(`ccm-mosquitto-agent: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  if (argv.includes('--once')) {
    await installCrlsOnce(configuration);
    return;
  }

  const agent = await MosquittoAgent.start(configuration);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`ccm-mosquitto-agent: ${signal} received, stopping\n`);
    agent.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`ccm-mosquitto-agent: error while stopping: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`ccm-mosquitto-agent: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
