/**
 * Nest's LoggerService over the JSON log: installed once in createApplication,
 * so every `new Logger('Context')` in the code base (and Nest's own start-up
 * lines) writes JSON lines without knowing it. Nest's calling convention is
 * positional: the context comes last, an error's stack before it; plain
 * objects among the parameters become fields of the line.
 */
import type { LoggerService, LogLevel as NestLogLevel } from '@nestjs/common';
import type { Level } from 'pino';
import type { JsonLog } from './json-log.js';

const NEST_TO_PINO: Readonly<Record<NestLogLevel, Level>> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };
const PINO_RANK: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export class NestJsonLogger implements LoggerService {
  constructor(private readonly json: JsonLog) {}

  log(message: unknown, ...parameters: unknown[]): void {
    this.write('info', message, parameters, false);
  }
  error(message: unknown, ...parameters: unknown[]): void {
    this.write('error', message, parameters, true);
  }
  warn(message: unknown, ...parameters: unknown[]): void {
    this.write('warn', message, parameters, false);
  }
  debug(message: unknown, ...parameters: unknown[]): void {
    this.write('debug', message, parameters, false);
  }
  verbose(message: unknown, ...parameters: unknown[]): void {
    this.write('trace', message, parameters, false);
  }
  fatal(message: unknown, ...parameters: unknown[]): void {
    this.write('fatal', message, parameters, true);
  }

  /** Nest's list of enabled levels becomes the most verbose of them. */
  setLogLevels(levels: NestLogLevel[]): void {
    const enabled = levels.map((level) => NEST_TO_PINO[level]);
    const most = PINO_RANK.filter((level) => enabled.includes(level)).at(-1);
    this.json.level = most ?? 'silent';
  }

  private write(level: Level, message: unknown, parameters: unknown[], mayCarryStack: boolean): void {
    // The check comes first: a disabled level formats nothing.
    if (!this.json.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const rest = [...parameters];
    // Logger('X').m(msg, ...p) appends 'X'; Logger.m(msg) and a lone stack append nothing.
    if (rest.length > 0 && typeof rest.at(-1) === 'string' && !(mayCarryStack && rest.length === 1 && isStack(rest[0]))) fields['context'] = rest.pop();
    for (const parameter of rest) {
      if (parameter === undefined) continue;
      if (mayCarryStack && typeof parameter === 'string' && fields['stack'] === undefined) fields['stack'] = parameter;
      else if (parameter instanceof Error) fields['err'] = parameter;
      else if (isPlainObject(parameter)) Object.assign(fields, parameter);
      else fields['details'] = [...((fields['details'] as unknown[] | undefined) ?? []), parameter];
    }
    if (message instanceof Error) {
      fields['err'] = message;
      this.json[level](fields, message.message);
    } else if (isPlainObject(message)) {
      this.json[level]({ ...message, ...fields });
    } else {
      this.json[level](fields, String(message));
    }
  }
}

function isStack(value: unknown): boolean {
  return typeof value === 'string' && /\n[ \t]+at /.test(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}
