/**
 * Who may call what, route by route: every operation of the live OpenAPI
 * document is called with no key, the administrator key, a tenant key of the
 * tenant in the path, a tenant key of another tenant, and a broker key, and
 * each answer is checked against the matrix below. A route without a matrix
 * entry fails the test, and so does an entry for a route that is gone; the
 * roles the document shows (x-ccm-roles) must be the matrix's. A refused call
 * changes nothing in the database.
 *
 * Bodies are chosen to fail validation after the access check where a call
 * would otherwise destroy the fixtures (revoking the tenant CA, say): a 400
 * shows the caller got past the guard just as well as a 200 does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Test } from 'supertest';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { storedContent, type TestDatabase } from '../support/databases.js';

type Caller = 'anonymous' | 'admin' | 'tenant' | 'foreign-tenant' | 'broker';
type Role = 'admin' | 'tenant' | 'broker';

interface MatrixEntry {
  /** Roles the route serves; 'public' needs no API key. */
  readonly roles: readonly Role[] | 'public';
  /**
   * What a tenant key of another tenant gets when `tenant` is in roles:
   * 'not-found' (the route shows tenant A's data), or 'own' (the route
   * answers with the caller's own data, e.g. a listing).
   */
  readonly foreign?: 'not-found' | 'own';
  readonly body?: unknown;
  readonly query?: Record<string, string>;
  readonly contentType?: string;
}

/** Bodies that fail validation: past the guard, nothing changes. */
const INVALID = { unexpectedMember: true };

const MATRIX: Record<string, MatrixEntry> = {
  'GET /v1/platform-ca': { roles: ['admin'] },
  'GET /v1/platform-ca/csr': { roles: ['admin'] },
  'PUT /v1/platform-ca/certificate': { roles: ['admin'], body: INVALID },
  'POST /v1/tenants': { roles: ['admin'], body: INVALID },
  'GET /v1/tenants': { roles: ['admin'] },
  'GET /v1/tenants/{tenantId}': { roles: ['admin', 'tenant', 'broker'] },
  'GET /v1/tenants/{tenantId}/ca-chain': { roles: ['admin', 'tenant', 'broker'] },
  'POST /v1/tenants/{tenantId}/ca/revoke': { roles: ['admin'], body: INVALID },
  'POST /v1/tenants/{tenantId}/ca/rollover': { roles: ['admin'], body: INVALID },
  // The root in force is active, not published: past the guard, the activation is refused (409) and changes nothing.
  'POST /v1/tenants/{tenantId}/ca/{authorityId}/activate': { roles: ['admin'] },
  'POST /v1/tenants/{tenantId}/ca/{authorityId}/retire': { roles: ['admin'], body: INVALID },
  'GET /v1/tenants/{tenantId}/crl': { roles: ['admin', 'tenant', 'broker'] },
  'GET /v1/tenants/{tenantId}/revocation-lists': { roles: ['admin', 'tenant', 'broker'] },
  'POST /v1/tenants/{tenantId}/certificates': { roles: ['admin', 'tenant'], body: INVALID },
  'GET /v1/tenants/{tenantId}/certificates': { roles: ['admin', 'tenant', 'broker'] },
  'GET /v1/tenants/{tenantId}/certificates/by-serial/{serialNumber}': { roles: ['admin', 'tenant', 'broker'] },
  'GET /v1/tenants/{tenantId}/certificates/by-fingerprint/{sha256}': { roles: ['admin', 'tenant', 'broker'] },
  'GET /v1/tenants/{tenantId}/certificates/{certificateId}': { roles: ['admin', 'tenant', 'broker'] },
  'POST /v1/tenants/{tenantId}/certificates/{certificateId}/suspend': { roles: ['admin', 'tenant'], body: INVALID },
  'POST /v1/tenants/{tenantId}/certificates/{certificateId}/reactivate': { roles: ['admin', 'tenant'], body: INVALID },
  'POST /v1/tenants/{tenantId}/certificates/{certificateId}/revoke': { roles: ['admin', 'tenant'], body: INVALID },
  'POST /v1/tenants/{tenantId}/certificates/{certificateId}/renew': { roles: ['admin', 'tenant'], body: INVALID },
  'POST /v1/tenants/{tenantId}/enrollment-credentials': { roles: ['admin', 'tenant'], body: INVALID },
  'GET /v1/tenants/{tenantId}/enrollment-credentials': { roles: ['admin', 'tenant'] },
  'DELETE /v1/tenants/{tenantId}/enrollment-credentials/{credentialId}': { roles: ['admin', 'tenant'] },
  // authorityId is the tenant root: removing it, or devices under it, is refused (409) past the guard, so the fixtures survive.
  'GET /v1/tenants/{tenantId}/authorities': { roles: ['admin', 'tenant'] },
  'POST /v1/tenants/{tenantId}/authorities/external': { roles: ['admin', 'tenant'], body: INVALID },
  'POST /v1/tenants/{tenantId}/authorities/intermediate': { roles: ['admin', 'tenant'], body: INVALID },
  'GET /v1/tenants/{tenantId}/authorities/{authorityId}': { roles: ['admin', 'tenant'] },
  'DELETE /v1/tenants/{tenantId}/authorities/{authorityId}': { roles: ['admin', 'tenant'] },
  'POST /v1/tenants/{tenantId}/authorities/{authorityId}/revoke': { roles: ['admin', 'tenant'], body: INVALID },
  'POST /v1/tenants/{tenantId}/authorities/{authorityId}/devices': { roles: ['admin', 'tenant'], body: INVALID },
  'GET /v1/tenants/{tenantId}/authorities/{authorityId}/devices': { roles: ['admin', 'tenant'] },
  'DELETE /v1/tenants/{tenantId}/authorities/{authorityId}/devices/{deviceId}': { roles: ['admin', 'tenant'] },
  'GET /v1/tenants/{tenantId}/authorities/{authorityId}/identity-rules': { roles: ['admin', 'tenant'] },
  'PUT /v1/tenants/{tenantId}/authorities/{authorityId}/identity-rules': { roles: ['admin', 'tenant'], body: INVALID },
  'POST /v1/authentications': { roles: ['admin', 'broker'], body: INVALID },
  'POST /v1/event-subscribers': { roles: ['admin'], body: INVALID },
  'GET /v1/event-subscribers': { roles: ['admin'] },
  'GET /v1/event-subscribers/{subscriberId}': { roles: ['admin'] },
  'DELETE /v1/event-subscribers/{subscriberId}': { roles: ['admin'] },
  'GET /v1/events': { roles: ['admin', 'tenant', 'broker'], query: { tenantId: '{tenantId}' } },
  'POST /v1/api-credentials': { roles: ['admin', 'tenant'], foreign: 'own', body: INVALID },
  'GET /v1/api-credentials': { roles: ['admin', 'tenant'], foreign: 'own' },
  'GET /v1/api-credentials/{credentialId}': { roles: ['admin', 'tenant'] },
  'DELETE /v1/api-credentials/{credentialId}': { roles: ['admin', 'tenant'] },
  'GET /v1/audit-log': { roles: ['admin', 'tenant'], query: { tenantId: '{tenantId}' } },
  'GET /crl/{file}': { roles: 'public' },
  'POST /ocsp/{authorityId}': { roles: 'public', contentType: 'application/ocsp-request', body: Buffer.from([0x30, 0x00]) },
  'GET /ocsp/{authorityId}/{path}': { roles: 'public' },
  'GET /.well-known/est/{tenantId}/cacerts': { roles: 'public' },
  'POST /.well-known/est/{tenantId}/simpleenroll': { roles: 'public', contentType: 'application/pkcs10', body: 'AAAA' },
  'POST /.well-known/est/{tenantId}/simplereenroll': { roles: 'public', contentType: 'application/pkcs10', body: 'AAAA' },
  'GET /health/live': { roles: 'public' },
  'GET /health/ready': { roles: 'public' },
};

/** Callers in this order: those that must be refused go first, while every fixture still exists. */
const CALLERS: readonly Caller[] = ['anonymous', 'foreign-tenant', 'broker', 'tenant', 'admin'];

interface OpenApiOperation {
  readonly 'x-ccm-roles'?: string[];
}

describe('access matrix over every route of the OpenAPI document (PostgreSQL)', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let operations: { key: string; method: string; path: string; documented: string[] | undefined }[];
  const keys: Partial<Record<Caller, string>> = {};
  const parameters: Record<string, string> = {};

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' });
    ccm = await installation.start();
    const tenant = (await ccm.api().post('/v1/tenants').send({ name: `matrix-a-${Date.now()}` }).expect(201)).body;
    const other = (await ccm.api().post('/v1/tenants').send({ name: `matrix-b-${Date.now()}` }).expect(201)).body;
    keys.admin = ccm.adminKey;
    keys.tenant = await ccm.createApiKey('tenant', tenant.id);
    keys['foreign-tenant'] = await ccm.createApiKey('tenant', other.id);
    keys.broker = await ccm.createApiKey('broker');
    const certificate = (await ccm.api().post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: 'matrix-device', ttlSeconds: 3600 }).expect(201)).body;
    const subscriber = (await ccm.api().post('/v1/event-subscribers').send({ name: 'matrix' }).expect(201)).body;
    Object.assign(parameters, {
      tenantId: tenant.id,
      certificateId: certificate.id,
      serialNumber: certificate.serialNumber,
      sha256: certificate.fingerprintSha256,
      authorityId: tenant.rootAuthority.id,
      subscriberId: subscriber.id,
      file: `${tenant.rootAuthority.id}.crl`,
      path: 'MAA=',
      deviceId: '0190f0c2-0000-7000-8000-000000000000',
    });
    const spec = (await ccm.api().get('/docs/openapi.json').expect(200)).body as { paths: Record<string, Record<string, OpenApiOperation>> };
    operations = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, method, path, documented: operation['x-ccm-roles'] })),
    );
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
  });

  test('every route has a matrix entry, every entry a route, and the document shows the same roles', () => {
    const routes = operations.map((o) => o.key).sort();
    assert.deepEqual(routes.filter((r) => !(r in MATRIX)), [], 'routes without a matrix entry');
    assert.deepEqual(Object.keys(MATRIX).filter((r) => !routes.includes(r)), [], 'matrix entries without a route');
    for (const operation of operations) {
      const roles = MATRIX[operation.key]!.roles;
      assert.deepEqual(operation.documented ? [...operation.documented].sort() : undefined, roles === 'public' ? ['public'] : [...roles].sort(), `x-ccm-roles of ${operation.key}`);
    }
  });

  test('every route answers every caller as the matrix says, and a refused call changes nothing', async () => {
    const failures: string[] = [];
    for (const operation of operations) {
      const entry = MATRIX[operation.key];
      if (!entry) continue;
      for (const caller of CALLERS) {
        const fresh = await freshFixtures(operation.key);
        const expected = expectation(operation.key, entry, caller);
        const before = expected === 'allowed' || operation.method === 'get' ? null : await settledContent(installation.database);
        const response = await send(operation, entry, caller, fresh);
        const problem = check(expected, response, entry.roles === 'public');
        if (problem) failures.push(`${operation.key} as ${caller}: expected ${expected}, got ${response.status} ${response.text.slice(0, 160)} (${problem})`);
        const afterwards = before === null ? null : await storedContent(installation.database);
        if (afterwards !== before) failures.push(`${operation.key} as ${caller}: refused, yet the database changed: ${firstDifference(before!, afterwards!)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  /**
   * Routes that act on one resource and have no body to fail (DELETE) get a
   * resource of their own per call, so that one caller's call does not leave
   * the next with nothing to act on, and a refused caller is refused on a
   * resource that exists.
   */
  async function freshFixtures(key: string): Promise<Record<string, string>> {
    if (key.startsWith('DELETE /v1/tenants/{tenantId}/enrollment-credentials/')) {
      return { credentialId: (await ccm.api().post(`/v1/tenants/${parameters.tenantId}/enrollment-credentials`).send({ name: 'matrix' }).expect(201)).body.id };
    }
    if (key.includes('/v1/api-credentials/{credentialId}')) return { credentialId: (await ccm.createApiKey('tenant', parameters.tenantId!, 'matrix-target')).slice(4, 40) };
    if (key.startsWith('DELETE /v1/event-subscribers/')) return { subscriberId: (await ccm.api().post('/v1/event-subscribers').send({ name: `matrix-doomed-${Math.random().toString(36).slice(2)}` }).expect(201)).body.id };
    return {};
  }

  function expectation(key: string, entry: MatrixEntry, caller: Caller): 'allowed' | 'unauthorized' | 'forbidden' | 'not-found' {
    if (entry.roles === 'public') return 'allowed';
    if (caller === 'anonymous') return 'unauthorized';
    if (caller === 'foreign-tenant') {
      // Another tenant's id in the path is 404 whatever the route: nothing tells the key that tenant A exists.
      if (key.includes('{tenantId}')) return 'not-found';
      if (!entry.roles.includes('tenant')) return 'forbidden';
      return entry.foreign === 'own' ? 'allowed' : 'not-found';
    }
    return entry.roles.includes(caller) ? 'allowed' : 'forbidden';
  }

  async function send(operation: { method: string; path: string; key: string }, entry: MatrixEntry, caller: Caller, fresh: Record<string, string>): Promise<{ status: number; text: string; headers: Record<string, string> }> {
    const values: Record<string, string> = { ...parameters, ...fresh };
    const path = operation.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? 'missing'));
    const agent = caller === 'anonymous' ? ccm.api('unused') : ccm.api(keys[caller]!);
    let request: Test = (agent as unknown as Record<string, (url: string) => Test>)[operation.method]!(path);
    if (caller === 'anonymous') request = request.unset('authorization');
    if (entry.query) request = request.query(Object.fromEntries(Object.entries(entry.query).map(([k, v]) => [k, v.replace('{tenantId}', parameters.tenantId!)])));
    if (entry.contentType) request = request.set('content-type', entry.contentType);
    if (entry.body !== undefined) request = request.send(entry.body as object);
    const response = await request;
    return { status: response.status, text: response.text ?? '', headers: response.headers as Record<string, string> };
  }
});

function check(expected: 'allowed' | 'unauthorized' | 'forbidden' | 'not-found', response: { status: number; text: string; headers: Record<string, string> }, isPublic: boolean): string | null {
  const type = problemType(response.text);
  switch (expected) {
    case 'unauthorized':
      if (response.status !== 401 || type !== 'unauthorized') return 'not the API key 401';
      if (response.headers['www-authenticate'] !== 'Bearer realm="ccm"') return 'no Bearer challenge';
      return null;
    case 'forbidden':
      return response.status === 403 && type === 'forbidden' ? null : 'not 403 forbidden';
    case 'not-found':
      return response.status === 404 && type === 'not-found' && /tenant not found|not found/.test(response.text) ? null : 'not 404';
    case 'allowed':
      if (response.status >= 500) return 'server error';
      if (isPublic) return response.headers['www-authenticate']?.startsWith('Bearer') ? 'asked for an API key' : null;
      if (response.status === 401 || response.status === 403) return 'refused';
      if (response.status === 404 && /"detail":"tenant not found"/.test(response.text)) return 'tenant hidden from an allowed caller';
      return null;
  }
}

function problemType(text: string): string | null {
  try {
    const type = (JSON.parse(text) as { type?: unknown }).type;
    return typeof type === 'string' && type.startsWith('urn:ccm:problem:') ? type.slice('urn:ccm:problem:'.length) : null;
  } catch {
    return null;
  }
}


/**
 * The stored content once ccm's background work from earlier calls is done:
 * a state change has the CA's CRL rebuilt 50 ms later (RevocationLists
 * refreshSoon), which on a loaded machine could land inside the next,
 * refused, call and look like its doing.
 */
async function settledContent(database: TestDatabase): Promise<string> {
  let previous = await storedContent(database);
  for (let attempt = 0; attempt < 30; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    const current = await storedContent(database);
    if (current === previous) return current;
    previous = current;
  }
  throw new Error('ccm kept changing the database with no request in flight');
}

function firstDifference(before: string, after: string): string {
  let i = 0;
  while (i < before.length && before[i] === after[i]) i++;
  return `…${before.slice(Math.max(0, i - 80), i + 80)}… became …${after.slice(Math.max(0, i - 80), i + 80)}…`;
}
