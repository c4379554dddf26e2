/**
 * CcmEventConsumer: reads one event subscriber's BullMQ queue on Redis
 * (`ccm-events-<subscriberId>`, filled by ccm's outbox relay), validates each
 * job as a ccm event and hands it to an async handler. A handler that returns
 * acknowledges the event; one that throws fails the attempt and BullMQ
 * retries it with the backoff ccm put on the job (20 attempts, exponential
 * from 1 s). A payload that is not a ccm event of a known contract version is
 * failed at once, without retries, and stays in the queue's failed set.
 *
 * Ordering: with the default concurrency of 1, events are handled one at a
 * time in the order ccm committed them, as long as handlers succeed. A failed
 * attempt goes to BullMQ's delayed set while later events proceed, so a
 * handler must not assume it sees a certificate's transitions in order when
 * retries happen: act on the certificate's current state (as the Mosquitto
 * agent does), not on the event's type alone.
 *
 * Read-ahead (`readAhead`, for an order-independent handler): a BullMQ
 * worker takes jobs one Redis round trip after another, and holds those it
 * took until its fetching stops, so 100 events queued together reached the
 * handler over 250-370 ms in a burst (bench/suspend-to-disconnect), even
 * with several workers. Each time a job is taken, the consumer therefore
 * also reads the events still waiting or taken but not started, in one
 * read, and starts their handlers at once. The job stays in the queue
 * until BullMQ hands it out; its attempt is then the handling already under
 * way (or done), and the job is acknowledged only if that succeeded. A
 * read-ahead handling that failed is run again by the job's own attempt, so
 * the retry rules above are unchanged and each event is acknowledged only
 * once it was handled successfully.
 */
import { Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { subscriberQueueName, type CcmEvent } from './event-contract.js';
import { InvalidCcmEventError, parseCcmEvent } from './event-validation.js';

/** What the handler learns about a delivery besides the event. */
export interface CcmEventDelivery {
  /** 1 on the first attempt, incremented by every retry. */
  readonly attempt: number;
  /** Attempts BullMQ will make in all (from the job's options). */
  readonly maxAttempts: number;
  /** The queue the event came from. */
  readonly queue: string;
  /** When the event was put on the queue (ccm's relay), if known: with the event's time, it says where delivery time went. */
  readonly queuedAt?: Date;
  /**
   * The event's outbox position (the HTTP feed's, and the job data's from
   * ccm's relay; absent from jobs published before positions were). Positions
   * follow commit order, so of two events of one certificate the one with
   * the higher position says its newer state, whatever order they are
   * handled in (a retry comes after later events).
   */
  readonly position?: string;
}

export type CcmEventHandler = (event: CcmEvent, delivery: CcmEventDelivery) => Promise<void>;

/** Observations for logs and metrics; none of them may throw. */
export interface CcmEventConsumerObserver {
  /** A handler attempt threw; `willRetry` is false when the attempts are used up (the event stays in the failed set). */
  handlerFailed?(event: CcmEvent, error: Error, delivery: CcmEventDelivery, willRetry: boolean): void;
  /** A job whose data is not a ccm event this consumer understands; it is failed without retries. */
  rejected?(jobId: string, error: InvalidCcmEventError): void;
  /** A read-ahead started `started` handlings; the read of the waiting jobs took `ms`. */
  readAhead?(started: number, ms: number): void;
  /** Redis connection problems (BullMQ keeps reconnecting). */
  connectionError?(error: Error): void;
}

export interface CcmEventConsumerOptions {
  /** Redis URL (redis://host:6379/0 or rediss://...) or BullMQ connection options. */
  readonly redis: string | ConnectionOptions;
  /** The subscriber id ccm returned from POST /v1/event-subscribers; the queue is derived from it. */
  readonly subscriberId: string;
  readonly handler: CcmEventHandler;
  /** Events handled at once. Keep 1 unless the handler is order-independent. */
  readonly concurrency?: number;
  /**
   * BullMQ workers sharing `concurrency` between them, each on its own Redis
   * connection (default 1). A worker takes jobs off the queue one round trip
   * after another, so a burst of events queued together waits for that many
   * round trips before the last is handled; several workers take it that many
   * at a time. Like concurrency above 1, only for an order-independent handler.
   */
  readonly workers?: number;
  /**
   * Events still waiting in the queue whose handling may start before BullMQ
   * hands them out (see the header); 0, the default, reads none ahead. Only
   * for an order-independent handler.
   */
  readonly readAhead?: number;
  /** BullMQ key prefix; ccm publishes under the default `bull`. */
  readonly prefix?: string;
  /**
   * How long a handler attempt may run before BullMQ considers the worker dead
   * and hands the event to another worker (lock duration), in milliseconds.
   */
  readonly lockDurationMs?: number;
  readonly observer?: CcmEventConsumerObserver;
}

/**
 * With read-ahead on, a settled handling is kept this long, for the job's own
 * attempt (another consumer of the queue may take the job instead, and a
 * queue that lags further gets the event handled twice, which an
 * order-independent handler allows).
 */
const HANDLING_KEPT_MS = 2 * 60_000;

interface Handling {
  readonly done: Promise<void>;
  settledAt: number | null;
}

export class CcmEventConsumer {
  readonly queue: string;
  private workers: Worker[] | null = null;
  private closing: Promise<void> | null = null;
  /** Handlings under way or done, by job id, until the job's own attempt has used them. */
  private readonly handlings = new Map<string, Handling>();
  private waitingJobs: Queue | null = null;
  private readingAhead = false;
  private readAgain = false;
  private earlyInHand = 0;

  constructor(private readonly options: CcmEventConsumerOptions) {
    if (!options.subscriberId) throw new Error('CcmEventConsumer needs a subscriberId');
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer, got ${concurrency}`);
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > concurrency) throw new Error(`workers must be an integer from 1 to the concurrency, got ${workers}`);
    const readAhead = options.readAhead ?? 0;
    if (!Number.isInteger(readAhead) || readAhead < 0) throw new Error(`readAhead must be an integer of 0 or more, got ${readAhead}`);
    this.queue = subscriberQueueName(options.subscriberId);
  }

  /** Connects and starts taking events; resolves once every worker's Redis connection is ready. */
  async start(): Promise<void> {
    if (this.workers) throw new Error('CcmEventConsumer already started');
    const count = this.options.workers ?? 1;
    const concurrency = this.options.concurrency ?? 1;
    if ((this.options.readAhead ?? 0) > 0) {
      this.waitingJobs = new Queue(this.queue, { connection: this.connection(), ...(this.options.prefix ? { prefix: this.options.prefix } : {}) });
      this.waitingJobs.on('error', (error: Error) => safely(() => this.options.observer?.connectionError?.(error)));
    }
    this.workers = Array.from({ length: count }, (_, i) => this.startWorker(Math.floor(concurrency / count) + (i < concurrency % count ? 1 : 0)));
    await Promise.all([...this.workers.map((worker) => worker.waitUntilReady()), this.waitingJobs?.waitUntilReady()]);
  }

  /** Stops taking events, waits for those in hand to finish, and disconnects. Safe to call twice. */
  close(): Promise<void> {
    if (!this.workers) return Promise.resolve();
    this.closing ??= (async () => {
      await Promise.all(this.workers!.map((worker) => worker.close()));
      // Read-ahead handlings still under way finish before the connection goes; their jobs wait for the next consumer.
      await Promise.allSettled([...this.handlings.values()].map((handling) => handling.done));
      await this.waitingJobs?.close();
    })();
    return this.closing;
  }

  private connection(): ConnectionOptions {
    // A blocking worker connection must retry commands forever (BullMQ requires maxRetriesPerRequest null).
    return typeof this.options.redis === 'string' ? { url: this.options.redis, maxRetriesPerRequest: null } : this.options.redis;
  }

  private startWorker(concurrency: number): Worker {
    const { observer } = this.options;
    const worker = new Worker(this.queue, (job: Job) => this.process(job), {
      connection: this.connection(),
      concurrency,
      ...(this.options.prefix ? { prefix: this.options.prefix } : {}),
      ...(this.options.lockDurationMs ? { lockDuration: this.options.lockDurationMs } : {}),
      autorun: true,
    });
    worker.on('error', (error: Error) => safely(() => observer?.connectionError?.(error)));
    worker.on('failed', (job: Job | undefined, error: Error) => {
      if (!job || error instanceof InvalidCcmEventError || error instanceof UnrecoverableError) return;
      const event = job.data as CcmEvent;
      // By the time 'failed' fires BullMQ has counted the attempt that just failed.
      const delivery: CcmEventDelivery = { attempt: job.attemptsMade, maxAttempts: job.opts.attempts ?? 1, queue: this.queue };
      const willRetry = job.attemptsMade < delivery.maxAttempts;
      safely(() => observer?.handlerFailed?.(event, error, delivery, willRetry));
    });
    return worker;
  }

  private async process(job: Job): Promise<void> {
    let event: CcmEvent;
    try {
      event = parseCcmEvent(job.data);
    } catch (error) {
      if (!(error instanceof InvalidCcmEventError)) throw error;
      safely(() => this.options.observer?.rejected?.(job.id ?? '?', error));
      // UnrecoverableError: BullMQ fails the job now instead of retrying something that will never parse.
      throw new UnrecoverableError(error.message);
    }
    this.readAhead();
    const id = job.id ?? '';
    const earlier = this.handlings.get(id);
    // The handling a read-ahead started (or an attempt of a job BullMQ hands out again): acknowledged once it succeeded.
    if (earlier && (await succeeded(earlier.done))) return;
    const handling: Handling = { done: this.options.handler(event, deliveryOf(job, this.queue)), settledAt: null };
    this.handlings.set(id, handling);
    try {
      await handling.done;
    } finally {
      // Kept a while with read-ahead on: a read that listed the job before this attempt took it must not start it again.
      if (this.waitingJobs) handling.settledAt = Date.now();
      else this.handlings.delete(id);
    }
  }

  /** Starts the handlers of the events waiting in the queue (one read at a time; a job taken meanwhile asks for one more). */
  private readAhead(): void {
    const limit = this.options.readAhead ?? 0;
    if (limit === 0 || !this.waitingJobs || this.closing) return;
    if (this.readingAhead) {
      this.readAgain = true;
      return;
    }
    this.readingAhead = true;
    void (async () => {
      try {
        do {
          this.readAgain = false;
          this.forgetOldHandlings();
          const room = limit - this.earlyInHand;
          if (room <= 0) break;
          // Active too: a worker moves jobs to active one round trip at a time and starts none of them until its
          // fetching stops, so in a burst a job can sit there, taken but not handled, for 100 ms and more (measured).
          // The ids in one round trip, then the jobs together: 100 jobs in 8-15 ms on an idle machine, where
          // getWaiting's script and reads took 10-25 ms.
          const readStarted = performance.now();
          const ids = (await this.waitingJobs!.getRanges(['wait', 'active'], 0, room - 1, true)).filter((id) => !this.handlings.has(id));
          const jobs = await Promise.all(ids.map((id) => this.waitingJobs!.getJob(id)));
          const readMs = performance.now() - readStarted;
          let started = 0;
          for (const job of jobs) if (job && this.startEarly(job)) started += 1;
          safely(() => this.options.observer?.readAhead?.(started, readMs));
        } while (this.readAgain && !this.closing);
      } catch (error) {
        // The jobs' own attempts handle them; a failed read only loses the head start.
        safely(() => this.options.observer?.connectionError?.(error as Error));
      } finally {
        this.readingAhead = false;
      }
    })();
  }

  /** Starts the job's handling unless one is under way or done; true when it did. */
  private startEarly(job: Job): boolean {
    const id = job.id;
    if (!id || this.handlings.has(id) || job.finishedOn || this.closing) return false;
    let event: CcmEvent;
    try {
      event = parseCcmEvent(job.data);
    } catch {
      return false; // Its own attempt rejects it.
    }
    this.earlyInHand += 1;
    const handling: Handling = { done: this.options.handler(event, deliveryOf(job, this.queue)), settledAt: null };
    this.handlings.set(id, handling);
    // A failure is kept like a success: the job's own attempt then handles the event again, with BullMQ's retries behind it.
    const settled = (): void => {
      this.earlyInHand -= 1;
      handling.settledAt = Date.now();
    };
    handling.done.then(settled, settled);
    return true;
  }

  /** Handlings settled long enough ago: the job's own attempt is done, or never came (another consumer of the queue took it). */
  private forgetOldHandlings(): void {
    const before = Date.now() - HANDLING_KEPT_MS;
    for (const [id, handling] of this.handlings) if (handling.settledAt !== null && handling.settledAt < before) this.handlings.delete(id);
  }
}

function deliveryOf(job: Job, queue: string): CcmEventDelivery {
  // attemptsMade counts finished attempts; during processing the current one is attemptsMade + 1.
  const position = (job.data as { position?: unknown }).position;
  return { attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1, queue, queuedAt: new Date(job.timestamp), ...(typeof position === 'string' && /^\d{1,19}$/.test(position) ? { position } : {}) };
}

function succeeded(handling: Promise<void>): Promise<boolean> {
  return handling.then(
    () => true,
    () => false,
  );
}

function safely(callback: () => void): void {
  try {
    callback();
  } catch {
    // An observer must not break delivery.
  }
}
