/**
 * The edge limits end to end: per-credential rate limits on issuance
 * (certificates, renewal, EST) and authentication, answered 429 with
 * Retry-After and nothing stored, released by moving the injected clock;
 * the request head and body limits (431, 413); CORS for the listed origins
 * only; and the browser CSR flow: a P-256 key made with WebCrypto, the CSR
 * built with @peculiar/x509 as a page would, posted cross-origin with a
 * tenant key, the certificate checked by openssl.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it loaded first
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import request from 'supertest';
import { FixedClock } from '../../src/shared/clock.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { dumpAllRows } from '../support/databases.js';
import { openssl, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';
const CONSOLE_ORIGIN = 'https://console.example.com';
const OTHER_ORIGIN = 'https://evil.example.net';
const LIMITS = {
  CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '1',
  CCM_RATE_LIMIT_ISSUANCE_BURST: '3',
  CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND: '2',
  CCM_RATE_LIMIT_AUTHENTICATION_BURST: '4',
};

describe('limits on SQLite + local custody', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let clock: FixedClock;
  let scratch: Scratch;
  let tenant: { id: string; chainPem: string };

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' }, { ...LIMITS, CCM_CORS_ORIGINS: `${CONSOLE_ORIGIN},http://localhost:3000`, CCM_MAX_HEADER_BYTES: '8192' });
    clock = new FixedClock(new Date());
    ccm = await installation.start({ clock });
    scratch = await Scratch.create();
    tenant = await createTenant(ccm, `limits-${Date.now()}`);
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  test('a tenant key over its issuance burst gets 429 with Retry-After, and its refused requests store nothing', async () => {
    const key = await ccm.createApiKey('tenant', tenant.id, 'burst-key');
    const before = await rowCount(installation, 'certificates');
    for (let i = 0; i < 3; i++) await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: `burst-${i}`, ttlSeconds: 600 }).expect(201);
    for (let i = 0; i < 3; i++) {
      const refused = await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: `refused-${i}`, ttlSeconds: 600 });
      assertRateLimited(refused);
    }
    assert.equal(await rowCount(installation, 'certificates'), before + 3);
    const listed = await ccm.api().get(`/v1/tenants/${tenant.id}/certificates`).query({ commonName: 'refused-0' }).expect(200);
    assert.equal(listed.body.items.length, 0);
  });

  test('renewal draws from the same issuance bucket: refused, the renewed certificate stays as it was', async () => {
    const key = await ccm.createApiKey('tenant', tenant.id, 'renew-key');
    const issued = [];
    for (let i = 0; i < 3; i++) issued.push((await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: `renew-${i}`, ttlSeconds: 600 }).expect(201)).body);
    const before = await rowCount(installation, 'certificates');
    const refused = await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates/${issued[0].id}/renew`).send({ revokePrevious: true });
    assertRateLimited(refused);
    assert.equal(await rowCount(installation, 'certificates'), before);
    const current = await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${issued[0].id}`).expect(200);
    assert.equal(current.body.state, 'inactive');
  });

  test('limits are per credential: another tenant key and the bootstrap administrator key are unaffected', async () => {
    const exhausted = await ccm.createApiKey('tenant', tenant.id, 'exhausted-key');
    const other = await ccm.createApiKey('tenant', tenant.id, 'other-key');
    for (let i = 0; i < 3; i++) await ccm.api(exhausted).post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 }).expect(201);
    assertRateLimited(await ccm.api(exhausted).post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 }));
    await ccm.api(other).post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 }).expect(201);
    // The bootstrap key (no credential id) has a bucket of its own too.
    for (let i = 0; i < 3; i++) await ccm.api().post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 }).expect(201);
    assertRateLimited(await ccm.api().post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 }));
    await ccm.api(other).post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 }).expect(201);
  });

  test('after Retry-After has passed on the injected clock, the key may issue again', async () => {
    const key = await ccm.createApiKey('tenant', tenant.id, 'patient-key');
    for (let i = 0; i < 3; i++) await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 }).expect(201);
    const refused = await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 });
    assertRateLimited(refused);
    clock.advance(Number(refused.headers['retry-after']) * 1000);
    await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 }).expect(201);
    // One token per second: the next one has to wait again.
    assertRateLimited(await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).send({ ttlSeconds: 600 }));
  });

  test('EST enrollment is limited per enrollment credential', async () => {
    const credential = (await ccm.api().post(`/v1/tenants/${tenant.id}/enrollment-credentials`).send({ name: 'line 9' }).expect(201)).body;
    const basic = `Basic ${Buffer.from(`${credential.id}:${credential.secret}`).toString('base64')}`;
    const enroll = async (commonName: string) =>
      request(ccm.url)
        .post(`/.well-known/est/${tenant.id}/simpleenroll`)
        .set('authorization', basic)
        .set('content-type', 'application/pkcs10')
        .send(Buffer.from((await browserCsr(commonName)).csr.rawData).toString('base64'));
    const before = await rowCount(installation, 'certificates');
    for (let i = 0; i < 3; i++) assert.equal((await enroll(`est-${i}`)).status, 200);
    assertRateLimited(await enroll('est-refused'));
    assert.equal(await rowCount(installation, 'certificates'), before + 3);
  });

  test('a broker key over its authentication burst gets 429 with Retry-After; another broker key is unaffected; time releases it', async () => {
    const issued = (await ccm.api().post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: 'authenticated', ttlSeconds: 3600 }).expect(201)).body;
    const broker = await ccm.createApiKey('broker', undefined, 'busy-broker');
    const otherBroker = await ccm.createApiKey('broker', undefined, 'quiet-broker');
    const authenticate = (key: string) => ccm.api(key).post('/v1/authentications').send({ certificatePem: issued.certificatePem });
    for (let i = 0; i < 4; i++) await authenticate(broker).expect(200);
    assertRateLimited(await authenticate(broker));
    await authenticate(otherBroker).expect(200);
    clock.advance(500);
    await authenticate(broker).expect(200);
    assertRateLimited(await authenticate(broker));
  });

  test('a request head over CCM_MAX_HEADER_BYTES gets 431 problem+json and changes nothing', async () => {
    const key = await ccm.createApiKey('tenant', tenant.id, 'header-key');
    await ccm.auditWritten();
    const before = await dumpAllRows(installation.database);
    const answer = await rawPost(ccm.url, `/v1/tenants/${tenant.id}/certificates`, { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-padding': 'a'.repeat(9000) }, '{}');
    assert.equal(answer.status, 431);
    assert.match(answer.headers['content-type'] ?? '', /application\/problem\+json/);
    assert.equal(JSON.parse(answer.body).type, `${PROBLEM}request-header-too-large`);
    assert.deepEqual(await dumpAllRows(installation.database), before);
    // Just under the limit is served.
    const served = await rawPost(ccm.url, `/v1/tenants/${tenant.id}/certificates`, { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-padding': 'a'.repeat(7000) }, '{"ttlSeconds":600}');
    assert.equal(served.status, 201, served.body);
  });

  test('an oversized JSON body and an oversized application/pkcs10 body get 413 and store nothing', async () => {
    const key = await ccm.createApiKey('tenant', tenant.id, 'body-key');
    const credential = (await ccm.api().post(`/v1/tenants/${tenant.id}/enrollment-credentials`).send({ name: 'line 10' }).expect(201)).body;
    const before = await rowCount(installation, 'certificates');
    const json = await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).set('content-type', 'application/json').send(JSON.stringify({ csr: 'A'.repeat(70_000) }));
    assert.equal(json.status, 413);
    assert.equal(JSON.parse(json.text).type, `${PROBLEM}payload-too-large`);
    const pkcs10 = await request(ccm.url)
      .post(`/.well-known/est/${tenant.id}/simpleenroll`)
      .set('authorization', `Basic ${Buffer.from(`${credential.id}:${credential.secret}`).toString('base64')}`)
      .set('content-type', 'application/pkcs10')
      .send('QUFB'.repeat(17_000));
    assert.equal(pkcs10.status, 413);
    assert.match(pkcs10.headers['content-type'] ?? '', /application\/problem\+json/);
    assert.equal(JSON.parse(pkcs10.text).type, `${PROBLEM}payload-too-large`);
    assert.equal(await rowCount(installation, 'certificates'), before);
  });

  test('a preflight from a listed origin is answered before the access guard, with the CORS headers', async () => {
    const preflight = await request(ccm.url)
      .options(`/v1/tenants/${tenant.id}/certificates`)
      .set('origin', CONSOLE_ORIGIN)
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'authorization, content-type');
    assert.equal(preflight.status, 204, preflight.text);
    assert.equal(preflight.headers['access-control-allow-origin'], CONSOLE_ORIGIN);
    assert.equal(preflight.headers['access-control-allow-methods'], 'GET, POST, PUT, DELETE');
    assert.equal(preflight.headers['access-control-allow-headers'], 'authorization, content-type, x-request-id');
    assert.equal(preflight.headers['access-control-expose-headers'], 'retry-after, x-crl-number, x-request-id');
    assert.equal(preflight.headers['access-control-max-age'], '600');
    assert.equal(preflight.headers['access-control-allow-credentials'], undefined);
    assert.match(preflight.headers['vary'] ?? '', /origin/i);
  });

  test('an origin not listed gets no Access-Control header at all, on preflights and on requests', async () => {
    const preflight = await request(ccm.url)
      .options(`/v1/tenants/${tenant.id}/certificates`)
      .set('origin', OTHER_ORIGIN)
      .set('access-control-request-method', 'POST')
      .set('access-control-request-headers', 'authorization, content-type');
    assert.notEqual(preflight.status, 204);
    assert.deepEqual(accessControlHeaders(preflight.headers), []);
    const read = await ccm.api().get(`/v1/tenants/${tenant.id}`).set('origin', OTHER_ORIGIN).expect(200);
    assert.deepEqual(accessControlHeaders(read.headers), []);
    // An origin differing only in its port is another origin.
    const lookalike = await ccm.api().get(`/v1/tenants/${tenant.id}`).set('origin', 'https://console.example.com:8443').expect(200);
    assert.deepEqual(accessControlHeaders(lookalike.headers), []);
  });

  test('a 429 to a listed origin carries the CORS headers, so the page can read Retry-After', async () => {
    const key = await ccm.createApiKey('tenant', tenant.id, 'console-key');
    for (let i = 0; i < 3; i++) await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).set('origin', CONSOLE_ORIGIN).send({ ttlSeconds: 600 }).expect(201);
    const refused = await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).set('origin', CONSOLE_ORIGIN).send({ ttlSeconds: 600 });
    assertRateLimited(refused);
    assert.equal(refused.headers['access-control-allow-origin'], CONSOLE_ORIGIN);
    assert.match(refused.headers['access-control-expose-headers'] ?? '', /retry-after/);
  });

  test('the browser CSR flow: a WebCrypto P-256 key, a CSR built by @peculiar/x509, posted cross-origin, verified by openssl', async () => {
    const key = await ccm.createApiKey('tenant', tenant.id, 'browser-console');
    const { csr, spki } = await browserCsr('browser-device-1');
    const path = `/v1/tenants/${tenant.id}/certificates`;
    const preflight = await request(ccm.url).options(path).set('origin', CONSOLE_ORIGIN).set('access-control-request-method', 'POST').set('access-control-request-headers', 'authorization,content-type');
    assert.equal(preflight.status, 204);
    const res = await request(ccm.url).post(path).set('origin', CONSOLE_ORIGIN).set('authorization', `Bearer ${key}`).set('content-type', 'application/json').send(JSON.stringify({ csr: csr.toString('pem'), ttlSeconds: 3600 }));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers['access-control-allow-origin'], CONSOLE_ORIGIN);
    assert.equal(res.body.keySource, 'csr');
    assert.equal(res.body.privateKeyPem, null);
    const certificate = new X509Certificate(res.body.certificatePem);
    assert.equal(certificate.subject, 'CN=browser-device-1');
    assert.deepEqual(certificate.publicKey.export({ type: 'spki', format: 'der' }), Buffer.from(spki), 'the certificate certifies the key made in the browser');
    const chainPath = await scratch.write('browser-chain.pem', tenant.chainPem);
    const leafPath = await scratch.write('browser-leaf.pem', res.body.certificatePem);
    const verified = await openssl(['verify', '-CAfile', chainPath, '-purpose', 'sslclient', leafPath]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /: OK/);
  });
});

describe('limits on PostgreSQL + local custody, CORS unset', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let tenant: { id: string; chainPem: string };

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' }, LIMITS);
    ccm = await installation.start();
    tenant = await createTenant(ccm, `limits-pg-${Date.now()}`);
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
  });

  test('issuance over the burst is 429 with Retry-After and no certificate row; no CORS headers for any origin', async () => {
    const key = await ccm.createApiKey('tenant', tenant.id, 'pg-key');
    const before = await rowCount(installation, 'certificates');
    for (let i = 0; i < 3; i++) await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).set('origin', CONSOLE_ORIGIN).send({ ttlSeconds: 600 }).expect(201);
    const refused = await ccm.api(key).post(`/v1/tenants/${tenant.id}/certificates`).set('origin', CONSOLE_ORIGIN).send({ ttlSeconds: 600 });
    assertRateLimited(refused);
    assert.deepEqual(accessControlHeaders(refused.headers), []);
    assert.equal(await rowCount(installation, 'certificates'), before + 3);
    const preflight = await request(ccm.url).options(`/v1/tenants/${tenant.id}/certificates`).set('origin', CONSOLE_ORIGIN).set('access-control-request-method', 'POST');
    assert.notEqual(preflight.status, 204);
    assert.deepEqual(accessControlHeaders(preflight.headers), []);
  });
});

function assertRateLimited(res: { status: number; headers: Record<string, string | undefined>; text: string }): void {
  assert.equal(res.status, 429, res.text);
  assert.match(res.headers['content-type'] ?? '', /application\/problem\+json/);
  assert.match(res.headers['retry-after'] ?? '', /^[1-9]\d*$/);
  const problem = JSON.parse(res.text);
  assert.equal(problem.type, `${PROBLEM}rate-limited`);
  assert.equal(problem.status, 429);
  assert.equal(problem.retryAfterSeconds, Number(res.headers['retry-after']));
}

function accessControlHeaders(headers: Record<string, unknown>): string[] {
  return Object.keys(headers).filter((name) => name.toLowerCase().startsWith('access-control-'));
}

async function createTenant(ccm: CcmUnderTest, name: string): Promise<{ id: string; chainPem: string }> {
  const res = await ccm.api().post('/v1/tenants').send({ name }).expect(201);
  const chain = await ccm.api().get(`/v1/tenants/${res.body.id}/ca-chain`).expect(200);
  return { id: res.body.id, chainPem: chain.text };
}

async function rowCount(installation: TestInstallation, table: string): Promise<number> {
  const [row] = await installation.database.query<{ count: string | number }>(`SELECT COUNT(*) AS count FROM ${table}`);
  return Number(row!.count);
}

/** What a browser page does: a non-extractable P-256 key pair from WebCrypto and a PKCS#10 request signed with it. */
async function browserCsr(commonName: string): Promise<{ csr: x509.Pkcs10CertificateRequest; spki: ArrayBuffer }> {
  const subtle = globalThis.crypto.subtle;
  const keys = await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName}`, keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } }, globalThis.crypto);
  return { csr, spki: await subtle.exportKey('spki', keys.publicKey) };
}

/** A POST over node:http, which (unlike supertest) reports what the server answered when it closes the connection after answering. */
function rawPost(base: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
