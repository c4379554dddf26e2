/**
 * The agent's log: one JSON object per line on stderr (time, level, msg,
 * then the fields), so a log shipper can index it without parsing prose.
 */
import type { AgentLogLevel } from './configuration.js';
import { AgentLog } from './ports.js';

const RANK: Readonly<Record<AgentLogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

export class JsonLineLog extends AgentLog {
  constructor(
    private readonly level: AgentLogLevel,
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
  ) {
    super();
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.emit('error', message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.emit('warn', message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.emit('info', message, fields);
  }
  debug(message: string, fields?: Record<string, unknown>): void {
    this.emit('debug', message, fields);
  }

  private emit(level: AgentLogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (RANK[level] > RANK[this.level]) return;
    this.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
  }
}
