/**
 * The HTTP client of the Transit sign path: kept-alive connections and
 * nothing else between the adapter and the socket. Through node-vault (axios
 * and its redirect wrapper underneath) a lone signature request took about
 * three times the CPU of the same request sent here (bench/README.md), and
 * its HTTPS agent opens a new TLS connection for every request. Every other
 * Vault call stays on node-vault.
 *
 * It answers like node-vault's `write`, so the adapter maps failures of both
 * the same way: 200 and 204 resolve with the parsed body (204: `''`), any
 * other status rejects with `{ message: errors[0] or "Status <n>", response:
 * { statusCode, body } }`, and a request that got no answer rejects with an
 * error whose `code` names why (ECONNREFUSED, ECONNRESET, ECONNABORTED for
 * the timeout, TLS codes).
 */
import http from 'node:http';
import https from 'node:https';

export interface VaultSignClientOptions {
  /** Vault's base address, e.g. `https://vault:8200` (without `/v1`). */
  readonly address: string;
  /** Deadline of one call, redirects and the reconnect included. */
  readonly timeoutMs: number;
  /** PEM of the CA that signed Vault's TLS certificate; Node's trust store when omitted. */
  readonly caCertPem?: string;
}

/** Mirrors node-vault's ApiResponseError, which the adapter recognises by `response.statusCode`. */
export class VaultResponseError extends Error {
  readonly response: { readonly statusCode: number; readonly body: unknown };

  constructor(statusCode: number, body: unknown) {
    const errors = (body as { errors?: unknown } | null)?.errors;
    const first = Array.isArray(errors) && typeof errors[0] === 'string' ? errors[0] : undefined;
    super(first ?? `Status ${statusCode}`);
    this.response = { statusCode, body };
  }
}

/** Carries only a code: Node's own socket errors are passed on as they are, and hold no headers. */
class VaultTransportError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

/**
 * Connections kept per Vault address. Each Transit key has a few batches out
 * at most (vault-transit-custody.ts), so this caps only a CA with many busy
 * keys; further requests wait for a free connection inside their deadline.
 */
const MAX_SOCKETS = 32;
/**
 * An idle connection is closed after this long: below Vault's own idle
 * timeout (5 minutes) and the 60 s of common load balancers, so ccm closes
 * first and seldom writes into a connection the other side just dropped.
 */
const IDLE_SOCKET_MS = 15_000;
/**
 * A standby Vault that cannot forward a request redirects the client to the
 * active node with 307; node-vault followed such redirects, so this does too,
 * for a few hops.
 */
const MAX_REDIRECTS = 5;

export class VaultSignClient {
  private readonly endpoint: string;
  private readonly agents: { readonly 'http:': http.Agent; readonly 'https:': https.Agent };

  constructor(private readonly options: VaultSignClientOptions) {
    this.endpoint = options.address.replace(/\/+$/, '');
    this.agents = {
      'http:': new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, timeout: IDLE_SOCKET_MS }),
      // rejectUnauthorized explicit, like node-vault's strictSSL here: no environment variable may switch verification off.
      'https:': new https.Agent({
        keepAlive: true,
        maxSockets: MAX_SOCKETS,
        timeout: IDLE_SOCKET_MS,
        rejectUnauthorized: true,
        ...(options.caCertPem ? { ca: options.caCertPem } : {}),
      }),
    };
  }

  /** Closes the kept-alive connections; a later call opens new ones. */
  close(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }

  /**
   * `POST /v1/<path>` with a JSON body. Only for Transit sign requests: they
   * change nothing in Vault, so one that met a kept-alive connection the
   * server had just closed is sent once more on a new one.
   */
  post(path: string, body: unknown, requestOptions: { readonly headers: Readonly<Record<string, string>> }): Promise<unknown> {
    const payload = JSON.stringify(body);
    return this.send(new URL(`${this.endpoint}/v1/${path}`), payload, requestOptions.headers, Date.now() + this.options.timeoutMs, 0, false);
  }

  private send(url: URL, payload: string, headers: Readonly<Record<string, string>>, deadline: number, redirects: number, resent: boolean): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return reject(new VaultTransportError('ECONNABORTED'));
      const protocol = url.protocol === 'https:' ? 'https:' : 'http:';
      const request = (protocol === 'https:' ? https : http).request(url, {
        method: 'POST',
        agent: this.agents[protocol],
        headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
      });
      let settled = false;
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome();
      };
      const timer = setTimeout(() => {
        settle(() => reject(new VaultTransportError('ECONNABORTED')));
        request.destroy();
      }, remaining);
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (!resent && request.reusedSocket && error.code === 'ECONNRESET') {
          settle(() => resolve(this.send(url, payload, headers, deadline, redirects, true)));
        } else {
          settle(() => reject(typeof error.code === 'string' ? error : new VaultTransportError('no response')));
        }
      });
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', () => settle(() => reject(new VaultTransportError('ECONNRESET'))));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const location = response.headers.location;
          if ((status === 307 || status === 308) && location !== undefined && redirects < MAX_REDIRECTS) {
            const next = new URL(location, url);
            // Following into plain HTTP would send the token unprotected.
            if (next.protocol === 'https:' || url.protocol === 'http:') {
              settle(() => resolve(this.send(next, payload, headers, deadline, redirects + 1, resent)));
              return;
            }
          }
          const text = Buffer.concat(chunks).toString('utf8');
          const parsed = parseBody(text);
          settle(() => (status === 200 || status === 204 ? resolve(parsed) : reject(new VaultResponseError(status, parsed))));
        });
      });
      request.end(payload);
    });
  }
}

/** As axios does: JSON when it parses, else the text (a proxy's HTML error page, say). */
function parseBody(text: string): unknown {
  if (text === '') return '';
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
