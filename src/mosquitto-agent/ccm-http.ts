/**
 * Adapters for the ccm side of the agent, over ccm's REST API: the tenant
 * CRLs (CrlSource) and the current state of certificates and authorities
 * (CertificateDirectory). Every response is checked before it is trusted;
 * a CRL only leaves here signature-checked against its tenant's CA.
 */
import { CrlRejectedError, verifiedTenantCrl, type TenantCrl } from './crl.js';
import { CertificateDirectory, CrlSource, type CertificateState, type CertificateStatus } from './ports.js';

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

/** The tenant root CA's CRL from `GET /v1/tenants/{id}/crl?format=pem`, checked against the CA from `/ca-chain`. */
export class CcmCrlSource extends CrlSource {
  /** The tenant CA certificate, fetched once; fetched again if a CRL stops verifying (a CA rollover). */
  private readonly issuers = new Map<string, string>();

  constructor(private readonly api: CcmApi) {
    super();
  }

  async currentCrl(tenantId: string): Promise<TenantCrl> {
    const crlPem = await this.api.text(`v1/tenants/${encodeURIComponent(tenantId)}/crl?format=pem`, 'application/pkix-crl, application/x-pem-file, text/plain, */*');
    try {
      return await verifiedTenantCrl(tenantId, crlPem, await this.issuer(tenantId, false));
    } catch (error) {
      if (!(error instanceof CrlRejectedError)) throw error;
      return verifiedTenantCrl(tenantId, crlPem, await this.issuer(tenantId, true));
    }
  }

  private async issuer(tenantId: string, refresh: boolean): Promise<string> {
    const cached = this.issuers.get(tenantId);
    if (cached && !refresh) return cached;
    const chain = await this.api.text(`v1/tenants/${encodeURIComponent(tenantId)}/ca-chain`, 'application/pem-certificate-chain, text/plain, */*');
    // The chain starts with the tenant root CA (the CRL's issuer), then the platform CA.
    const first = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
    if (!first) throw new CcmRequestError('GET', `v1/tenants/${tenantId}/ca-chain`, 200, 'no certificate in the chain');
    this.issuers.set(tenantId, first);
    return first;
  }
}

interface CertificateBody {
  readonly id: string;
  readonly tenantId: string;
  readonly authorityId: string;
  readonly serialNumber: string;
  readonly commonName: string | null;
  readonly state: string;
}

const STATES: readonly CertificateState[] = ['inactive', 'active', 'suspended', 'revoked'];

export class CcmCertificateDirectory extends CertificateDirectory {
  constructor(private readonly api: CcmApi) {
    super();
  }

  async certificate(tenantId: string, certificateId: string): Promise<CertificateStatus | null> {
    const path = `v1/tenants/${encodeURIComponent(tenantId)}/certificates/${encodeURIComponent(certificateId)}`;
    const body = await this.api.jsonOrNull<CertificateBody>(path);
    return body === null ? null : statusOf(body, path);
  }

  async revokedCertificatesOf(tenantId: string, authorityId: string): Promise<CertificateStatus[]> {
    const found: CertificateStatus[] = [];
    let after: string | null = null;
    for (;;) {
      const path: string = `v1/tenants/${encodeURIComponent(tenantId)}/certificates?state=revoked&limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`;
      const page = await this.api.json<{ items: CertificateBody[]; nextCursor: string | null }>(path);
      for (const item of page.items ?? []) {
        const status = statusOf(item, path);
        if (status.authorityId === authorityId) found.push(status);
      }
      if (!page.nextCursor || (page.items ?? []).length === 0) return found;
      after = page.nextCursor;
    }
  }

  async tenantRootAuthorityId(tenantId: string): Promise<string> {
    const path = `v1/tenants/${encodeURIComponent(tenantId)}`;
    const tenant = await this.api.json<{ rootAuthority?: { id?: string } }>(path);
    const id = tenant.rootAuthority?.id;
    if (typeof id !== 'string') throw new CcmRequestError('GET', path, 200, 'the tenant has no rootAuthority.id');
    return id;
  }
}

function statusOf(body: CertificateBody, path: string): CertificateStatus {
  const state = body.state as CertificateState;
  if (!STATES.includes(state) || typeof body.serialNumber !== 'string' || typeof body.authorityId !== 'string') {
    throw new CcmRequestError('GET', path, 200, `unexpected certificate representation (state ${JSON.stringify(body.state)})`);
  }
  // A certificate without a CN has no Mosquitto username to kick (use_identity_as_username); '' says so.
  return { id: body.id, tenantId: body.tenantId, authorityId: body.authorityId, serialNumber: body.serialNumber, commonName: body.commonName ?? '', state };
}
