/**
 * Tells this process that events were just committed: the outbox relay
 * publishes at once instead of at its next poll, and feed readers waiting
 * for an event (GET /v1/events?waitMs=) read again. Commits of other
 * replicas arrive here too where the database can say so (PostgreSQL
 * LISTEN/NOTIFY); elsewhere both find them by polling.
 */
export class OutboxWakeup {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * For any number of waiters (the relay, feed reads): a promise of the
   * first notify() after this call, not one before it, so a waiter arms it
   * before it reads and cannot miss a commit that lands between its read and
   * its wait; or of the timeout, or of `signal` aborting. `true` when a
   * commit woke it. The timer does not keep the process alive: what waits
   * is a relay that stop() wakes, or a read whose socket does.
   */
  nextCommit(timeoutMs: number, signal?: AbortSignal): { readonly woken: Promise<boolean>; cancel(): void } {
    let finish: (woken: boolean) => void = () => undefined;
    const woken = new Promise<boolean>((resolve) => (finish = resolve));
    const timer = setTimeout(() => settle(false), Math.max(0, timeoutMs));
    timer.unref();
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

  /** Waiting now, the relay included: the feed caps its readers by it (MAX_WAITING_READERS). */
  get readersWaiting(): number {
    return this.listeners.size;
  }
}
