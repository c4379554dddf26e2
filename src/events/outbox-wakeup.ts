/**
 * Tells the outbox relay of this process that events were just committed, so
 * it publishes at once instead of at its next poll. Other replicas' events
 * are found by polling.
 */
export class OutboxWakeup {
  private waiters: (() => void)[] = [];
  private pending = false;

  notify(): void {
    this.pending = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves on the next notify() or after `timeoutMs`, whichever comes first; at once if one came since the last wait. */
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
}
