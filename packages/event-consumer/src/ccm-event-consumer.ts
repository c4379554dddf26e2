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
 */
import { UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
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
  /** BullMQ key prefix; ccm publishes under the default `bull`. */
  readonly prefix?: string;
  /**
   * How long a handler attempt may run before BullMQ considers the worker dead
   * and hands the event to another worker (lock duration), in milliseconds.
   */
  readonly lockDurationMs?: number;
  readonly observer?: CcmEventConsumerObserver;
}

export class CcmEventConsumer {
  readonly queue: string;
  private workers: Worker[] | null = null;
  private closing: Promise<void> | null = null;

  constructor(private readonly options: CcmEventConsumerOptions) {
    if (!options.subscriberId) throw new Error('CcmEventConsumer needs a subscriberId');
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer, got ${concurrency}`);
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1 || workers > concurrency) throw new Error(`workers must be an integer from 1 to the concurrency, got ${workers}`);
    this.queue = subscriberQueueName(options.subscriberId);
  }

  /** Connects and starts taking events; resolves once every worker's Redis connection is ready. */
  async start(): Promise<void> {
    if (this.workers) throw new Error('CcmEventConsumer already started');
    const count = this.options.workers ?? 1;
    const concurrency = this.options.concurrency ?? 1;
    this.workers = Array.from({ length: count }, (_, i) => this.startWorker(Math.floor(concurrency / count) + (i < concurrency % count ? 1 : 0)));
    await Promise.all(this.workers.map((worker) => worker.waitUntilReady()));
  }

  /** Stops taking events, waits for those in hand to finish, and disconnects. Safe to call twice. */
  close(): Promise<void> {
    if (!this.workers) return Promise.resolve();
    this.closing ??= Promise.all(this.workers.map((worker) => worker.close())).then(() => undefined);
    return this.closing;
  }

  private startWorker(concurrency: number): Worker {
    const { observer } = this.options;
    // A blocking worker connection must retry commands forever (BullMQ requires maxRetriesPerRequest null).
    const connection: ConnectionOptions = typeof this.options.redis === 'string' ? { url: this.options.redis, maxRetriesPerRequest: null } : this.options.redis;
    const worker = new Worker(this.queue, (job: Job) => this.process(job), {
      connection,
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
    await this.options.handler(event, deliveryOf(job, this.queue));
  }
}

function deliveryOf(job: Job, queue: string): CcmEventDelivery {
  // attemptsMade counts finished attempts; during processing the current one is attemptsMade + 1.
  const position = (job.data as { position?: unknown }).position;
  return { attempt: job.attemptsMade + 1, maxAttempts: job.opts.attempts ?? 1, queue, queuedAt: new Date(job.timestamp), ...(typeof position === 'string' && /^\d{1,19}$/.test(position) ? { position } : {}) };
}

function safely(callback: () => void): void {
  try {
    callback();
  } catch {
    // An observer must not break delivery.
  }
}
