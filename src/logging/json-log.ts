/**
 * The service's log: one JSON object per line on stdout (pino), so a log
 * shipper indexes it without parsing prose. Owns the line's shape (time,
 * level label, msg, context, pid, hostname, requestId), the mapping of
 * CCM_LOG_LEVEL onto pino's levels, the request id of the request a line is
 * written for, and the redaction that keeps secrets out even when a caller
 * logs an object it should not have.
 *
 * Time is ISO 8601 UTC with milliseconds, as in the Mosquitto agent's log:
 * one shipper configuration parses both, a human reading `kubectl logs` needs
 * no conversion, and it costs well under a microsecond per line.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Level, type Logger } from 'pino';
import type { LogLevel } from '../config/configuration.js';

export type JsonLog = Logger;

/** CCM_LOG_LEVEL keeps Nest's names; pino calls `log` info and has no `verbose` (its trace is the most output). */
export const PINO_LEVEL: Readonly<Record<LogLevel, Level>> = { error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

/**
 * The id of the HTTP request being served, for every line written while it
 * is (entered by the request log, src/http/request-log.ts). Read only when a
 * line is actually written: a disabled level costs nothing here.
 */
export const requestScope = new AsyncLocalStorage<string>();

/** Names a secret travels under: an HTTP header, a Vault request or response field, a DTO member. */
const SECRET_FIELDS = ['authorization', 'cookie', 'headers', 'body', 'token', 'client_token', 'secret_id', 'jwt', 'key', 'apiKey', 'privateKey', 'privateKeyPem', 'private_key', 'kek', 'password', '["x-vault-token"]'];
/** Objects one level up that may carry them: a Vault login, an HTTP client's request options, a DTO. */
const SECRET_CONTAINERS = ['auth', 'data', 'login', 'credential', 'issued', 'options', 'config', 'request', 'response', 'req', 'res', 'vault'];

/**
 * Defence in depth: no code logs these, but an object that carries one is
 * censored rather than printed. Explicit paths, no `*`: a fast-redact
 * wildcard costs 6 to 27 µs per line, several times the line itself (4 µs).
 */
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_FIELDS,
  ...SECRET_CONTAINERS.flatMap((container) => SECRET_FIELDS.map((field) => (field.startsWith('[') ? `${container}${field}` : `${container}.${field}`))),
];

export const REDACTED = '[redacted]';

export interface JsonLogOptions {
  /** Where lines go; stdout (synchronously, so nothing is lost on exit and lines keep their order) when omitted. */
  readonly destination?: DestinationStream;
}

export function createJsonLog(level: LogLevel | 'silent', options: JsonLogOptions = {}): JsonLog {
  return pino(
    {
      level: level === 'silent' ? 'silent' : PINO_LEVEL[level],
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACTED_PATHS], censor: REDACTED },
      serializers: { err: serializeError },
      mixin: () => {
        const requestId = requestScope.getStore();
        return requestId === undefined ? {} : { requestId };
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/**
 * An error as type, message, code and stack only. pino's standard serializer
 * copies every enumerable property, and an HTTP client's error can carry the
 * request it made, headers (a Vault token) included.
 */
export function serializeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  const cause = error.cause instanceof Error ? `${error.cause.name}: ${error.cause.message}` : undefined;
  return {
    type: error.name,
    message: error.message,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
    ...(cause !== undefined ? { cause } : {}),
  };
}
