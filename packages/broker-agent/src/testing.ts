/**
 * @ccm/broker-agent/testing: what the agents' tests share, and nothing an
 * agent runs with. RecordingAgentLog keeps every line in memory instead of
 * writing it, so a test can assert what the core or an adapter logged;
 * readmeVariableRows reads a README's variable table back, so a test can
 * hold it to the agent's list of variables (AgentVariable).
 */
import { AgentLog, type AgentLogLevel } from './agent-log.js';

export interface RecordedLine {
  readonly level: AgentLogLevel;
  readonly message: string;
  /** The fields given, {} when none. */
  readonly fields: Record<string, unknown>;
}

export class RecordingAgentLog extends AgentLog {
  readonly lines: RecordedLine[] = [];

  error(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'error', message, fields });
  }
  warn(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  info(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'info', message, fields });
  }
  debug(message: string, fields: Record<string, unknown> = {}): void {
    this.lines.push({ level: 'debug', message, fields });
  }

  /** The messages logged so far, of one level or of all. */
  messages(level?: AgentLogLevel): string[] {
    return this.lines.filter((line) => level === undefined || line.level === level).map((line) => line.message);
  }
}

/** A row of a README's variable table, in AgentVariable's shape. */
export interface VariableRow {
  readonly name: string;
  readonly default: string | null;
  readonly description: string | undefined;
}

/**
 * The rows of the table between `<!-- <marker>:start -->` and
 * `<!-- <marker>:end -->`: "| `NAME` | `default` or — | meaning |", code
 * quotes dropped and "\|" (a pipe inside a cell) read as "|".
 */
export function readmeVariableRows(markdown: string, marker: string): VariableRow[] {
  const table = markdown.split(`<!-- ${marker}:start -->`)[1]?.split(`<!-- ${marker}:end -->`)[0];
  if (table === undefined) throw new Error(`the README has no <!-- ${marker}:start --> … <!-- ${marker}:end --> markers`);
  const unescape = (cell: string): string => cell.replace(/\\\|/g, '|');
  const unquote = (cell: string): string => unescape(cell.replace(/`/g, ''));
  return table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [name, fallback, description] = line.slice(2, -2).split(' | ');
      return { name: unquote(name!), default: fallback === '—' ? null : unquote(fallback!), description: description === undefined ? undefined : unescape(description) };
    });
}
