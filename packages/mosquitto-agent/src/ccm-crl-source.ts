/**
 * The ccm side of the Mosquitto adapter, over ccm's REST API (through the
 * core's CcmApi): each tenant's CRL (CrlSource) and which of the tenant's
 * CAs that CRL speaks for (TenantAuthorities). A CRL only leaves here
 * signature-checked against its tenant's CA; the certificates' states are
 * the core's business.
 */
import { CcmApi, CcmRequestError } from '@ccm/broker-agent';
import { CrlRejectedError, verifiedTenantCrl, type TenantCrl } from './crl.js';
import { CrlSource, TenantAuthorities } from './ports.js';

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
    const path = `v1/tenants/${encodeURIComponent(tenantId)}/ca-chain`;
    const chain = await this.api.text(path, 'application/pem-certificate-chain, text/plain, */*');
    // The chain starts with the tenant root CA (the CRL's issuer), then the platform CA.
    const first = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
    if (!first) throw new CcmRequestError('GET', path, 200, 'no certificate in the chain');
    this.issuers.set(tenantId, first);
    return first;
  }
}

/** The tenant's root CA id from `GET /v1/tenants/{id}` (`rootAuthority.id`). */
export class CcmTenantAuthorities extends TenantAuthorities {
  constructor(private readonly api: CcmApi) {
    super();
  }

  async rootAuthorityId(tenantId: string): Promise<string> {
    const path = `v1/tenants/${encodeURIComponent(tenantId)}`;
    const tenant = await this.api.json<{ rootAuthority?: { id?: unknown } }>(path);
    const id = tenant.rootAuthority?.id;
    if (typeof id !== 'string') throw new CcmRequestError('GET', path, 200, 'the tenant has no rootAuthority.id');
    return id;
  }
}
