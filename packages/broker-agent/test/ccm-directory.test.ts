/**
 * CcmCertificateDirectory against a local HTTP server that answers as ccm
 * does: the representation is checked before the core trusts it, and the
 * subject alternative names come through when ccm sends them.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CcmApi, CcmCertificateDirectory, CcmRequestError } from '../src/index.js';

const TENANT = '0193a000-0000-7000-8000-000000000001';
const base = {
  id: '0193a000-0000-7000-8000-0000000000c1',
  tenantId: TENANT,
  authorityId: '0193a000-0000-7000-8000-000000000002',
  serialNumber: '1a2b',
  subject: 'CN=sensor-1',
  commonName: 'sensor-1',
  state: 'active',
  notAfter: '2027-01-01T00:00:00.000Z',
};

describe('CcmCertificateDirectory', () => {
  let server: Server;
  let directory: CcmCertificateDirectory;
  const bodies = new Map<string, unknown>();

  before(async () => {
    server = createServer((request, response) => {
      const id = request.url!.split('/').pop()!;
      const body = bodies.get(id);
      response.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? { type: 'urn:ccm:problem:not-found' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    directory = new CcmCertificateDirectory(new CcmApi({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('subject alternative names come through as ccm sent them; kinds it does not know are left out', async () => {
    bodies.set('c1', { ...base, subjectAltNames: { uri: [`urn:uuid:${base.id}`], dns: [], rid: ['1.2.3'] } });
    const status = await directory.certificate(TENANT, 'c1');
    assert.deepEqual(status?.subjectAltNames, { uri: [`urn:uuid:${base.id}`], dns: [] });
    assert.equal(status?.notAfter.toISOString(), base.notAfter);
  });

  test('an older ccm that sends no subjectAltNames gives a status without them', async () => {
    bodies.set('c2', base);
    const status = await directory.certificate(TENANT, 'c2');
    assert.equal(status !== null && 'subjectAltNames' in status, false);
  });

  test('subjectAltNames that are not lists of strings are refused, as any other malformed representation', async () => {
    for (const subjectAltNames of [['urn:uuid:x'], { uri: 'urn:uuid:x' }, { uri: [7] }, null]) {
      bodies.set('c3', { ...base, subjectAltNames });
      await assert.rejects(directory.certificate(TENANT, 'c3'), CcmRequestError, JSON.stringify(subjectAltNames));
    }
  });

  test('a certificate ccm does not know is null', async () => {
    assert.equal(await directory.certificate(TENANT, 'unknown'), null);
  });
});
