/**
 * The ccm side of the Mosquitto adapter, over ccm's REST API (through the
 * core's CcmApi): the CRLs of each tenant's root CAs in force (CrlSource),
 * from `GET /v1/tenants/{id}/revocation-lists`, which hands each CRL out
 * with its CA's certificate. A CRL only leaves here signature-checked
 * against that CA; the certificates' states are the core's business.
 */
import { CcmApi, CcmRequestError } from '@ccm/broker-agent';
import { tenantCrlOf, verifiedIssuerCrl, type TenantCrl } from './crl.js';
import { CrlSource } from './ports.js';

interface RevocationListItem {
  readonly authorityId?: unknown;
  readonly certificatePem?: unknown;
  readonly crlPem?: unknown;
}

export class CcmCrlSource extends CrlSource {
  constructor(private readonly api: CcmApi) {
    super();
  }

  async currentCrl(tenantId: string): Promise<TenantCrl> {
    const path = `v1/tenants/${encodeURIComponent(tenantId)}/revocation-lists`;
    const answer = await this.api.json<{ items?: RevocationListItem[] }>(path);
    if (!Array.isArray(answer.items)) throw new CcmRequestError('GET', path, 200, 'no items in the answer');
    const parts = answer.items.map((item) => {
      if (typeof item.authorityId !== 'string' || typeof item.certificatePem !== 'string' || typeof item.crlPem !== 'string') {
        throw new CcmRequestError('GET', path, 200, 'an item without authorityId, certificatePem and crlPem');
      }
      return verifiedIssuerCrl(tenantId, item.authorityId, item.crlPem, item.certificatePem);
    });
    return tenantCrlOf(tenantId, parts);
  }
}
