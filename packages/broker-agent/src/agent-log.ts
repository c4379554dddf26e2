/**
 * The agent's log: one JSON object per line on stderr (time, level, msg,
 * then the fields), so a log shipper can index it without parsing prose.
 * AgentLog is the port the core and the adapters write to; tests put a
 * recording log behind it.
 */

export type AgentLogLevel = 'error' | 'warn' | 'info' | 'debug';
export const AGENT_LOG_LEVELS: readonly AgentLogLevel[] = ['error', 'warn', 'info', 'debug'];

export abstract class AgentLog {
  abstract error(message: string, fields?: Record<string, unknown>): void;
  abstract warn(message: string, fields?: Record<string, unknown>): void;
  abstract info(message: string, fields?: Record<string, unknown>): void;
  abstract debug(message: string, fields?: Record<string, unknown>): void;
}

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
