/**
 * Coalescing concurrent calls into batches: group commit for database writes
 * and Transit `batch_input` for signatures. Under light load an item goes out
 * at once, alone; while `maxInFlight` batches are out, new items wait and
 * leave together in the next batch (at most `maxBatch` of them). So a batch
 * grows with the load instead of with a timer, and no caller waits for one
 * unless `lingerMs` asks for it.
 */

export interface CoalescerOptions<I, O> {
  /** Most items in one batch. */
  readonly maxBatch: number;
  /** Batches that may be out at once (1 for a single-writer database). */
  readonly maxInFlight: number;
  /** How long a lone item waits for company before it leaves anyway; 0: it does not wait. */
  readonly lingerMs?: number;
  /**
   * Let a lone item wait until the end of the current event-loop turn
   * (setImmediate), so that the requests read from the sockets in the same
   * turn leave together. For writers whose cost is per batch and synchronous,
   * like an SQLite commit, where nothing else arrives while a batch is out.
   */
  readonly gatherTurn?: boolean;
  /**
   * Handles one batch. Resolves with one outcome per item, in order: a value,
   * or an Error for that item alone. A rejection fails every item of the batch.
   */
  readonly run: (items: readonly I[]) => Promise<readonly (O | Error)[]>;
  /** Told each batch's size when it leaves (metrics, tests). */
  readonly onBatch?: (size: number) => void;
}

interface Waiting<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
}

export class Coalescer<I, O> {
  private queue: Waiting<I, O>[] = [];
  private inFlight = 0;
  private lingering: NodeJS.Timeout | null = null;
  private gathering: NodeJS.Immediate | null = null;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly options: CoalescerOptions<I, O>) {
    if (!(options.maxBatch >= 1) || !(options.maxInFlight >= 1)) throw new RangeError('maxBatch and maxInFlight must be at least 1');
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Items waiting and batches out; 0 and 0 once everything submitted is settled. */
  get pending(): { readonly queued: number; readonly inFlight: number } {
    return { queued: this.queue.length, inFlight: this.inFlight };
  }

  /** Resolves when nothing is queued or out (for an orderly shutdown). */
  drained(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    this.flushLinger();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const linger = this.options.lingerMs ?? 0;
      if (this.options.gatherTurn && linger === 0 && this.queue.length < this.options.maxBatch) {
        this.gathering ??= setImmediate(() => this.flushLinger());
        return;
      }
      if (linger > 0 && this.queue.length < this.options.maxBatch) {
        this.lingering ??= setTimeout(() => this.flushLinger(), linger);
        return;
      }
      this.send(this.queue.splice(0, this.options.maxBatch));
    }
  }

  private flushLinger(): void {
    if (this.lingering) clearTimeout(this.lingering);
    if (this.gathering) clearImmediate(this.gathering);
    this.lingering = null;
    this.gathering = null;
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) this.send(this.queue.splice(0, this.options.maxBatch));
  }

  private send(batch: Waiting<I, O>[]): void {
    this.inFlight += 1;
    this.options.onBatch?.(batch.length);
    let outcome: Promise<readonly (O | Error)[]>;
    try {
      outcome = this.options.run(batch.map((waiting) => waiting.item));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome
      .then((results) => {
        if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} came back with ${results.length} outcomes`);
        batch.forEach((waiting, i) => {
          const result = results[i]!;
          if (result instanceof Error) waiting.reject(result);
          else waiting.resolve(result);
        });
      })
      .catch((error: unknown) => {
        for (const waiting of batch) waiting.reject(error);
      })
      .finally(() => {
        this.inFlight -= 1;
        if (this.queue.length > 0) {
          if (this.lingering || this.gathering) this.flushLinger();
          else this.pump();
        }
        if (this.queue.length === 0 && this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
  }
}
