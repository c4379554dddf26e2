/**
 * HttpEventFeedConsumer: the same events as CcmEventConsumer for installs
 * without Redis, read by polling ccm's `GET /v1/events?after=<cursor>`. The
 * cursor (the position of the last event handled) lives in a CursorStore, so
 * a restart resumes where it stopped. A handler that throws is retried in
 * place with exponential backoff, and the cursor never moves past an event
 * that was not handled (at least once). By default events are handled one
 * at a time in feed order; with `concurrency` above 1 the events of a page
 * are handled up to that many at once and the cursor moves when the whole
 * page is done, for handlers that do not depend on order.
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
  /** Wait between polls once the feed is drained, in milliseconds. */
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
    let cursor = initialCursor;
    let pollFailures = 0;
    const interval = this.options.pollIntervalMs ?? 1000;
    const pageSize = this.options.pageSize ?? 100;
    while (!this.stop.signal.aborted) {
      let page: FeedPage;
      try {
        page = await this.fetchPage(cursor, pageSize);
        pollFailures = 0;
      } catch (error) {
        if (this.stop.signal.aborted) return;
        pollFailures += 1;
        this.options.observer?.pollFailed?.(error as Error);
        await this.sleep(this.backoff(pollFailures));
        continue;
      }
      const concurrency = this.options.concurrency ?? 1;
      if (concurrency <= 1) {
        for (const item of page.items) {
          if (this.stop.signal.aborted) return;
          const handled = await this.handleInOrder(item);
          if (!handled) return; // stopped while retrying: the cursor stays before this event
          cursor = item.position;
          await this.options.cursorStore.save(cursor);
        }
      } else if (page.items.length > 0) {
        let next = 0;
        let complete = true;
        await Promise.all(
          Array.from({ length: Math.min(concurrency, page.items.length) }, async () => {
            while (next < page.items.length && !this.stop.signal.aborted) {
              if (!(await this.handleInOrder(page.items[next++]!))) complete = false;
            }
          }),
        );
        if (!complete || this.stop.signal.aborted) return; // the page is handled again after a restart
        cursor = page.items.at(-1)!.position;
        await this.options.cursorStore.save(cursor);
      }
      // A full page means more is waiting; otherwise the feed is drained for now.
      if (page.items.length < pageSize) await this.sleep(interval);
    }
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
        await this.options.handler(event, { attempt, maxAttempts: Number.POSITIVE_INFINITY, queue: 'http-feed' });
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
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs ?? 10_000);
    const response = await fetch(url, { headers: { accept: 'application/json', ...this.options.headers }, signal: AbortSignal.any([timeout, this.stop.signal]) });
    if (!response.ok) throw new Error(`GET ${url.pathname}${url.search} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    const body = (await response.json()) as Partial<FeedPage>;
    if (!Array.isArray(body.items)) throw new Error(`GET ${url.pathname} answered without an items array`);
    for (const item of body.items) {
      if (typeof item !== 'object' || item === null || (typeof item.position !== 'string' && typeof item.position !== 'number')) throw new Error('an event in the feed has no position');
    }
    return { items: body.items.map((item) => ({ ...item, position: String(item.position) })), nextCursor: body.nextCursor ?? null };
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
