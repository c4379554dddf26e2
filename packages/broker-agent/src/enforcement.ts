/**
 * Carries verdicts out on the broker through the adapter, in rounds: up to
 * roundsAtOnce (the adapter's) run at once, and every identity asked for while they run goes
 * into the next one, so a burst of a hundred suspensions costs a few batched
 * adapter calls, not a hundred. An identity is in one round at a time, so
 * its adapter calls never interleave. The verdict is taken when the round starts, from the
 * index as it is then: the latest state wins, whatever order the events
 * came in.
 *
 * A failed call is retried with backoff (the identities join a later round);
 * after the configured attempts the callers waiting for those identities get
 * the error, so an event handler fails and its event is retried by the
 * queue. A device is never counted as enforced before its call succeeded.
 */
import type { BrokerAdapter, Device } from './broker-port.js';
import type { AgentClock } from './agent-clock.js';
import type { AgentLog } from './agent-log.js';
import type { AgentMetrics } from './agent-metrics.js';
import { DeviceIndex, verdictOf, type Verdict } from './device-index.js';

export interface EnforcementSettings {
  /** Waits before the 2nd, 3rd… attempt of a failed call (ms); its length + 1 is the number of attempts. */
  readonly retryDelaysMs: readonly number[];
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface Pending {
  readonly waiters: Waiter[];
  /** Failed attempts so far. */
  failures: number;
  /** Not before this time (ms since epoch): the backoff of the last failure. */
  notBefore: number;
  lastError: unknown;
}


const OPERATIONS: Readonly<Record<Verdict, 'letBackIn' | 'shutOut' | 'endForGood'>> = { 'let-in': 'letBackIn', 'shut-out': 'shutOut', ended: 'endForGood' };

export class Enforcement {
  private readonly pending = new Map<string, Pending>();
  /** Identities in a running round, and how many rounds run. */
  private readonly inFlight = new Set<string>();
  private rounds = 0;
  private timerArmed = false;
  private pumpScheduled = false;
  private closed = false;
  /** The verdict last carried out per identity (for the metrics gauge). */
  private readonly applied = new Map<string, Verdict>();

  constructor(
    private readonly adapter: BrokerAdapter,
    private readonly index: DeviceIndex,
    private readonly clock: AgentClock,
    private readonly log: AgentLog,
    private readonly metrics: AgentMetrics,
    private readonly settings: EnforcementSettings,
  ) {}

  /** Resolves once the current verdict of every identity given has been carried out; rejects when that failed for good. */
  enforce(identities: Iterable<string>): Promise<void> {
    const promises: Promise<void>[] = [];
    for (const identity of new Set(identities)) {
      promises.push(
        new Promise<void>((resolve, reject) => {
          let entry = this.pending.get(identity);
          if (!entry) this.pending.set(identity, (entry = { waiters: [], failures: 0, notBefore: 0, lastError: null }));
          entry.waiters.push({ resolve, reject });
        }),
      );
    }
    if (promises.length === 0) return Promise.resolve();
    this.pumpSoon();
    return Promise.all(promises).then(() => undefined);
  }

  /** How many identities were last let in, shut out, ended. */
  counts(): Record<Verdict, number> {
    const counts: Record<Verdict, number> = { 'let-in': 0, 'shut-out': 0, ended: 0 };
    for (const verdict of this.applied.values()) counts[verdict]++;
    return counts;
  }

  verdictApplied(identity: string): Verdict | undefined {
    return this.applied.get(identity);
  }

  close(): void {
    this.closed = true;
    const error = new Error('the agent is stopping');
    for (const entry of this.pending.values()) for (const waiter of entry.waiters) waiter.reject(error);
    this.pending.clear();
  }

  /**
   * Pumps once the events in hand have all asked: the handlers of one feed
   * page or one batch of queue jobs run within one turn of the event loop,
   * and starting a round at each one's ask gave a burst one round per event
   * until roundsAtOnce were under way (NATS: 16 single-device calls, each
   * waiting for its reload, before the 84 that came with them; bench).
   */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Starts rounds while fewer than the adapter's roundsAtOnce run: each takes every due
   * identity that is not in a running round, so one identity's calls never
   * overlap while a burst is not held back behind one slow call.
   */
  private pump(): void {
    while (!this.closed && this.rounds < this.adapter.roundsAtOnce) {
      const now = this.clock.now().getTime();
      const due = [...this.pending].filter(([identity, entry]) => entry.notBefore <= now && !this.inFlight.has(identity));
      if (due.length === 0) {
        const waiting = [...this.pending].filter(([identity]) => !this.inFlight.has(identity)).map(([, entry]) => entry.notBefore);
        if (waiting.length > 0 && !this.timerArmed) {
          this.timerArmed = true;
          void this.clock.sleep(Math.max(1, Math.min(...waiting) - now)).then(() => {
            this.timerArmed = false;
            this.pump();
          });
        }
        return;
      }
      for (const [identity] of due) {
        this.pending.delete(identity);
        this.inFlight.add(identity);
      }
      this.rounds++;
      void this.round(due).finally(() => {
        this.rounds--;
        for (const [identity] of due) this.inFlight.delete(identity);
        this.pump();
      });
    }
  }

  private async round(due: ReadonlyArray<[string, Pending]>): Promise<void> {
    const now = this.clock.now();
    const groups: Record<Verdict, Array<{ device: Device; entry: Pending }>> = { 'let-in': [], 'shut-out': [], ended: [] };
    for (const [identity, entry] of due) {
      const device = this.index.device(identity);
      if (!device) {
        // No certificate of it is known any more (a snapshot dropped it): nothing to let in; keeping it out is the broker's default.
        for (const waiter of entry.waiters) waiter.resolve();
        continue;
      }
      groups[verdictOf(device.certificates, now)].push({ device, entry });
    }
    // Keeping out first: when a burst mixes both, the suspensions are not held back by a large let-in.
    await Promise.all(
      (['shut-out', 'ended', 'let-in'] as const).map(async (verdict) => {
        const group = groups[verdict];
        if (group.length === 0) return;
        const operation = OPERATIONS[verdict];
        const started = performance.now();
        try {
          await this.adapter[operation](group.map(({ device }) => device));
          const seconds = (performance.now() - started) / 1000;
          this.metrics.brokerCall(operation, 'ok', seconds);
          for (const { device, entry } of group) {
            this.applied.set(device.identity, verdict);
            for (const waiter of entry.waiters) waiter.resolve();
          }
          this.metrics.setEnforced(this.counts());
          this.log.debug('broker call done', { operation, devices: group.length, ms: Math.round(seconds * 10_000) / 10 });
        } catch (error) {
          this.metrics.brokerCall(operation, 'failed', (performance.now() - started) / 1000);
          this.failed(group.map(({ device, entry }) => [device.identity, entry] as const), operation, error);
        }
      }),
    );
  }

  private failed(entries: ReadonlyArray<readonly [string, Pending]>, operation: string, error: unknown): void {
    const attempts = this.settings.retryDelaysMs.length + 1;
    const failures = entries[0]![1].failures + 1;
    const message = (error as Error)?.message ?? String(error);
    const retrying = entries.filter(([, entry]) => entry.failures + 1 < attempts);
    const givenUp = entries.filter(([, entry]) => entry.failures + 1 >= attempts);
    if (retrying.length > 0) {
      const delay = this.settings.retryDelaysMs[Math.min(failures - 1, this.settings.retryDelaysMs.length - 1)]!;
      this.log.warn('broker call failed; retrying', { operation, devices: retrying.length, attempt: failures, retryInMs: delay, error: message });
    }
    if (givenUp.length > 0) this.log.error('broker call failed; giving up for now (the event is retried from the queue, and the next reconciliation enforces it)', { operation, devices: givenUp.length, attempts, error: message });
    const now = this.clock.now().getTime();
    for (const [identity, entry] of retrying) {
      entry.failures++;
      entry.lastError = error;
      entry.notBefore = now + this.settings.retryDelaysMs[entry.failures - 1]!;
      const newer = this.pending.get(identity);
      // Callers who asked meanwhile are served by the retry too.
      if (newer) entry.waiters.push(...newer.waiters);
      this.pending.set(identity, entry);
    }
    for (const [, entry] of givenUp) for (const waiter of entry.waiters) waiter.reject(error);
  }
}
