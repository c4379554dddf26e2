/**
 * RabbitMqAdapter against a fake management API: what it sends for each
 * verdict, that it sends nothing for what is already so, that it never
 * touches a user without its marker tag, and that a failing or hanging
 * node makes a call throw a typed error in bounded time.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { CertificateStatus, Device } from '@ccm/broker-agent';
import { RecordingAgentLog } from '@ccm/broker-agent/testing';
import { DEFAULT_DEVICE_PERMISSIONS } from '../src/configuration.js';
import { RabbitMqBatchError } from '../src/bounded.js';
import { RabbitMqPermissionError, RabbitMqRequestError } from '../src/errors.js';
import { RabbitMqAdapter, type RabbitMqAdapterSettings } from '../src/rabbitmq-adapter.js';
import { FakeManagementApi } from './fake-management.js';

function device(identity: string): Device {
  const certificate: CertificateStatus = {
    id: `id-${identity}`,
    tenantId: '0190a000-0000-7000-8000-000000000001',
    authorityId: '0190a000-0000-7000-8000-000000000002',
    serialNumber: '1',
    subject: identity,
    commonName: identity,
    state: 'active',
    notAfter: new Date(Date.now() + 86_400_000),
  };
  return { identity, certificates: [certificate] };
}

async function setUp(t: TestContext, options: Partial<RabbitMqAdapterSettings> & { agentTags?: string[] } = {}): Promise<{ fake: FakeManagementApi; adapter: RabbitMqAdapter; log: RecordingAgentLog }> {
  const fake = await FakeManagementApi.start(options.agentTags);
  const log = new RecordingAgentLog();
  const adapter = new RabbitMqAdapter(
    {
      managementUrl: fake.url,
      username: 'ccm-agent',
      password: 'secret',
      vhost: '/',
      devicePermissions: DEFAULT_DEVICE_PERMISSIONS,
      deviceTag: 'ccm-device',
      timeoutMs: 2000,
      concurrency: 4,
      ...options,
    },
    log,
  );
  t.after(async () => {
    await adapter.close();
    await fake.close();
  });
  return { fake, adapter, log };
}

test('start reads the node in three requests: whoami, users with limits, vhost permissions', async (t) => {
  const { fake, adapter } = await setUp(t);
  await adapter.start();
  assert.deepEqual(
    fake.requests.map((request) => `${request.method} ${request.path}`),
    ['GET /whoami', 'GET /users', 'GET /vhosts///permissions'],
  );
});

test('start refuses a management user without the administrator tag', async (t) => {
  const { adapter } = await setUp(t, { agentTags: ['monitoring'] });
  await assert.rejects(adapter.start(), (error: unknown) => error instanceof RabbitMqPermissionError && /administrator/.test(error.message));
});

test('no write for devices already as asked (in force, gone), and no request at all the second time', async (t) => {
  const { fake, adapter } = await setUp(t);
  fake.addUser('CN=in-force', ['ccm-device'], null, DEFAULT_DEVICE_PERMISSIONS);
  await adapter.start();
  fake.clearRequests();
  const once = async (): Promise<void> => {
    await adapter.letBackIn([device('CN=in-force')]);
    await adapter.shutOut([device('CN=suspended-before')]);
    await adapter.endForGood([device('CN=never-existed')]);
  };
  for (let round = 0; round < 2; round++) {
    await once();
    assert.deepEqual(fake.requests, []);
  }
});
test('a device an earlier agent version shut out (max-connections 0) is deleted by the next shutOut, which ends a session that survived', async (t) => {
  const { fake, adapter } = await setUp(t);
  fake.addUser('CN=survivor', ['ccm-device'], 0, DEFAULT_DEVICE_PERMISSIONS);
  fake.connections.push('CN=survivor');
  await adapter.start();
  fake.clearRequests();
  await adapter.shutOut([device('CN=survivor')]);
  assert.deepEqual(fake.writes(), ['POST /users/bulk-delete']);
  assert.deepEqual(fake.connections, []);
  assert.equal(fake.users.size, 0);
});
test('letBackIn of a new device: looks the name up, creates the user without password with the marker tag, sets permissions; the second call sends nothing', async (t) => {
  const { fake, adapter } = await setUp(t);
  await adapter.start();
  fake.clearRequests();
  await adapter.letBackIn([device('CN=new,O=Acme')]);
  assert.deepEqual(
    fake.requests.map((request) => `${request.method} ${request.path}`),
    ['GET /users/CN=new,O=Acme', 'PUT /users/CN=new,O=Acme', 'PUT /permissions///CN=new,O=Acme'],
  );
  assert.deepEqual(fake.requests[1]!.body, { password_hash: '', tags: 'ccm-device' });
  assert.deepEqual(fake.requests[2]!.body, DEFAULT_DEVICE_PERMISSIONS);
  fake.clearRequests();
  await adapter.letBackIn([device('CN=new,O=Acme')]);
  assert.deepEqual(fake.requests, []);
});

test('letBackIn of a shut-out device removes its limit only', async (t) => {
  const { fake, adapter } = await setUp(t);
  fake.addUser('CN=back', ['ccm-device'], 0, DEFAULT_DEVICE_PERMISSIONS);
  await adapter.start();
  fake.clearRequests();
  await adapter.letBackIn([device('CN=back')]);
  assert.deepEqual(fake.writes(), ['DELETE /user-limits/CN=back/max-connections']);
});

test('letBackIn rewrites permissions that differ from the configured ones', async (t) => {
  const { fake, adapter } = await setUp(t);
  fake.addUser('CN=old-rights', ['ccm-device'], null, { configure: '.*', write: '.*', read: '.*' });
  await adapter.start();
  fake.clearRequests();
  await adapter.letBackIn([device('CN=old-rights')]);
  assert.deepEqual(fake.writes(), ['PUT /permissions///CN=old-rights']);
});

test('letBackIn of many new devices: one user listing, then definitions imports in batches', async (t) => {
  const { fake, adapter } = await setUp(t, { importThreshold: 5, importBatchSize: 4 });
  await adapter.start();
  fake.clearRequests();
  const devices = Array.from({ length: 10 }, (_, i) => device(`CN=bulk-${i}`));
  await adapter.letBackIn(devices);
  assert.deepEqual(
    fake.requests.map((request) => `${request.method} ${request.path}`),
    ['GET /users', 'POST /definitions', 'POST /definitions', 'POST /definitions'],
  );
  assert.equal(fake.users.size, 10);
  assert.deepEqual(fake.permissions.get('/')!.get('CN=bulk-3'), DEFAULT_DEVICE_PERMISSIONS);
  fake.clearRequests();
  await adapter.letBackIn(devices);
  assert.deepEqual(fake.requests, []);
});

test('shutOut: the users deleted in one bulk request (RabbitMQ closes their connections, and a reconnect finds no user); again: nothing', async (t) => {
  const { fake, adapter } = await setUp(t);
  for (const name of ['CN=suspended-1', 'CN=suspended-2', 'CN=bystander']) {
    fake.addUser(name, ['ccm-device'], null, DEFAULT_DEVICE_PERMISSIONS);
    fake.connections.push(name);
  }
  await adapter.start();
  await adapter.listSessions();
  fake.clearRequests();
  await adapter.shutOut([device('CN=suspended-1'), device('CN=suspended-2')]);
  assert.deepEqual(fake.writes(), ['POST /users/bulk-delete']);
  assert.deepEqual(fake.requests[0]!.body, { users: ['CN=suspended-1', 'CN=suspended-2'] });
  assert.deepEqual(fake.connections, ['CN=bystander']);
  assert.deepEqual([...fake.users.keys()], ['CN=bystander']);
  fake.clearRequests();
  await adapter.shutOut([device('CN=suspended-1'), device('CN=suspended-2')]);
  assert.deepEqual(fake.requests, []);
});

test('letBackIn after shutOut creates the user again, with its permissions', async (t) => {
  const { fake, adapter } = await setUp(t);
  fake.addUser('CN=held', ['ccm-device'], null, DEFAULT_DEVICE_PERMISSIONS);
  await adapter.start();
  await adapter.shutOut([device('CN=held')]);
  fake.clearRequests();
  await adapter.letBackIn([device('CN=held')]);
  assert.deepEqual(fake.writes(), ['PUT /users/CN=held', 'PUT /permissions///CN=held']);
  assert.deepEqual(fake.users.get('CN=held'), { tags: ['ccm-device'], maxConnections: null });
  assert.deepEqual(fake.permissions.get('/')?.get('CN=held'), DEFAULT_DEVICE_PERMISSIONS);
});

test('a session that outlives its deleted user is found after the statistics interval and closed', async (t) => {
  const { fake, adapter, log } = await setUp(t, { leftoverCheckMs: 50 });
  fake.addUser('CN=stubborn', ['ccm-device'], null, DEFAULT_DEVICE_PERMISSIONS);
  fake.addUser('CN=bystander', ['ccm-device'], null, DEFAULT_DEVICE_PERMISSIONS);
  fake.connections.push('CN=stubborn', 'CN=bystander');
  fake.dropConnectionsOfDeletedUsers = false;
  await adapter.start();
  await adapter.shutOut([device('CN=stubborn')]);
  assert.deepEqual(fake.connections, ['CN=stubborn', 'CN=bystander']);
  const deadline = Date.now() + 3000;
  while (fake.connections.includes('CN=stubborn') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(fake.connections, ['CN=bystander']);
  assert.ok(fake.writes().includes('DELETE /connections/username/CN=stubborn'));
  assert.ok(log.lines.some((line) => line.message === 'sessions outlived their deleted users; closing them'));
});
test('shutOut of a device whose user is gone but that was live at the last listing closes its connections only', async (t) => {
  const { fake, adapter } = await setUp(t);
  fake.connections.push('CN=lingering');
  await adapter.start();
  assert.deepEqual([...(await adapter.listSessions())!], ['CN=lingering']);
  fake.clearRequests();
  await adapter.shutOut([device('CN=lingering'), device('CN=quiet')]);
  assert.deepEqual(fake.writes(), ['DELETE /connections/username/CN=lingering']);
  assert.deepEqual(fake.connections, []);
});
test('a close that failed is retried by the next shutOut', async (t) => {
  const { fake, adapter } = await setUp(t);
  fake.connections.push('CN=flaky');
  await adapter.start();
  await adapter.listSessions();
  fake.failWith = { status: 503, matching: (request) => request.method === 'DELETE' && request.path.startsWith('/connections/') };
  await assert.rejects(adapter.shutOut([device('CN=flaky')]), RabbitMqRequestError);
  fake.failWith = null;
  fake.clearRequests();
  await adapter.shutOut([device('CN=flaky')]);
  assert.deepEqual(fake.writes(), ['DELETE /connections/username/CN=flaky']);
  fake.clearRequests();
  await adapter.shutOut([device('CN=flaky')]);
  assert.deepEqual(fake.requests, []);
});
test('endForGood deletes the users in one bulk request (RabbitMQ closes their connections)', async (t) => {
  const { fake, adapter } = await setUp(t);
  fake.addUser('CN=revoked-1', ['ccm-device'], null, DEFAULT_DEVICE_PERMISSIONS);
  fake.addUser('CN=revoked-2', ['ccm-device'], 0, DEFAULT_DEVICE_PERMISSIONS);
  await adapter.start();
  fake.clearRequests();
  await adapter.endForGood([device('CN=revoked-1'), device('CN=revoked-2')]);
  assert.deepEqual(fake.writes(), ['POST /users/bulk-delete']);
  assert.deepEqual(fake.requests[0]!.body, { users: ['CN=revoked-1', 'CN=revoked-2'] });
  assert.equal(fake.users.size, 0);
  fake.clearRequests();
  await adapter.endForGood([device('CN=revoked-1'), device('CN=revoked-2')]);
  assert.deepEqual(fake.requests, []);
});

test('a user of the same name without the marker tag is never touched', async (t) => {
  const { fake, adapter, log } = await setUp(t);
  fake.addUser('CN=operator-made', ['management'], null, { configure: '.*', write: '.*', read: '.*' });
  fake.connections.push('CN=operator-made');
  await adapter.start();
  await adapter.listSessions();
  fake.clearRequests();
  await adapter.letBackIn([device('CN=operator-made')]);
  await adapter.shutOut([device('CN=operator-made')]);
  await adapter.endForGood([device('CN=operator-made')]);
  assert.deepEqual(fake.writes(), []);
  assert.equal(log.lines.filter((line) => line.level === 'error' && line.fields?.['identity'] === 'CN=operator-made').length, 3);
  assert.deepEqual(fake.users.get('CN=operator-made'), { tags: ['management'], maxConnections: null });
});

test('a user someone made after start is looked up before creating, and left alone without the marker tag', async (t) => {
  const { fake, adapter } = await setUp(t);
  await adapter.start();
  fake.addUser('CN=late', ['monitoring']);
  fake.clearRequests();
  await adapter.letBackIn([device('CN=late')]);
  assert.deepEqual(fake.requests.map((request) => `${request.method} ${request.path}`), ['GET /users/CN=late']);
});

test('listSessions reads every page of connections', async (t) => {
  const { fake, adapter } = await setUp(t);
  for (let i = 0; i < 1203; i++) fake.connections.push(`CN=live-${i}`);
  await adapter.start();
  fake.clearRequests();
  const live = await adapter.listSessions();
  assert.equal(live!.size, 1203);
  assert.deepEqual(fake.requests.map((request) => request.query.match(/page=(\d+)/)?.[1] ?? request.path), ['/overview', '1', '2', '3']);
});

test('a 500 makes the call throw an error naming the request', async (t) => {
  const { fake, adapter } = await setUp(t);
  fake.addUser('CN=x', ['ccm-device'], null, DEFAULT_DEVICE_PERMISSIONS);
  await adapter.start();
  fake.failWith = { status: 500, matching: (request) => request.method === 'POST' };
  await assert.rejects(adapter.shutOut([device('CN=x')]), (error: unknown) => {
    assert.ok(error instanceof RabbitMqRequestError);
    assert.equal(error.status, 500);
    assert.equal(error.failure, 'status');
    assert.match(error.message, /POST \/users\/bulk-delete answered 500/);
    return true;
  });
  // Nothing recorded as done: the retry deletes the user.
  fake.failWith = null;
  fake.clearRequests();
  await adapter.shutOut([device('CN=x')]);
  assert.deepEqual(fake.writes(), ['POST /users/bulk-delete']);
  assert.equal(fake.users.size, 0);
});

test('a node that never answers makes the call throw a timeout within the request timeout', async (t) => {
  const { fake, adapter } = await setUp(t, { timeoutMs: 300 });
  await adapter.start();
  fake.failWith = { status: 'hang', matching: (request) => request.method !== 'GET' || request.path.startsWith('/users/') };
  const started = performance.now();
  await assert.rejects(adapter.letBackIn([device('CN=a'), device('CN=b')]), (error: unknown) => {
    assert.ok(error instanceof RabbitMqBatchError);
    assert.equal(error.failures.length, 2);
    assert.ok(error.failures.every((failure) => failure instanceof RabbitMqRequestError && failure.failure === 'timeout'));
    return true;
  });
  assert.ok(performance.now() - started < 1500, `took ${Math.round(performance.now() - started)} ms`);
});

test('a refused connection throws an "unreachable" error', async (t) => {
  const { fake, adapter } = await setUp(t);
  await fake.close();
  await assert.rejects(adapter.check(), (error: unknown) => error instanceof RabbitMqRequestError && error.failure === 'unreachable' && error.status === null && /GET \/whoami/.test(error.message));
});

test('identityOf maps the subject to the DN as RabbitMQ prints it', async (t) => {
  const { adapter } = await setUp(t);
  assert.equal(adapter.identityOf({ ...device('x').certificates[0]!, subject: 'CN=Zähler,O=Acme' }), 'CN=Z\\C3\\A4hler,O=Acme');
  assert.equal(adapter.identityOf({ ...device('x').certificates[0]!, subject: '' }), null);
});
