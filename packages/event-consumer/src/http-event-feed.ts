/**
 * HttpEventFeedConsumer: the same events as CcmEventConsumer for installs
 * without Redis, read from ccm's `GET /v1/events?after=<cursor>`. It long
 * polls (`waitMs`): ccm holds a request whose page would be empty until an
 * event commits, so an event is handled within a round trip of its commit,
 * and a burst arrives in pages rather than one delivery per event. The
 * cursor (the position of the last event handled) lives in a CursorStore,
 * so a restart resumes where it stopped. A handler that throws is retried in
 * place with exponential backoff, and the cursor never moves past an event
 * that was not handled (at least once). By default events are handled one
 * at a time in feed order. With `concurrency` above 1, up to that many are
 * handled at once, in the order they were read: the next page is read while
 * the last one is handled, and the cursor moves over every event handled so
 * far without a gap. That is for handlers that do not depend on order
 * between events (a handler that must keep one key's events in order
 * serialises them itself, as the broker agents do per certificate).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CcmEvent } from './event-contract.js';
import type { CcmEventHandler } from './ccm-event-consumer.js';
import { InvalidCcmEventError, parseCcmEvent } from './event-validation.js';

/** Where the feed position is kept between runs. */
export abstract class CursorStore {
  /** null when nothing was ever handled: the feed starts from its beginning. */
  abstract load(): Promise<string | null>;
  abstract save(cursor: string): Promise<void>;
}

/** A cursor in a small file, replaced atomically (temp file + rename) so a crash never leaves half a cursor. */
export class FileCursorStore extends CursorStore {
  constructor(private readonly path: string) {
    super();
  }

  async load(): Promise<string | null> {
    try {
      const text = (await readFile(this.path, 'utf8')).trim();
      return text === '' ? null : text;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async save(cursor: string): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.${process.pid}.tmp`;
    await writeFile(temporary, `${cursor}\n`, { mode: 0o600 });
    await rename(temporary, this.path);
  }
}

export class InMemoryCursorStore extends CursorStore {
  constructor(private cursor: string | null = null) {
    super();
  }
  async load(): Promise<string | null> {
    return this.cursor;
  }
  async save(cursor: string): Promise<void> {
    this.cursor = cursor;
  }
}

export interface HttpEventFeedObserver {
  handlerFailed?(event: CcmEvent, error: Error, attempt: number, retryInMs: number): void;
  /** An item that is not a valid event; it is skipped (the cursor moves past it). */
  rejected?(position: string, error: InvalidCcmEventError): void;
  /** The feed could not be read (network, 5xx); polling continues. */
  pollFailed?(error: Error): void;
}

export interface HttpEventFeedOptions {
  /** ccm's base URL, e.g. http://ccm:8080 */
  readonly baseUrl: string;
  readonly handler: CcmEventHandler;
  readonly cursorStore: CursorStore;
  /** Only this tenant's events (the feed's tenantId filter); all tenants when absent. */
  readonly tenantId?: string;
  /**
   * Long polling: how long ccm may hold a request open waiting for the next
   * event, in milliseconds (its `waitMs`; 0 to poll). Default 20000. The
   * request's own timeout is this plus `requestTimeoutMs`.
   */
  readonly waitMs?: number;
  /** Wait between polls once the feed is drained, in milliseconds (when `waitMs` is 0, or ccm answered an empty page early). */
  readonly pollIntervalMs?: number;
  /** Events per request. */
  readonly pageSize?: number;
  /** Events of one page handled at once (default 1: strictly in order). */
  readonly concurrency?: number;
  /** Headers sent with every request (e.g. authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Timeout of one feed request, in milliseconds. */
  readonly requestTimeoutMs?: number;
  /** First and largest wait before retrying a failed handler or poll, in milliseconds. */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  readonly observer?: HttpEventFeedObserver;
}

interface FeedPage {
  readonly items: ReadonlyArray<Record<string, unknown> & { position: string }>;
  readonly nextCursor: string | null;
  /** The request asked ccm to wait and was answered after at least half of that wait. */
  readonly waited: boolean;
}

export class HttpEventFeedConsumer {
  private readonly stop = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(private readonly options: HttpEventFeedOptions) {}

  /** Loads the cursor and starts polling in the background. */
  async start(): Promise<void> {
    if (this.loop) throw new Error('HttpEventFeedConsumer already started');
    const cursor = await this.options.cursorStore.load();
    this.loop = this.run(cursor);
  }

  /** Stops polling; an event being handled is finished first (its cursor is saved). */
  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  private async run(initialCursor: string | null): Promise<void> {
    if ((this.options.concurrency ?? 1) > 1) return this.runConcurrently(initialCursor, this.options.concurrency!);
    let cursor = initialCursor;
    const pageSize = this.options.pageSize ?? 100;
    while (!this.stop.signal.aborted) {
      const page = await this.nextPage(cursor, pageSize);
      if (!page) return;
      for (const item of page.items) {
        if (this.stop.signal.aborted) return;
        const handled = await this.handleInOrder(item);
        if (!handled) return; // stopped while retrying: the cursor stays before this event
        cursor = item.position;
        await this.options.cursorStore.save(cursor);
      }
      await this.afterPage(page, pageSize);
    }
  }

  /**
   * Reads on while earlier events are still being handled, up to
   * `concurrency` events in hand. The saved cursor is the last event of the
   * handled prefix: an event still in hand (or retrying) holds it back, so
   * after a restart that event and those after it come again.
   */
  private async runConcurrently(initialCursor: string | null, concurrency: number): Promise<void> {
    const pageSize = this.options.pageSize ?? 100;
    let readCursor = initialCursor;
    /** Events read and not yet passed by the saved cursor, in feed order. */
    const inHand: Array<{ readonly position: string; done: boolean }> = [];
    const running = new Set<Promise<void>>();
    let saving: Promise<void> = Promise.resolve();
    /**
     * A cursor save that failed, or a handler that threw other than by failing
     * its event (a bug): everything in hand stops (as on close) and run()
     * rejects with it; the cursor stays before whatever was not handled.
     */
    let failure: unknown = null;
    const fail = (error: unknown): void => {
      failure ??= error;
      this.stop.abort();
    };
    const advance = (): void => {
      let cursor: string | null = null;
      while (inHand[0]?.done) cursor = inHand.shift()!.position;
      if (cursor === null) return;
      const save = cursor;
      saving = saving.then(() => this.options.cursorStore.save(save)).catch(fail);
    };
    try {
      while (!this.stop.signal.aborted && failure === null) {
        while (inHand.length >= concurrency && running.size > 0 && !this.stop.signal.aborted) await Promise.race(running);
        // Still full with nothing running: only after a stop or a failure, which end the loop.
        if (inHand.length >= concurrency || failure !== null) break;
        const page = await this.nextPage(readCursor, Math.min(pageSize, concurrency - inHand.length));
        if (!page) break;
        for (const item of page.items) {
          const entry = { position: item.position, done: false };
          inHand.push(entry);
          const handling: Promise<void> = this.handleInOrder(item)
            .then(
              (handled) => {
                // Not handled: stopped while retrying; the entry stays undone and holds the cursor back.
                if (!handled) return;
                entry.done = true;
                advance();
              },
              fail,
            )
            .finally(() => running.delete(handling));
          running.add(handling);
          readCursor = item.position;
        }
        await this.afterPage(page, pageSize);
      }
    } finally {
      await Promise.all(running);
      await saving;
    }
    if (failure !== null) throw failure;
  }

  /** The next page, reading again after failures with backoff; null once stopped. */
  private async nextPage(cursor: string | null, limit: number): Promise<FeedPage | null> {
    for (let failures = 0; !this.stop.signal.aborted; ) {
      try {
        return await this.fetchPage(cursor, limit);
      } catch (error) {
        if (this.stop.signal.aborted) return null;
        failures += 1;
        this.options.observer?.pollFailed?.(error as Error);
        await this.sleep(this.backoff(failures));
      }
    }
    return null;
  }

  /**
   * A short page means the feed is drained for now. Long polling reads
   * again at once (ccm waits for the next event); plain polling, or a ccm
   * that answered an empty page without waiting, waits the interval first.
   */
  private async afterPage(page: FeedPage, limit: number): Promise<void> {
    if (page.items.length >= limit) return;
    if (this.waitMs() > 0 && (page.items.length > 0 || page.waited)) return;
    await this.sleep(this.options.pollIntervalMs ?? 1000);
  }

  private waitMs(): number {
    return this.options.waitMs ?? 20_000;
  }

  /** Handles one item, retrying until it succeeds; false if stopped first. Invalid items count as handled (skipped). */
  private async handleInOrder(item: FeedPage['items'][number]): Promise<boolean> {
    const { position, ...payload } = item;
    let event: CcmEvent;
    try {
      event = parseCcmEvent(payload);
    } catch (error) {
      if (!(error instanceof InvalidCcmEventError)) throw error;
      this.options.observer?.rejected?.(String(position), error);
      return true;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.handler(event, { attempt, maxAttempts: Number.POSITIVE_INFINITY, queue: 'http-feed', position: String(position) });
        return true;
      } catch (error) {
        const wait = this.backoff(attempt);
        this.options.observer?.handlerFailed?.(event, error as Error, attempt, wait);
        await this.sleep(wait);
        if (this.stop.signal.aborted) return false;
      }
    }
  }

  private async fetchPage(cursor: string | null, limit: number): Promise<FeedPage> {
    const url = new URL('/v1/events', this.options.baseUrl);
    if (cursor !== null) url.searchParams.set('after', cursor);
    url.searchParams.set('limit', String(limit));
    if (this.options.tenantId) url.searchParams.set('tenantId', this.options.tenantId);
    const waitMs = this.waitMs();
    if (waitMs > 0) url.searchParams.set('waitMs', String(waitMs));
    const started = performance.now();
    const timeout = AbortSignal.timeout(waitMs + (this.options.requestTimeoutMs ?? 10_000));
    const response = await fetch(url, { headers: { accept: 'application/json', ...this.options.headers }, signal: AbortSignal.any([timeout, this.stop.signal]) });
    if (!response.ok) throw new Error(`GET ${url.pathname}${url.search} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    const body = (await response.json()) as Partial<FeedPage>;
    if (!Array.isArray(body.items)) throw new Error(`GET ${url.pathname} answered without an items array`);
    for (const item of body.items) {
      if (typeof item !== 'object' || item === null || (typeof item.position !== 'string' && typeof item.position !== 'number')) throw new Error('an event in the feed has no position');
    }
    // An empty page answered well before the wait was up comes from a ccm that does not wait (or is stopping): poll instead of spinning.
    const waited = waitMs > 0 && performance.now() - started >= waitMs / 2;
    return { items: body.items.map((item) => ({ ...item, position: String(item.position) })), nextCursor: body.nextCursor ?? null, waited };
  }

  private backoff(attempt: number): number {
    const base = this.options.retryBaseMs ?? 1000;
    const max = this.options.retryMaxMs ?? 60_000;
    return Math.min(max, base * 2 ** Math.min(attempt - 1, 20));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stop.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      const signal = this.stop.signal;
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }
}
