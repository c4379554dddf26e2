/**
 * The CLI's connection to a running ccm: its REST API over HTTP(S) with
 * Node's fetch, the API key as a bearer token, problem+json answers turned
 * into CcmAnswerError (4xx refused, 5xx failed) and no answer at all into
 * CcmUnavailable. Knows paths and bodies, nothing about the command line.
 */
import { CcmAnswerError, CcmUnavailable, type Problem } from './outcome.js';

/** Long enough for an RSA key generated server-side on a busy machine. */
const DEFAULT_TIMEOUT_MS = 30_000;

export interface TenantAnswer {
  readonly id: string;
  readonly name: string;
  readonly maxTtlSeconds: number | null;
  readonly createdAt: string;
}

export interface CertificateAnswer {
  readonly id: string;
  readonly tenantId: string;
  readonly serialNumber: string;
  readonly state: string;
  readonly commonName: string;
  readonly notAfter: string;
  readonly revocationReason: string | null;
  readonly [field: string]: unknown;
}

export interface IssuedCertificateAnswer extends CertificateAnswer {
  readonly certificatePem: string;
  readonly chainPem: string;
  readonly privateKeyPem: string | null;
}

export interface AuthorityAnswer {
  readonly id: string;
  readonly status: string;
  readonly subject: string;
  readonly fingerprintSha256: string | null;
  readonly notAfter: string | null;
  readonly [field: string]: unknown;
}

export interface IssueCertificateBody {
  readonly commonName?: string;
  readonly ttlSeconds?: number;
  readonly keyAlgorithm?: string;
  readonly csr?: string;
}

export interface RolloverAnswer {
  readonly rootAuthority: AuthorityAnswer;
  readonly previousAuthority: AuthorityAnswer;
}

export interface AuthorityRevocationAnswer {
  readonly authority: AuthorityAnswer;
  readonly revokedCertificates: number;
}

interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

export class CcmApiClient {
  private readonly base: URL;

  constructor(
    baseUrl: string,
    private readonly apiKey: string,
    private readonly timeoutMs: number = DEFAULT_TIMEOUT_MS,
  ) {
    // A trailing slash keeps a path prefix (ccm behind a proxy at https://host/ccm) when paths are resolved against it.
    this.base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  }

  createTenant(name: string, maxTtlSeconds: number | undefined): Promise<TenantAnswer> {
    return this.request('POST', 'v1/tenants', { name, ...(maxTtlSeconds !== undefined ? { maxTtlSeconds } : {}) });
  }

  /** Every tenant, following the pages. */
  async listTenants(): Promise<TenantAnswer[]> {
    const tenants: TenantAnswer[] = [];
    let after: string | null = null;
    do {
      const page: Page<TenantAnswer> = await this.request('GET', `v1/tenants?limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      tenants.push(...page.items);
      after = page.nextCursor;
    } while (after !== null);
    return tenants;
  }

  rollOverTenantRoot(tenantId: string, options: { readonly validityDays?: number; readonly activate?: boolean }): Promise<RolloverAnswer> {
    return this.request('POST', `v1/tenants/${segment(tenantId)}/ca/rollover`, options);
  }

  activateTenantRoot(tenantId: string, authorityId: string): Promise<RolloverAnswer> {
    return this.request('POST', `v1/tenants/${segment(tenantId)}/ca/${segment(authorityId)}/activate`, {});
  }

  retireTenantRoot(tenantId: string, authorityId: string, reason: string | undefined): Promise<AuthorityRevocationAnswer> {
    return this.request('POST', `v1/tenants/${segment(tenantId)}/ca/${segment(authorityId)}/retire`, reason !== undefined ? { reason } : {});
  }

  issueCertificate(tenantId: string, body: IssueCertificateBody): Promise<IssuedCertificateAnswer> {
    return this.request('POST', certificatesPath(tenantId), body);
  }

  certificate(tenantId: string, certificateId: string): Promise<CertificateAnswer> {
    return this.request('GET', `${certificatesPath(tenantId)}/${segment(certificateId)}`);
  }

  changeCertificateState(tenantId: string, certificateId: string, action: 'suspend' | 'reactivate' | 'revoke', reason?: string): Promise<CertificateAnswer> {
    return this.request('POST', `${certificatesPath(tenantId)}/${segment(certificateId)}/${action}`, reason !== undefined ? { reason } : {});
  }

  platformCa(): Promise<AuthorityAnswer> {
    return this.request('GET', 'v1/platform-ca');
  }

  async platformCaCsr(): Promise<string> {
    return (await this.request<{ csrPem: string }>('GET', 'v1/platform-ca/csr')).csrPem;
  }

  importPlatformCaCertificate(certificatePem: string, issuerChainPem: string | undefined): Promise<AuthorityAnswer> {
    return this.request('PUT', 'v1/platform-ca/certificate', { certificatePem, ...(issuerChainPem !== undefined ? { issuerChainPem } : {}) });
  }

  private async request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: object): Promise<T> {
    const url = new URL(path, this.base);
    const shownPath = `/${path.split('?')[0]}`;
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${this.apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        // ccm never redirects; following one could carry the API key to another host.
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new CcmUnavailable(`cannot reach ccm at ${this.base.origin} (${method} ${shownPath}): ${reasonOf(error)}`);
    }
    const text = await response.text().catch((error: unknown) => {
      throw new CcmUnavailable(`${method} ${shownPath}: the answer broke off: ${reasonOf(error)}`);
    });
    if (!response.ok) throw new CcmAnswerError(method, shownPath, response.status, problemOf(text), excerpt(text));
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CcmUnavailable(`${method} ${shownPath} answered ${response.status} with something that is not JSON; is ${this.base.href} ccm? ${excerpt(text)}`);
    }
  }
}

function certificatesPath(tenantId: string): string {
  return `v1/tenants/${segment(tenantId)}/certificates`;
}

/** An id as one path segment: whatever the operator typed cannot climb to another route. */
function segment(value: string): string {
  return encodeURIComponent(value);
}

function problemOf(text: string): Problem | null {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && ('type' in parsed || 'title' in parsed)) return parsed as Problem;
  } catch {
    // Not JSON: the caller shows an excerpt instead.
  }
  return null;
}

function excerpt(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/** fetch wraps the socket error in `cause`; that is the useful part (ECONNREFUSED, certificate has expired…). */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'no answer in time';
  const cause = (error as Error & { cause?: unknown }).cause;
  // An AggregateError (every address of a name refused) has no message of its own, only a code.
  if (cause instanceof Error) return `${error.message}: ${cause.message || (cause as NodeJS.ErrnoException).code || cause.name}`;
  return error.message;
}
