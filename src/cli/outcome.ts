/**
 * What the operator CLI tells the shell: its exit codes, stable for scripts
 * (listed in `ccm --help` and the README), and the errors that lead to each.
 * Every command throws one of these; main.ts alone turns them into a message
 * on stderr and an exit code.
 */

export const EXIT_CODES = {
  success: 0,
  /** A bug, or a failure the CLI did not foresee (e.g. files not writable after issuance). */
  unexpected: 1,
  /** Unknown command or option, missing or invalid argument, unreadable input file, bad configuration. */
  usage: 2,
  /** ccm answered 4xx: the request was refused (not found, invalid, wrong API key, conflict…). */
  refused: 3,
  /** ccm (or, for `migrate`, the database) could not be reached, timed out, or answered 5xx. */
  unavailable: 4,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** A failure the CLI foresaw: its message says all an operator needs (no stack trace). */
export abstract class CliError extends Error {
  abstract readonly exitCode: ExitCode;
}

/** The command line is wrong: nothing was sent anywhere. */
export class UsageError extends CliError {
  readonly exitCode = EXIT_CODES.usage;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An RFC 9457 problem document as ccm answers errors. */
export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status?: number;
  readonly detail?: string;
  readonly errorId?: string;
}

/** An HTTP error answer from ccm: 4xx refused (exit 3), 5xx failed (exit 4). */
export class CcmAnswerError extends CliError {
  readonly exitCode: ExitCode;
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly problem: Problem | null,
    /** The start of a body that is not a problem document (another server at that URL?). */
    bodyExcerpt: string,
  ) {
    super(describeAnswer(method, path, status, problem, bodyExcerpt));
    this.name = 'CcmAnswerError';
    this.exitCode = status >= 500 ? EXIT_CODES.unavailable : EXIT_CODES.refused;
  }
}

/** No usable answer at all: connection refused, DNS, TLS, timeout, a redirect, a success that is not what ccm sends. */
export class CcmUnavailable extends CliError {
  readonly exitCode = EXIT_CODES.unavailable;
  constructor(message: string) {
    super(message);
    this.name = 'CcmUnavailable';
  }
}

/** The database of `ccm migrate` could not be reached or a migration failed. */
export class DatabaseUnavailable extends CliError {
  readonly exitCode = EXIT_CODES.unavailable;
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUnavailable';
  }
}

function describeAnswer(method: string, path: string, status: number, problem: Problem | null, bodyExcerpt: string): string {
  const verdict = status >= 500 ? 'failed' : 'refused';
  if (!problem) return `${method} ${path} ${verdict}: HTTP ${status}${bodyExcerpt ? `: ${bodyExcerpt}` : ''}`;
  const lines = [`${method} ${path} ${verdict}: ${status} ${problem.title ?? ''}`.trimEnd()];
  if (problem.detail) lines.push(`  detail: ${problem.detail}`);
  if (problem.type) lines.push(`  type: ${problem.type}`);
  if (problem.errorId) lines.push(`  error id: ${problem.errorId}`);
  return lines.join('\n');
}

/** Issued, but the files could not be written: the operator must act (revoke it if its key is lost). */
export class IssuedButNotWritten extends CliError {
  readonly exitCode = EXIT_CODES.unexpected;
  constructor(message: string) {
    super(message);
    this.name = 'IssuedButNotWritten';
  }
}
