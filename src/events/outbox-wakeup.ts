/**
 * Tells this process that events were just committed: the outbox relay
 * publishes at once instead of at its next poll, and feed readers waiting
 * for an event (GET /v1/events?waitMs=) read again. Commits of other
 * replicas arrive here too where the database can say so (PostgreSQL
 * LISTEN/NOTIFY); elsewhere both find them by polling.
 */
export class OutboxWakeup {
  private waiters: (() => void)[] = [];
  private pending = false;
  private readonly listeners = new Set<() => void>();

  notify(): void {
    this.pending = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * The relay's wait: resolves on the next notify() or after `timeoutMs`,
   * whichever comes first; at once if one came since the last wait. One
   * caller only (the pending flag is its own).
   */
  wait(timeoutMs: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.waiters = self.waiters.filter((w) => w !== done);
        self.pending = false;
        resolve();
      }
      this.waiters.push(done);
    });
  }

  /**
   * For any number of readers: a promise of the first notify() after this
   * call (not one before it, so a reader arms it before it reads and cannot
   * miss a commit that lands between its read and its wait), or of the
   * timeout, or of `signal` aborting. `true` when a commit woke it.
   */
  nextCommit(timeoutMs: number, signal?: AbortSignal): { readonly woken: Promise<boolean>; cancel(): void } {
    let finish: (woken: boolean) => void = () => undefined;
    const woken = new Promise<boolean>((resolve) => (finish = resolve));
    // Not unref'd: a read waiting to be answered is work in hand (the stop answers it first: EventFeed.stopWaiting).
    const timer = setTimeout(() => settle(false), Math.max(0, timeoutMs));
    const onCommit = (): void => settle(true);
    const onAbort = (): void => settle(false);
    const settle = (result: boolean): void => {
      clearTimeout(timer);
      this.listeners.delete(onCommit);
      signal?.removeEventListener('abort', onAbort);
      finish(result);
    };
    this.listeners.add(onCommit);
    if (signal?.aborted) settle(false);
    else signal?.addEventListener('abort', onAbort, { once: true });
    return { woken, cancel: () => settle(false) };
  }

  /** Feed readers waiting now: the feed caps them (MAX_WAITING_READERS). */
  get readersWaiting(): number {
    return this.listeners.size;
  }
}
