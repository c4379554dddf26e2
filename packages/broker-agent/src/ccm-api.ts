/**
 * ccm's REST API as the agents use it: a thin fetch wrapper (base URL,
 * API key, timeout, errors that say which request failed). Every answer is
 * checked by its caller before it is trusted.
 */
export class CcmRequestError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number | null,
    detail: string,
  ) {
    super(`${method} ${path} ${status === null ? 'failed' : `answered ${status}`}: ${detail}`);
    this.name = 'CcmRequestError';
  }
}

export interface CcmApiOptions {
  readonly baseUrl: string;
  /** Authorization header value, when ccm asks for an API key. */
  readonly authorization?: string | null;
  readonly timeoutMs?: number;
  /** Sees every request's outcome and duration (the agent logs them at debug level). */
  readonly onResponse?: (path: string, status: number | null, ms: number) => void;
}

/** A thin fetch wrapper: base URL, timeout, errors that say which request failed. */
export class CcmApi {
  constructor(private readonly options: CcmApiOptions) {}

  async text(path: string, accept: string): Promise<string> {
    return (await this.get(path, accept)).text();
  }

  async json<T>(path: string): Promise<T> {
    const response = await this.get(path, 'application/json');
    try {
      return (await response.json()) as T;
    } catch (error) {
      throw new CcmRequestError('GET', path, response.status, `not JSON (${(error as Error).message})`);
    }
  }

  /** 404 as null, for lookups where "unknown" is an answer. */
  async jsonOrNull<T>(path: string): Promise<T | null> {
    try {
      return await this.json<T>(path);
    } catch (error) {
      if (error instanceof CcmRequestError && error.status === 404) return null;
      throw error;
    }
  }

  private async get(path: string, accept: string): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (this.options.authorization) headers['authorization'] = this.options.authorization;
    let response: Response;
    const started = performance.now();
    try {
      response = await fetch(new URL(path, `${this.options.baseUrl}/`), { headers, signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000) });
    } catch (error) {
      this.options.onResponse?.(path, null, performance.now() - started);
      throw new CcmRequestError('GET', path, null, (error as Error).message);
    }
    this.options.onResponse?.(path, response.status, performance.now() - started);
    if (!response.ok) throw new CcmRequestError('GET', path, response.status, (await response.text().catch(() => '')).slice(0, 300));
    return response;
  }
}

