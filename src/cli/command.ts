/**
 * What every CLI command shares: its shape (name, one-line summary, usage
 * text), strict option parsing with node:util parseArgs (an unknown option or
 * a stray argument is a usage error), --help, required options and input
 * files, and the connection to a running ccm (--url, the API key). An API key
 * is never taken as an argument: it would show in `ps` and in shell history.
 */
import { readFile, stat } from 'node:fs/promises';
import { openToOthers } from '../shared/owner-only-file.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CcmApiClient } from './ccm-api-client.js';
import { UsageError } from './outcome.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
export type OptionValues<O extends OptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

export interface CommandContext {
  readonly env: NodeJS.ProcessEnv;
  /** Results, for scripts: stdout. */
  readonly out: (text: string) => void;
}

export interface Command {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly summary: string;
  /** The full --help text. */
  readonly usage: string;
  execute(args: readonly string[], context: CommandContext): Promise<void>;
}

/** Commands under one noun: `ccm certificate issue`. */
export interface CommandGroup {
  readonly name: string;
  readonly summary: string;
  readonly commands: readonly Command[];
}

export function defineCommand<const O extends OptionsConfig>(spec: {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly summary: string;
  readonly usage: string;
  readonly options: O;
  readonly run: (values: OptionValues<O>, context: CommandContext) => Promise<void>;
}): Command {
  return {
    name: spec.name,
    ...(spec.aliases ? { aliases: spec.aliases } : {}),
    summary: spec.summary,
    usage: spec.usage,
    async execute(args, context) {
      refuseKeyArguments(args);
      if (args.includes('--help') || args.includes('-h')) {
        context.out(spec.usage);
        return;
      }
      await spec.run(parseOptions(args, spec.options), context);
    },
  };
}

function parseOptions<const O extends OptionsConfig>(args: readonly string[], options: O): OptionValues<O> {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values as OptionValues<O>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (!code.startsWith('ERR_PARSE_ARGS_')) throw error;
    const named = /'(-[^' ]*)/.exec((error as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && named) throw new UsageError(`unknown option ${named}`);
    throw new UsageError((error as Error).message);
  }
}

function refuseKeyArguments(args: readonly string[]): void {
  if (args.some((arg) => arg === '--api-key' || arg.startsWith('--api-key='))) {
    throw new UsageError('--api-key is refused: a key on the command line shows in ps and in shell history. Set CCM_API_KEY or pass --api-key-file FILE.');
  }
}

export function required(value: string | undefined, option: string): string {
  if (value === undefined || value === '') throw new UsageError(`${option} is required`);
  return value;
}

export function positiveInteger(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]{0,14}$/.test(value)) throw new UsageError(`${option} must be a positive whole number, not ${JSON.stringify(value)}`);
  return Number(value);
}

export function oneOf<T extends string>(value: string | undefined, option: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${option} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`);
  return value as T;
}

/** An input file named by an option; unreadable is a usage error (exit 2), before anything is sent. */
export async function readInputFile(path: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${option} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Options of every command that talks to a running ccm. */
export const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  'api-key-file': { type: 'string' },
} as const;

export const CONNECTION_USAGE = `Connection:
  --url URL               ccm's base URL (default: $CCM_URL, else http://127.0.0.1:8080)
  --api-key-file FILE     read the API key from FILE (default: the key in $CCM_API_KEY)
                          The key is never accepted as an argument. For an HTTPS
                          server certificate from a private CA, set NODE_EXTRA_CA_CERTS.`;

const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The API client for --url and the API key; every problem with them is a usage error, found before anything is sent. */
export async function connect(values: { url?: string | undefined; 'api-key-file'?: string | undefined }, env: NodeJS.ProcessEnv): Promise<CcmApiClient> {
  const url = values.url ?? (env['CCM_URL'] || DEFAULT_URL);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${values.url !== undefined ? '--url' : 'CCM_URL'} is not a URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`ccm's URL must be http or https, not ${parsed.protocol}`);
  if (parsed.username || parsed.password || parsed.search || parsed.hash) throw new UsageError('ccm\'s URL takes no user, password, query or fragment');
  return new CcmApiClient(parsed.href, await apiKey(values['api-key-file'], env));
}

async function apiKey(file: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  let key: string;
  let source: string;
  if (file !== undefined) {
    key = (await readInputFile(file, '--api-key-file')).trim();
    source = `--api-key-file ${file}`;
    // As ccm does with its own key files: a key others can read is as good as published.
    const problem = openToOthers((await stat(file)).mode);
    if (problem) throw new UsageError(`--api-key-file ${file} ${problem}`);
  } else if (env['CCM_API_KEY']) {
    key = env['CCM_API_KEY'].trim();
    source = 'CCM_API_KEY';
  } else {
    throw new UsageError('no API key: set CCM_API_KEY or pass --api-key-file FILE');
  }
  // The key itself is never repeated in a message.
  if (key === '') throw new UsageError(`the API key from ${source} is empty`);
  if (!/^[\x21-\x7e]+$/.test(key)) throw new UsageError(`the API key from ${source} must be one word of printable ASCII`);
  return key;
}
