/**
 * The typed failures of the NATS adapter. Each one means the broker did not
 * (or may not have) done what was asked; the core retries the call with
 * backoff and never counts the device as enforced meanwhile.
 */

export class NatsAdapterError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The users file could not be read, is not one the agent wrote, or could not be replaced. */
export class UsersFileError extends NatsAdapterError {
  constructor(
    readonly path: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`users file ${path}: ${detail}`, options);
  }
}

/** The pid file is missing or does not hold a process id. */
export class PidFileError extends NatsAdapterError {
  constructor(
    readonly path: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`pid file ${path}: ${detail}`, options);
  }
}

/** The pid file names a process that does not exist (nats-server stopped, or a stale pid file). */
export class NatsServerNotRunningError extends NatsAdapterError {
  constructor(readonly pid: number) {
    super(`nats-server (pid ${pid}) is not running`);
  }
}

/** The agent may not signal nats-server: it runs as another user. */
export class SignalNotPermittedError extends NatsAdapterError {
  constructor(readonly pid: number) {
    super(`not permitted to signal nats-server (pid ${pid}): run the agent as the server's user, or as root`);
  }
}

/** The monitoring endpoint did not answer, or answered something other than nats-server's JSON. */
export class NatsMonitorError extends NatsAdapterError {
  constructor(
    readonly path: string,
    readonly status: number | null,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`nats-server monitoring ${path} ${status === null ? 'failed' : `answered ${status}`}: ${detail}`, options);
  }
}

/** nats-server did not report a new configuration load after the SIGHUP: the reload failed (its log says why) or is stuck. */
export class ReloadNotConfirmedError extends NatsAdapterError {
  constructor(readonly timeoutMs: number) {
    super(`nats-server did not confirm the configuration reload within ${timeoutMs} ms (a configuration error keeps the old configuration; see the server's log)`);
  }
}

/** Connections of identities that were shut out were still open when the wait for them ended. */
export class SessionsStillOpenError extends NatsAdapterError {
  constructor(
    readonly identities: readonly string[],
    readonly timeoutMs: number,
  ) {
    super(`${identities.length} shut-out identit${identities.length === 1 ? 'y' : 'ies'} still connected ${timeoutMs} ms after the reload (first: ${JSON.stringify(identities[0])})`);
  }
}

/** A method other than start() was called before start() finished. */
export class AdapterNotStartedError extends NatsAdapterError {
  constructor(method: string) {
    super(`NatsAdapter.${method} called before start()`);
  }
}
