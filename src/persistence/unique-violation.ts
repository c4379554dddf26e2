/** Recognises a unique-constraint failure from either database driver. */
import { QueryFailedError } from 'typeorm';

interface DriverError {
  readonly code?: string;
  /** PostgreSQL: the index or constraint that refused. */
  readonly constraint?: string;
  readonly message?: string;
}

function driverErrorOf(error: unknown): DriverError | undefined {
  return error instanceof QueryFailedError ? (error as QueryFailedError & { driverError?: DriverError }).driverError : undefined;
}

export function isUniqueViolation(error: unknown): boolean {
  const driverError = driverErrorOf(error);
  // PostgreSQL unique_violation; better-sqlite3's extended result code.
  return driverError?.code === '23505' || driverError?.code === 'SQLITE_CONSTRAINT_UNIQUE' || driverError?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * A unique violation of one index in particular: PostgreSQL names it;
 * SQLite names the indexed columns instead ("UNIQUE constraint failed:
 * authorities.subject_key"), so both are given.
 */
export function isUniqueViolationOf(error: unknown, index: string, columns: readonly string[]): boolean {
  if (!isUniqueViolation(error)) return false;
  const driverError = driverErrorOf(error)!;
  if (driverError.constraint !== undefined) return driverError.constraint === index;
  const failed = /UNIQUE constraint failed: (.*)$/.exec(driverError.message ?? '')?.[1];
  return failed !== undefined && failed.split(', ').join(',') === columns.join(',');
}
