/**
 * The shared entry point of the agents' bins: configuration from the
 * environment (the common CCM_AGENT_* variables and the adapter's own),
 * read once; a bad or missing one stops the agent with exit code 2 and a
 * message naming every one. Then it runs until SIGTERM or SIGINT.
 *
 *   <bin>            run
 *   <bin> --help     list the variables
 *   <bin> <command>  an adapter's one-shot command (Mosquitto: --once)
 *
 * Exit codes: 0 stopped by a signal or command done, 1 failure, 2 configuration.
 */
import type { EnvironmentReader } from '@ccm/configuration';
import { JsonLineLog, type AgentLog } from './agent-log.js';
import { AgentMetrics } from './agent-metrics.js';
import { BrokerAgent } from './broker-agent.js';
import type { BrokerAdapter } from './broker-port.js';
import { CcmApi } from './ccm-api.js';
import { AgentConfigurationError, COMMON_AGENT_VARIABLES, parseAgentConfiguration, type AgentVariable } from './configuration.js';

/** What an adapter is built with besides its own settings. */
export interface AdapterContext {
  readonly log: AgentLog;
  readonly ccm: CcmApi;
  readonly tenantIds: readonly string[];
}

export interface AgentMain<S> {
  /** The bin's name, for messages. */
  readonly name: string;
  /** The adapter's own variables (for --help and the README table). */
  readonly variables: readonly AgentVariable[];
  readonly parse: (read: EnvironmentReader) => S;
  readonly adapter: (settings: S, context: AdapterContext) => BrokerAdapter;
  readonly commands?: Readonly<Record<string, (settings: S, context: AdapterContext) => Promise<void>>>;
}

export function runAgentMain<S>(main: AgentMain<S>, argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): void {
  run(main, argv, env).catch((error: unknown) => {
    process.stderr.write(`${main.name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}

async function run<S>(main: AgentMain<S>, argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const commands = main.commands ?? {};
  if (argv.includes('--help')) {
    // A reader that stops early (`--help | head`) is no failure.
    process.stdout.on('error', () => process.exit(0));
    process.stdout.write(`${main.name}: configured by environment variables\n\n`);
    for (const variable of [...COMMON_AGENT_VARIABLES, ...main.variables]) process.stdout.write(`  ${variable.name}${variable.default !== null ? ` (default ${variable.default})` : ''}\n      ${variable.description}\n`);
    return;
  }
  const unknown = argv.filter((arg) => !(arg in commands));
  if (unknown.length > 0 || argv.length > 1) {
    const accepted = ['--help', ...Object.keys(commands)].join(', ');
    process.stderr.write(`${main.name}: unknown argument ${unknown[0] ?? argv[1]} (accepted: ${accepted})\n`);
    process.exit(2);
  }
  let parsed: ReturnType<typeof parseAgentConfiguration<S>>;
  try {
    parsed = parseAgentConfiguration(env, main.parse);
  } catch (error) {
    if (error instanceof AgentConfigurationError) {
      process.stderr.write(`${main.name}: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { configuration, settings } = parsed;
  const log = new JsonLineLog(configuration.logLevel);
  // Built here, before the adapter, so that the adapter's requests to ccm (Mosquitto's CRLs) are counted too.
  let metrics: AgentMetrics | null = null;
  const ccm = new CcmApi({
    baseUrl: configuration.ccm.url,
    authorization: configuration.ccm.authorization,
    timeoutMs: configuration.ccm.timeoutMs,
    onResponse: (path, status, ms) => {
      metrics?.ccmRequest(status !== null && status < 500);
      log.debug('ccm request', { path: path.replace(/\?.*$/, ''), status, ms: Math.round(ms * 10) / 10 });
    },
  });
  const context: AdapterContext = { log, ccm, tenantIds: configuration.tenantIds };

  const command = argv[0];
  if (command !== undefined) {
    await commands[command]!(settings, context);
    return;
  }

  const adapter = main.adapter(settings, context);
  metrics = new AgentMetrics(adapter.broker);
  const agent = new BrokerAgent(configuration, adapter, { log, ccm, metrics });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${main.name}: ${signal} received, stopping\n`);
    agent.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${main.name}: error while stopping: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await agent.start();
}
