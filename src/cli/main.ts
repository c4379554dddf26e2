#!/usr/bin/env node
/**
 * Entry point of the operator CLI, `ccm <command>`: finds the command named
 * by the arguments, runs it, and turns its outcome into an exit code that
 * scripts can rely on (outcome.ts). Results go to stdout, errors and usage
 * mistakes to stderr. `ccm serve` runs the service itself.
 */
import { readFileSync } from 'node:fs';
import { CERTIFICATE_COMMANDS } from './certificate-commands.js';
import type { Command, CommandContext, CommandGroup } from './command.js';
import { CliError, EXIT_CODES, UsageError } from './outcome.js';
import { PLATFORM_CA_COMMANDS } from './platform-ca-commands.js';
import { CHECK_AUTHORITY_NAMES, MIGRATE, SERVE } from './service-commands.js';
import { TENANT_COMMANDS } from './tenant-commands.js';

const AUTHORITY_COMMANDS: CommandGroup = { name: 'authorities', summary: 'the CAs recorded in the database', commands: [CHECK_AUTHORITY_NAMES] };
const GROUPS: readonly CommandGroup[] = [TENANT_COMMANDS, CERTIFICATE_COMMANDS, PLATFORM_CA_COMMANDS, AUTHORITY_COMMANDS];
const STANDALONE: readonly Command[] = [SERVE, MIGRATE];

const EXIT_CODE_HELP = `Exit codes:
  ${EXIT_CODES.success}  success
  ${EXIT_CODES.usage}  usage error: unknown command or option, missing argument, unreadable file,
     bad configuration (serve, migrate)
  ${EXIT_CODES.refused}  refused by ccm (HTTP 4xx: not found, invalid, wrong API key…); the problem's
     title, detail and type are on stderr
  ${EXIT_CODES.unavailable}  ccm unavailable or failed: no connection, timeout, HTTP 5xx (503 while
     custody or the platform CA is not ready); for migrate, the database
  ${EXIT_CODES.unexpected}  anything else`;

function overview(): string {
  const width = 24;
  const lines: string[] = [];
  for (const group of GROUPS) {
    for (const command of group.commands) lines.push(`  ${`${group.name} ${command.name}`.padEnd(width)}${command.summary}`);
  }
  for (const command of STANDALONE) lines.push(`  ${command.name.padEnd(width)}${command.summary}`);
  return `Usage: ccm <command> [options]

Operator commands for ccm, a certificate authority for IoT platforms.

Commands:
${lines.join('\n')}

\`ccm <command> --help\` describes a command and its options.

Commands that call a running ccm take --url URL (default: $CCM_URL, else
http://127.0.0.1:8080) and an API key from $CCM_API_KEY or --api-key-file FILE;
never as an argument. serve and migrate read the service's configuration from
the environment.

${EXIT_CODE_HELP}
`;
}

function groupUsage(group: CommandGroup): string {
  const lines = group.commands.map((command) => `  ${command.name.padEnd(12)}${command.summary}`);
  return `Usage: ccm ${group.name} <command> [options]

Commands:
${lines.join('\n')}

\`ccm ${group.name} <command> --help\` describes a command.
`;
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `${manifest.version}\n`;
}

const isHelp = (arg: string | undefined): boolean => arg === '--help' || arg === '-h' || arg === 'help';

async function run(args: readonly string[], context: CommandContext): Promise<void> {
  const [first, second, ...rest] = args;
  if (first === undefined) throw new UsageError(`a command is needed\n\n${overview()}`);
  if (isHelp(first)) return context.out(overview());
  if (first === '--version') return context.out(version());
  const standalone = STANDALONE.find((command) => command.name === first);
  if (standalone) return standalone.execute(args.slice(1), context);
  const group = GROUPS.find((candidate) => candidate.name === first);
  if (!group) throw new UsageError(`unknown command ${JSON.stringify(first)}; see ccm --help`);
  if (second === undefined) throw new UsageError(`a command is needed after "ccm ${group.name}"\n\n${groupUsage(group)}`);
  if (isHelp(second)) return context.out(groupUsage(group));
  const command = group.commands.find((candidate) => candidate.name === second || candidate.aliases?.includes(second));
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(`${group.name} ${second}`)}; see ccm ${group.name} --help`);
  return command.execute(rest, context);
}

const context: CommandContext = { env: process.env, out: (text) => void process.stdout.write(text) };

run(process.argv.slice(2), context).then(
  () => {
    // Not process.exit(): `ccm serve` keeps running, and the other commands end on their own once nothing is pending.
    process.exitCode = EXIT_CODES.success;
  },
  (error: unknown) => {
    if (error instanceof CliError) {
      process.stderr.write(`ccm: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(`ccm: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT_CODES.unexpected;
  },
);
