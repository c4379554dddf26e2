/**
 * ccm's view of certificates, over its REST API: what the core reads to act
 * on a certificate's current state rather than on what an event said. Every
 * representation is checked before it is trusted.
 */
import type { CertificateState, CertificateStatus, SubjectAltNames } from './broker-port.js';
import { CcmApi, CcmRequestError } from './ccm-api.js';

interface CertificateBody {
  readonly id: string;
  readonly tenantId: string;
  readonly authorityId: string;
  readonly serialNumber: string;
  readonly subject: string;
  readonly commonName: string | null;
  readonly state: string;
  readonly notAfter: string;
  readonly subjectAltNames?: unknown;
}

interface CertificatePage {
  readonly items: readonly CertificateBody[];
  readonly nextCursor: string | null;
}

const STATES: readonly CertificateState[] = ['inactive', 'active', 'suspended', 'revoked'];
/** ccm's largest page. */
const PAGE_SIZE = 100;

export abstract class CertificateDirectory {
  /** null when ccm does not know the certificate in that tenant. */
  abstract certificate(tenantId: string, certificateId: string): Promise<CertificateStatus | null>;
  /** The tenant's certificates in id order (ids are time-ordered uuidv7), after `afterId` when given, page by page. */
  abstract certificates(tenantId: string, options?: { readonly afterId?: string; readonly state?: CertificateState }): AsyncIterable<readonly CertificateStatus[]>;
}

export class CcmCertificateDirectory extends CertificateDirectory {
  constructor(private readonly api: CcmApi) {
    super();
  }

  async certificate(tenantId: string, certificateId: string): Promise<CertificateStatus | null> {
    const path = `v1/tenants/${encodeURIComponent(tenantId)}/certificates/${encodeURIComponent(certificateId)}`;
    const body = await this.api.jsonOrNull<CertificateBody>(path);
    return body === null ? null : statusOf(body, path);
  }

  async *certificates(tenantId: string, options: { readonly afterId?: string; readonly state?: CertificateState } = {}): AsyncIterable<readonly CertificateStatus[]> {
    let after = options.afterId ?? null;
    for (;;) {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (options.state) query.set('state', options.state);
      if (after) query.set('after', after);
      const path = `v1/tenants/${encodeURIComponent(tenantId)}/certificates?${query}`;
      const page = await this.api.json<CertificatePage>(path);
      if (!Array.isArray(page.items)) throw new CcmRequestError('GET', path, 200, 'not a page of certificates');
      const items = page.items.map((item) => statusOf(item, path));
      if (items.length > 0) yield items;
      if (!page.nextCursor || items.length === 0) return;
      after = page.nextCursor;
    }
  }
}

function statusOf(body: CertificateBody, path: string): CertificateStatus {
  const state = body.state as CertificateState;
  const notAfter = new Date(body.notAfter);
  if (!STATES.includes(state) || typeof body.id !== 'string' || typeof body.serialNumber !== 'string' || typeof body.authorityId !== 'string' || typeof body.subject !== 'string' || Number.isNaN(notAfter.getTime())) {
    throw new CcmRequestError('GET', path, 200, `unexpected certificate representation (state ${JSON.stringify(body.state)})`);
  }
  const subjectAltNames = subjectAltNamesOf(body.subjectAltNames);
  if (subjectAltNames === null) throw new CcmRequestError('GET', path, 200, 'unexpected certificate representation (subjectAltNames)');
  return { id: body.id, tenantId: body.tenantId, authorityId: body.authorityId, serialNumber: body.serialNumber, subject: body.subject, commonName: body.commonName ?? '', state, notAfter, ...(subjectAltNames === undefined ? {} : { subjectAltNames }) };
}

const NAME_KINDS = ['dns', 'uri', 'email', 'ip'] as const;

/** undefined when ccm sent none (an older ccm), null when what it sent is not lists of strings. */
function subjectAltNamesOf(value: unknown): SubjectAltNames | null | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const names: Record<string, readonly string[]> = {};
  for (const [kind, list] of Object.entries(value)) {
    if (!(NAME_KINDS as readonly string[]).includes(kind)) continue; // a kind added later is not this agent's business
    if (!Array.isArray(list) || !list.every((name) => typeof name === 'string')) return null;
    names[kind] = list;
  }
  return names as SubjectAltNames;
}
