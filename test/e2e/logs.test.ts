/**
 * The logs of a full run: ccm as its own process (`node dist/src/main.js`)
 * on PostgreSQL and Redis with vault custody through the Transit-compatible
 * server (AppRole login, so a secret_id and issued tokens exist), at the most
 * verbose level. Driven over HTTP through everything that handles a secret
 * (API keys, server-side key generation, CSRs, device authentication, the
 * life cycle, CRL and OCSP, refusals), then its whole stdout and stderr are
 * checked: every stdout line is a JSON object, every request has its line
 * under the id it was answered with, and no secret appears anywhere.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createPostgresDatabase, type TestDatabase } from '../support/databases.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';
import { freePort } from '../support/server-process.js';
import { TransitServer } from '../support/transit-server.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly requestId: string;
}

let database: TestDatabase;
let vault: TransitServer;
let scratch: Scratch;
let child: ChildProcess;
let url: string;
let stdout = '';
let stderr = '';
const roleId = `role-${randomBytes(8).toString('hex')}`;
const secretId = `secret-${randomBytes(16).toString('hex')}`;
const adminKey = `admin-${randomBytes(24).toString('base64url')}`;
const sent: Sent[] = [];

before(async () => {
  database = await createPostgresDatabase();
  vault = new TransitServer();
  const address = await vault.start();
  vault.addAppRole({ roleId, secretId });
  scratch = await Scratch.create();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      ...database.env,
      CCM_HOST: '127.0.0.1',
      CCM_PORT: String(port),
      CCM_PUBLIC_URL: url,
      CCM_LOG_LEVEL: 'verbose',
      CCM_ADMIN_API_KEY: adminKey,
      CCM_REDIS_URL: 'redis://127.0.0.1:6379',
      CCM_CUSTODY: 'vault',
      CCM_VAULT_ADDR: address,
      CCM_VAULT_AUTH: 'approle',
      CCM_VAULT_ROLE_ID: roleId,
      CCM_VAULT_SECRET_ID: secretId,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 40_000;
  while (!stdout.includes('ccm listening')) {
    if (Date.now() > deadline || child.exitCode !== null) assert.fail(`ccm did not start:\n${stdout}\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  await vault?.close();
  await database?.drop();
  await scratch?.cleanup();
});

/** One request, remembered with the id it was answered under. */
async function call(method: string, path: string, options: { key?: string | null; json?: unknown; body?: Buffer; contentType?: string; requestId?: string } = {}): Promise<{ status: number; requestId: string; body: Buffer; json: () => any }> {
  const headers: Record<string, string> = {};
  const key = options.key === undefined ? adminKey : options.key;
  if (key !== null) headers['authorization'] = `Bearer ${key}`;
  if (options.requestId !== undefined) headers['x-request-id'] = options.requestId;
  let body: string | Buffer | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/octet-stream';
    body = options.body;
  }
  const response = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const requestId = response.headers.get('x-request-id');
  assert.ok(requestId, `${method} ${path} answered with an X-Request-Id`);
  const bytes = Buffer.from(await response.arrayBuffer());
  sent.push({ method, path, status: response.status, requestId });
  return { status: response.status, requestId, body: bytes, json: () => JSON.parse(bytes.toString('utf8')) };
}

test('a full run logs one JSON line per request under its X-Request-Id, and no key, token, secret_id or private key anywhere', { timeout: 60_000 }, async () => {
  const secrets: { name: string; value: string }[] = [{ name: 'bootstrap administrator key', value: adminKey }, { name: 'AppRole secret_id', value: secretId }];
  const addPrivateKey = (name: string, pem: string) => {
    secrets.push({ name, value: pem });
    const base64 = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    secrets.push({ name: `${name} (base64 body)`, value: base64 });
    for (let offset = 0; offset + 40 <= base64.length; offset += Math.max(1, Math.floor((base64.length - 40) / 6))) secrets.push({ name: `${name} (base64 at ${offset})`, value: base64.slice(offset, offset + 40) });
  };

  // An administrator key of its own, used from here on: its key is returned once.
  const credential = await call('POST', '/v1/api-credentials', { json: { name: 'logs-e2e', role: 'admin' } });
  assert.equal(credential.status, 201);
  const apiKey = credential.json().key as string;
  secrets.push({ name: 'created API key', value: apiKey });

  const tenant = await call('POST', '/v1/tenants', { key: apiKey, json: { name: `logs-${Date.now()}` } });
  assert.equal(tenant.status, 201);
  const tenantId = tenant.json().id as string;
  const chain = await call('GET', `/v1/tenants/${tenantId}/ca-chain`, { key: apiKey });
  assert.equal(chain.status, 200);

  const generated = await call('POST', `/v1/tenants/${tenantId}/certificates`, { key: apiKey, json: { commonName: 'sensor-keygen', ttlSeconds: 3600 } });
  assert.equal(generated.status, 201);
  const device = generated.json() as { id: string; authorityId: string; certificatePem: string; privateKeyPem: string };
  const authorityId = device.authorityId;
  assert.match(device.privateKeyPem, /PRIVATE KEY/);
  addPrivateKey('generated private key', device.privateKeyPem);

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const csrKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  addPrivateKey('CSR private key', csrKeyPem);
  const csr = await openssl(['req', '-new', '-key', await scratch.write('csr.key', csrKeyPem), '-subj', '/CN=sensor-csr']);
  assert.equal(csr.code, 0, csr.stderr);
  const fromCsr = await call('POST', `/v1/tenants/${tenantId}/certificates`, { key: apiKey, json: { csr: csr.stdout, ttlSeconds: 3600 } });
  assert.equal(fromCsr.status, 201);

  assert.equal((await call('POST', '/v1/authentications', { key: apiKey, json: { certificatePem: device.certificatePem } })).status, 200);
  const certificatePath = `/v1/tenants/${tenantId}/certificates/${device.id}`;
  assert.equal((await call('POST', `${certificatePath}/suspend`, { key: apiKey, json: {} })).status, 200);
  assert.equal((await call('POST', `${certificatePath}/reactivate`, { key: apiKey, json: {} })).status, 200);

  const leafPath = await scratch.write('leaf.pem', device.certificatePem);
  const rootPath = await scratch.write('root.pem', pemBlocks(chain.body.toString('utf8'))[0]!);
  const ocspRequestPath = scratch.path('ocsp-request.der');
  const reqout = await openssl(['ocsp', '-issuer', rootPath, '-cert', leafPath, '-no_nonce', '-reqout', ocspRequestPath]);
  assert.equal(reqout.code, 0, reqout.stderr);
  const ocspRequest = await readFile(ocspRequestPath);
  assert.equal((await call('POST', `/ocsp/${authorityId}`, { key: null, body: ocspRequest, contentType: 'application/ocsp-request' })).status, 200);

  assert.equal((await call('POST', `${certificatePath}/revoke`, { key: apiKey, json: { reason: 'keyCompromise' } })).status, 200);
  assert.equal((await call('GET', `/v1/tenants/${tenantId}/crl?format=pem`, { key: apiKey })).status, 200);
  assert.equal((await call('GET', `/crl/${authorityId}.crl`, { key: null })).status, 200);
  assert.equal((await call('GET', `/ocsp/${authorityId}/${encodeURIComponent(ocspRequest.toString('base64'))}`, { key: null })).status, 200);

  // Refusals.
  const wrongKey = await call('GET', `/v1/tenants/${tenantId}`, { key: `${apiKey.slice(0, -4)}XXXX` });
  assert.equal(wrongKey.status, 401);
  assert.equal(wrongKey.json().requestId, wrongKey.requestId, 'a problem body carries the request id');
  const badCsr = await call('POST', `/v1/tenants/${tenantId}/certificates`, { key: apiKey, json: { csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' } });
  assert.equal(badCsr.status, 400);
  assert.equal(badCsr.json().type, 'urn:ccm:problem:malformed-csr');
  assert.equal((await call('GET', `/v1/tenants/${tenantId}/certificates/01a20000-0000-7000-8000-000000000000`, { key: apiKey })).status, 404);
  // Refused by the router, before any hook: still an id, a problem body and a line.
  const unroutable = await call('GET', '/v1/tenants/%E0%A4%A', { key: apiKey });
  assert.equal(unroutable.status, 400);
  assert.equal(unroutable.json().requestId, unroutable.requestId);

  // Request ids: the caller's own is kept, a hostile one replaced.
  const traced = await call('GET', `/v1/tenants/${tenantId}`, { key: apiKey, requestId: 'platform-trace.42:abc_DEF-1' });
  assert.equal(traced.requestId, 'platform-trace.42:abc_DEF-1');
  assert.equal(traced.status, 200);
  for (const hostile of ['x'.repeat(129), 'a b', '","level":"fatal","msg":"forged', 'id\u00e9']) {
    const answered = await call('GET', `/v1/tenants/${tenantId}`, { key: apiKey, requestId: hostile });
    assert.match(answered.requestId, UUID_V7, `${JSON.stringify(hostile)} is replaced`);
  }
  // A newline cannot enter an id: in HTTP/1.1 it ends the header line, so only what precedes it is the id.
  const raw = await rawRequest(`GET /v1/tenants/${tenantId} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${apiKey}\r\nX-Request-Id: first-line\r\nInjected: {"level":"fatal"}\r\nConnection: close\r\n\r\n`);
  assert.match(raw, /^HTTP\/1\.1 200 /);
  assert.match(raw, /\r\nx-request-id: first-line\r\n/i);
  sent.push({ method: 'GET', path: `/v1/tenants/${tenantId}`, status: 200, requestId: 'first-line' });

  // The process is done with; what it wrote is all there is to judge.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;

  assert.equal(stderr, '', 'everything ccm writes is a JSON line on stdout');
  const lines = stdout.split('\n').filter((line) => line.length > 0);
  const entries = lines.map((line, index) => {
    let entry: unknown;
    assert.doesNotThrow(() => (entry = JSON.parse(line)), `stdout line ${index + 1} is JSON: ${line}`);
    assert.ok(entry !== null && typeof entry === 'object' && !Array.isArray(entry), `stdout line ${index + 1} is an object`);
    const record = entry as Record<string, unknown>;
    assert.equal(typeof record['time'], 'string', `line ${index + 1} has a time`);
    assert.match(String(record['level']), /^(trace|debug|info|warn|error|fatal)$/, `line ${index + 1} has a level label`);
    assert.equal(typeof record['msg'], 'string', `line ${index + 1} has a msg`);
    return record;
  });
  assert.ok(entries.some((entry) => entry['context'] === 'Custody' && /approle auth/.test(String(entry['msg']))), 'the custody line is there');

  const completed = entries.filter((entry) => entry['msg'] === 'request completed');
  for (const request of sent) {
    const line = completed.find((entry) => entry['requestId'] === request.requestId);
    assert.ok(line, `${request.method} ${request.path} (${request.requestId}) has its line`);
    assert.equal(line['method'], request.method);
    assert.equal(line['status'], request.status);
    assert.equal(typeof line['durationMs'], 'number');
  }
  const credentialId = credential.json().id as string;
  assert.equal(completed.find((entry) => entry['requestId'] === tenant.requestId)?.['actor'], `admin:${credentialId}`);
  assert.equal(completed.find((entry) => entry['requestId'] === tenant.requestId)?.['route'], '/v1/tenants');
  assert.equal(completed.find((entry) => entry['requestId'] === credential.requestId)?.['actor'], 'bootstrap-admin');
  assert.equal(new Set(completed.map((entry) => entry['requestId'])).size, completed.length, 'one line per request');

  const tokens = vault.appRoleTokens(roleId);
  assert.ok(tokens.length >= 1, 'ccm logged in with AppRole');
  for (const token of [...tokens, vault.rootToken]) secrets.push({ name: 'Vault token', value: token });
  secrets.push({ name: 'PEM marker', value: 'PRIVATE KEY' });
  const everything = stdout + stderr;
  for (const secret of secrets) assert.ok(!everything.includes(secret.value), `the ${secret.name} is not in the output`);
  assert.ok(lines.length > sent.length, `${lines.length} lines on stdout`);
});

function rawRequest(text: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}
