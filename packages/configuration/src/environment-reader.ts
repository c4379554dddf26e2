/**
 * Reading environment variables for a start-up configuration: each reader
 * collects every problem by variable name instead of stopping at the first,
 * so one failed start names them all. Shared by ccm and its broker agents (its own package, so an agent installs without the service).
 */

import { readFileSync } from 'node:fs';

export type Environment = Readonly<Record<string, string | undefined>>;

export class EnvironmentReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Environment) {}

  /** The trimmed value; undefined when unset or blank. */
  optional(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  required(name: string, why = ''): string {
    const value = this.optional(name);
    if (value === undefined) {
      this.problems.push(`${name} is required${why ? ` ${why}` : ''}`);
      return '';
    }
    return value;
  }

  /**
   * A secret given inline (`name`) or in a file (`name`_FILE, trailing
   * newline dropped), exactly one of them; the value is never echoed.
   */
  secret(name: string, why = ''): string {
    const fileVariable = `${name}_FILE`;
    const inline = this.optional(name);
    const file = this.optional(fileVariable);
    if (inline !== undefined && file !== undefined) {
      this.problems.push(`set only one of ${name} and ${fileVariable} (both set)`);
      return '';
    }
    if (inline !== undefined) return inline;
    if (file === undefined) {
      this.problems.push(`${name} or ${fileVariable} is required${why ? ` ${why}` : ''}`);
      return '';
    }
    try {
      const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      if (value === '') this.problems.push(`${fileVariable} ${file} is empty`);
      return value;
    } catch (error) {
      this.problems.push(`${fileVariable} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      return '';
    }
  }

  string(name: string, fallback: string): string {
    return this.optional(name) ?? fallback;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return Number(raw);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
      return fallback;
    }
    return raw as T;
  }

  /** Checks `value` (already read from `name`) is a URL of one of `protocols`. The value is not echoed: URLs may carry passwords. */
  url(name: string, value: string, protocols: readonly string[]): string {
    if (value === '') return value; // missing: reported by required()
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
    } catch {
      this.problems.push(`${name} must be a ${protocols.join(' or ')} URL`);
    }
    return value;
  }
}
