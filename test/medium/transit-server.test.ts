/**
 * The Transit test server against shared/vault/transit-api.md: raw fetch for
 * statuses, envelopes and exact error texts, node-vault for the calls the
 * custody adapter makes, node:crypto to check every signature it produces.
 */
import assert from 'node:assert/strict';
import { constants, createHash, createPrivateKey, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import NodeVault from 'node-vault';
import { TransitServer, multierror, publicKeyFromVault } from '../support/transit-server.js';

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: any;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const server = new TransitServer();
let address = '';

async function call(
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; token?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? server.rootToken : options.token;
  if (token !== null) headers['X-Vault-Token'] = token;
  const init: RequestInit = { method, headers };
  if (options.rawBody !== undefined) init.body = options.rawBody;
  else if (options.body !== undefined) init.body = JSON.stringify(options.body);
  const response = await fetch(`${address}/v1/${path}`, init);
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, headers: response.headers, text, json };
}

async function errorOf(method: string, path: string, body?: unknown): Promise<[number, string[]]> {
  const answer = await call(method, path, body === undefined ? {} : { body });
  return [answer.status, answer.json?.errors];
}

const sign = (key: string, body: Record<string, unknown>, suffix = ''): Promise<Answer> => call('POST', `transit/sign/${key}${suffix}`, { body });
const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64');
const signatureBytes = (signature: string, encoding: 'base64' | 'base64url' = 'base64'): Buffer => Buffer.from(signature.split(':')[2]!, encoding);

async function publicKeyOf(name: string): Promise<KeyObject> {
  const read = await call('GET', `transit/keys/${name}`);
  return publicKeyFromVault(read.json.data.type, read.json.data.keys[String(read.json.data.latest_version)].public_key);
}

const MESSAGE = Buffer.from('TBSCertificate stand-in');

before(async () => {
  address = await server.start();
  for (const [name, type] of [
    ['ec256', 'ecdsa-p256'],
    ['ec384', 'ecdsa-p384'],
    ['ec521', 'ecdsa-p521'],
    ['ed', 'ed25519'],
    ['rsa', 'rsa-2048'],
  ]) {
    const created = await call('POST', `transit/keys/${name}`, { body: { type } });
    assert.equal(created.status, 200);
  }
});

after(() => server.close());

describe('HTTP layer', () => {
  it('answers the success envelope with no-store caching and a trailing newline', async () => {
    const answer = await call('GET', 'transit/keys/ec256');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('content-type'), 'application/json');
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    assert.ok(answer.text.endsWith('}\n'));
    const { request_id, data, ...rest } = answer.json;
    assert.match(request_id, UUID);
    assert.equal(data.name, 'ec256');
    assert.deepEqual(rest, { lease_id: '', renewable: false, lease_duration: 0, wrap_info: null, warnings: null, auth: null, mount_type: 'transit' });
  });

  it('treats GET with a true list= value as LIST and rejects an unparsable one with an empty error list', async () => {
    for (const value of ['true', '1', 't', 'TRUE']) {
      const answer = await call('GET', `transit/keys?list=${value}`);
      assert.equal(answer.status, 200, value);
      assert.deepEqual(answer.json.data.keys, ['ec256', 'ec384', 'ec521', 'ed', 'rsa']);
    }
    const bad = await call('GET', 'transit/keys?list=maybe');
    assert.equal(bad.status, 400);
    assert.equal(bad.text, '{"errors":[]}\n');
  });

  it('answers 405 unsupported operation for a plain GET on the list-only keys path', async () => {
    assert.deepEqual(await errorOf('GET', 'transit/keys'), [405, [multierror('unsupported operation')]]);
    assert.deepEqual(await errorOf('GET', 'transit/sign/ec256'), [405, [multierror('unsupported operation')]]);
  });

  it('answers 405 with an empty error list for verbs Vault does not map', async () => {
    for (const method of ['PATCH', 'OPTIONS']) {
      const answer = await call(method, 'transit/keys/ec256');
      assert.equal(answer.status, 405, method);
      assert.equal(answer.text, '{"errors":[]}\n');
    }
  });

  it('answers 403 permission denied without a token', async () => {
    const answer = await call('GET', 'transit/keys/ec256', { token: null });
    assert.equal(answer.status, 403);
    assert.equal(answer.text, '{"errors":["permission denied"]}\n');
  });

  it('answers 403 with both permission denied and invalid token for an unknown token', async () => {
    const answer = await call('GET', 'transit/keys/ec256', { token: 'hvs.unknown' });
    assert.equal(answer.status, 403);
    assert.deepEqual(answer.json.errors, ['2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n']);
  });

  it('accepts Authorization: Bearer, with X-Vault-Token winning when both are sent', async () => {
    const bearer = await call('GET', 'transit/keys/ec256', { token: null, headers: { Authorization: `Bearer ${server.rootToken}` } });
    assert.equal(bearer.status, 200);
    const both = await call('GET', 'transit/keys/ec256', { headers: { Authorization: 'Bearer hvs.unknown' } });
    assert.equal(both.status, 200);
    const badBearer = await call('GET', 'transit/keys/ec256', { token: null, headers: { Authorization: 'Bearer hvs.unknown' } });
    assert.equal(badBearer.status, 403);
  });

  it('answers 403 invalid token once a registered token outlives its TTL', async () => {
    server.addToken('hvs.short-lived', { ttlSeconds: 0.05 });
    assert.equal((await call('GET', 'transit/keys/ec256', { token: 'hvs.short-lived' })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const expired = await call('GET', 'transit/keys/ec256', { token: 'hvs.short-lived' });
    assert.equal(expired.status, 403);
    assert.match(expired.json.errors[0], /invalid token/);
  });

  it('answers the multierror 403 for a path outside the token policy', async () => {
    const token = server.createToken({ policyPaths: ['transit/sign/ec*'] });
    assert.equal((await call('POST', 'transit/sign/ec256', { token, body: { input: b64(MESSAGE) } })).status, 200);
    const refused = await call('GET', 'transit/keys/ec256', { token });
    assert.equal(refused.status, 403);
    assert.deepEqual(refused.json.errors, [multierror('permission denied')]);
  });

  it('answers 400 error parsing JSON for a body that is not a JSON object', async () => {
    for (const rawBody of ['{not json', '[1,2]']) {
      const answer = await call('POST', 'transit/sign/ec256', { rawBody });
      assert.equal(answer.status, 400);
      assert.equal(answer.text, '{"errors":["error parsing JSON"]}\n');
    }
  });

  it('ignores unknown fields with the exact, sorted warning', async () => {
    const answer = await call('POST', 'transit/keys/warned', { body: { type: 'ecdsa-p256', zeta: 1, deletion_allowed: true } });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json.warnings, ['Endpoint ignored these unrecognized parameters: [deletion_allowed zeta]']);
    assert.equal(answer.json.data.deletion_allowed, false);
  });

  it('ignores unknown query parameters of a read with the same warning', async () => {
    const answer = await call('GET', 'transit/keys/ec256?foo=1');
    assert.deepEqual(answer.json.warnings, ['Endpoint ignored these unrecognized parameters: [foo]']);
  });

  it('answers 400 for a write to a path ending in a slash', async () => {
    assert.deepEqual(await errorOf('POST', 'transit/keys/', {}), [400, ["cannot write to a path ending in '/'"]]);
  });

  it('answers 404 no handler for route outside every mount', async () => {
    assert.deepEqual(await errorOf('GET', 'secret/data/x'), [404, ['no handler for route "secret/data/x". route entry not found.']]);
  });

  it('answers 404 unsupported path for transit sub-paths and key names outside the name rule', async () => {
    for (const path of ['transit/foo', 'transit/keys/-bad', 'transit/keys/bad-', 'transit/keys/a/b', 'transit/keys/a$b']) {
      assert.deepEqual(await errorOf('GET', path), [404, [multierror('unsupported path')]], path);
    }
  });

  it('answers 400 Field validation failed for a value that cannot be coerced', async () => {
    const [status, errors] = await errorOf('POST', 'transit/sign/ec256', { input: '', key_version: 'abc' });
    assert.equal(status, 400);
    assert.deepEqual(errors, ['Field validation failed: error converting input abc for field "key_version": strconv.ParseInt: parsing "abc": invalid syntax']);
  });

  it('coerces weakly typed declared fields like Vault', async () => {
    const answer = await sign('ec256', { input: b64(MESSAGE), key_version: '1', prehashed: 'false' });
    assert.equal(answer.status, 200);
    assert.equal(answer.json.data.key_version, 1);
  });
});

describe('sys/health', () => {
  it('answers the unwrapped health body without a token, 200 while unsealed', async () => {
    const answer = await call('GET', 'sys/health', { token: null });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    assert.ok(answer.text.endsWith('\n'));
    assert.equal(answer.json.request_id, undefined);
    assert.equal(answer.json.initialized, true);
    assert.equal(answer.json.sealed, false);
    assert.equal(answer.json.cluster_name, 'vault-cluster-test');
    assert.equal(typeof answer.json.server_time_utc, 'number');
  });

  it('answers 503 everywhere while sealed, health included, with query overrides honoured', async () => {
    server.seal();
    try {
      const health = await call('GET', 'sys/health', { token: null });
      assert.equal(health.status, 503);
      assert.equal(health.json.sealed, true);
      assert.equal(health.json.cluster_name, undefined);
      assert.equal((await call('GET', 'sys/health?sealedcode=200', { token: null })).status, 200);
      assert.deepEqual(await errorOf('GET', 'transit/keys/ec256'), [503, ['Vault is sealed']]);
      assert.deepEqual(await errorOf('POST', 'transit/sign/ec256', { input: '' }), [503, ['Vault is sealed']]);
    } finally {
      server.unseal();
    }
    assert.equal((await call('GET', 'sys/health')).status, 200);
  });

  it('answers 400 for a non-integer status code and 405 for other verbs', async () => {
    assert.deepEqual(await errorOf('GET', 'sys/health?activecode=abc'), [400, []]);
    assert.deepEqual(await errorOf('POST', 'sys/health', {}), [405, []]);
    assert.equal((await call('GET', 'sys/health?activecode=204', { token: null })).status, 204);
  });
});

describe('sys/mounts and AppRole', () => {
  it('mounts transit with 204 and no body, serves it, and refuses to mount the same path twice', async () => {
    const mounted = await call('POST', 'sys/mounts/second', { body: { type: 'transit', mount_point: 'second' } });
    assert.equal(mounted.status, 204);
    assert.equal(mounted.text, '');
    assert.equal(mounted.headers.get('content-type'), 'application/json');
    assert.deepEqual(await errorOf('GET', 'second/keys?list=true'), [404, []], 'an empty key list is a 404');
    assert.equal((await call('POST', 'second/keys/k', { body: { type: 'ed25519' } })).status, 200);
    assert.deepEqual(await errorOf('POST', 'sys/mounts/transit', { type: 'transit' }), [400, ['path is already in use at transit/']]);
    assert.deepEqual(await errorOf('POST', 'sys/mounts/transit/inner', { type: 'transit' }), [400, ['path is already in use at transit/']]);
  });

  it('logs in with AppRole: data null, the auth block, and a token that works for its lease', async () => {
    server.addAppRole({ roleId: 'role-1', secretId: 'secret-1', roleName: 'ccm', tokenTtlSeconds: 600, policies: ['ccm'] });
    const answer = await call('POST', 'auth/approle/login', { token: null, body: { role_id: ' role-1 ', secret_id: 'secret-1\n' } });
    assert.equal(answer.status, 200);
    assert.equal(answer.json.data, null);
    assert.equal(answer.json.lease_duration, 0);
    const auth = answer.json.auth;
    assert.match(auth.client_token, /^hvs\./);
    assert.equal(auth.lease_duration, 600);
    assert.equal(auth.renewable, true);
    assert.deepEqual(auth.policies, ['default', 'ccm']);
    assert.deepEqual(auth.metadata, { role_name: 'ccm' });
    assert.equal(auth.token_type, 'service');
    assert.deepEqual(server.appRoleTokens('role-1'), [auth.client_token]);
    assert.equal((await call('GET', 'transit/keys/ec256', { token: auth.client_token })).status, 200);
  });

  it('answers the AppRole login errors with 400', async () => {
    server.addAppRole({ roleId: 'role-2', secretId: 'secret-2' });
    const login = (body: unknown) => errorOf('POST', 'auth/approle/login', body);
    assert.deepEqual(await login({ secret_id: 'secret-2' }), [400, ['missing role_id']]);
    assert.deepEqual(await login({ role_id: 'nobody', secret_id: 'secret-2' }), [400, ['invalid role or secret ID']]);
    assert.deepEqual(await login({ role_id: 'role-2' }), [400, ['missing secret_id']]);
    assert.deepEqual(await login({ role_id: 'role-2', secret_id: 'wrong' }), [400, ['invalid role or secret ID']]);
  });
});

describe('Kubernetes login and token lookup and renewal (beyond the fact sheet)', () => {
  it('logs in with Kubernetes auth: data null, the auth block with the service account metadata, and a working token', async () => {
    server.addKubernetesRole({ name: 'ccm', jwts: ['jwt-a'], serviceAccountName: 'ccm-sa', serviceAccountNamespace: 'pki', tokenTtlSeconds: 600, policies: ['ccm'] });
    const answer = await call('POST', 'auth/kubernetes/login', { token: null, body: { role: 'ccm', jwt: 'jwt-a' } });
    assert.equal(answer.status, 200);
    assert.equal(answer.json.data, null);
    assert.equal(answer.json.mount_type, 'kubernetes');
    const auth = answer.json.auth;
    assert.match(auth.client_token, /^hvs\./);
    assert.equal(auth.lease_duration, 600);
    assert.equal(auth.renewable, true);
    assert.deepEqual(auth.policies, ['default', 'ccm']);
    assert.equal(auth.metadata.role, 'ccm');
    assert.equal(auth.metadata.service_account_name, 'ccm-sa');
    assert.equal(auth.metadata.service_account_namespace, 'pki');
    assert.match(auth.metadata.service_account_uid, UUID);
    assert.match(auth.entity_id, UUID);
    assert.deepEqual(server.kubernetesTokens('ccm'), [auth.client_token]);
    assert.equal((await call('GET', 'transit/keys/ec256', { token: auth.client_token })).status, 200);
  });

  it('answers the Kubernetes login errors: 400 for missing fields and unknown roles, a bare 403 for a refused JWT', async () => {
    server.addKubernetesRole({ name: 'rotating', jwts: ['jwt-old'], mountPath: 'k8s' });
    const login = (body: unknown) => call('POST', 'auth/k8s/login', { token: null, body });
    assert.deepEqual((await login({ jwt: 'jwt-old' })).json.errors, ['missing role']);
    assert.deepEqual((await login({ role: 'rotating' })).json.errors, ['missing jwt']);
    const unknown = await login({ role: 'nobody', jwt: 'jwt-old' });
    assert.deepEqual([unknown.status, unknown.json.errors], [400, ['invalid role name "nobody"']]);
    const refused = await login({ role: 'rotating', jwt: 'jwt-forged' });
    assert.equal(refused.status, 403);
    assert.equal(refused.text, '{"errors":["permission denied"]}\n', 'not in multierror form: 33 bytes, as Vault sends it');
    assert.equal((await login({ role: 'rotating', jwt: 'jwt-old' })).status, 200);
    server.acceptKubernetesJwts('rotating', ['jwt-new'], 'k8s');
    assert.equal((await login({ role: 'rotating', jwt: 'jwt-old' })).status, 403, 'a rotated-out JWT is refused');
    assert.equal((await login({ role: 'rotating', jwt: 'jwt-new' })).status, 200);
    assert.deepEqual((await call('GET', 'auth/k8s/role/rotating')).json.errors, [multierror('unsupported path')]);
  });

  it('looks up the root token: no expiry, not renewable, root policy', async () => {
    const answer = await call('GET', 'auth/token/lookup-self');
    assert.equal(answer.status, 200);
    assert.equal(answer.json.mount_type, 'token');
    const data = answer.json.data;
    assert.equal(data.id, server.rootToken);
    assert.equal(data.ttl, 0);
    assert.equal(data.expire_time, null);
    assert.equal(data.renewable, false);
    assert.equal(data.creation_ttl, 0);
    assert.deepEqual(data.policies, ['root']);
    assert.equal(data.path, 'auth/token/root');
    assert.equal(data.type, 'service');
    assert.equal(data.period, undefined);
    assert.deepEqual(await errorOf('POST', 'auth/token/renew-self'), [400, ['lease is not renewable']]);
  });

  it('looks up a token with a TTL: ttl, expire_time, creation_ttl and renewable as Vault reports them', async () => {
    const token = server.createToken({ ttlSeconds: 600 });
    const before = Date.now();
    const data = (await call('GET', 'auth/token/lookup-self', { token })).json.data;
    assert.ok(data.ttl === 600 || data.ttl === 599, `ttl ${data.ttl}`);
    assert.equal(data.creation_ttl, 600);
    assert.equal(data.renewable, true);
    assert.equal(data.explicit_max_ttl, 0);
    assert.ok(Math.abs(Date.parse(data.expire_time) - (before + 600_000)) < 2000);
    assert.match(data.issue_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.equal(typeof data.creation_time, 'number');
    assert.equal(data.last_renewal_time, undefined);
    const fixed = server.createToken({ ttlSeconds: 600, renewable: false });
    assert.equal((await call('GET', 'auth/token/lookup-self', { token: fixed })).json.data.renewable, false);
    assert.deepEqual((await call('POST', 'auth/token/renew-self', { token: fixed })).json.errors, ['lease is not renewable']);
  });

  it('renews a token by its TTL or the increment asked, and caps the renewal at the explicit max TTL with Vault\'s warning', async () => {
    const token = server.createToken({ ttlSeconds: 600, explicitMaxTtlSeconds: 700, policyPaths: ['transit/keys/*'] });
    const renewed = await call('POST', 'auth/token/renew-self', { token });
    assert.equal(renewed.status, 200, 'the default policy allows renew-self whatever else the token may do');
    assert.equal(renewed.json.data, null);
    assert.equal(renewed.json.warnings, null);
    assert.equal(renewed.json.auth.client_token, token);
    assert.equal(renewed.json.auth.lease_duration, 600);
    assert.equal(renewed.json.auth.renewable, true);
    const looked = (await call('GET', 'auth/token/lookup-self', { token })).json.data;
    assert.equal(typeof looked.last_renewal_time, 'number');
    assert.equal(typeof looked.last_renewal, 'string');
    const capped = await call('POST', 'auth/token/renew-self', { token, body: { increment: '1000s' } });
    assert.equal(capped.status, 200);
    assert.ok(capped.json.auth.lease_duration >= 699 && capped.json.auth.lease_duration <= 700, `capped at ${capped.json.auth.lease_duration}`);
    assert.equal(capped.json.warnings.length, 1);
    assert.match(capped.json.warnings[0], /^TTL of "16m40s" exceeded the effective max_ttl of "11m(39|40)s"; TTL value is capped accordingly$/);
    const expiresAt = server.tokenExpiresAt(token)!;
    assert.ok(Math.abs(expiresAt - (Date.now() + capped.json.auth.lease_duration * 1000)) < 2000);
    const smaller = await call('POST', 'auth/token/renew-self', { token, body: { increment: 60 } });
    assert.equal(smaller.json.auth.lease_duration, 60, 'an increment is a TTL from now, not an addition');
  });

  it('renews a periodic token by its period, ignoring increments, and reports the period in lookup-self', async () => {
    const token = server.createToken({ periodSeconds: 120 });
    assert.equal((await call('GET', 'auth/token/lookup-self', { token })).json.data.period, 120);
    const renewed = await call('POST', 'auth/token/renew-self', { token, body: { increment: '1h' } });
    assert.equal(renewed.json.auth.lease_duration, 120);
    assert.equal(renewed.json.warnings, null);
  });

  it('renews AppRole and Kubernetes login tokens by the role TTL up to the role max TTL', async () => {
    server.addAppRole({ roleId: 'role-renew', secretId: 'secret-renew', tokenTtlSeconds: 600, tokenMaxTtlSeconds: 900 });
    const approle = (await call('POST', 'auth/approle/login', { token: null, body: { role_id: 'role-renew', secret_id: 'secret-renew' } })).json.auth.client_token;
    assert.equal((await call('POST', 'auth/token/renew-self', { token: approle })).json.auth.lease_duration, 600);
    const capped = await call('POST', 'auth/token/renew-self', { token: approle, body: { increment: 10_000 } });
    assert.ok(capped.json.auth.lease_duration >= 899 && capped.json.auth.lease_duration <= 900);
    assert.match(capped.json.warnings[0], /TTL value is capped accordingly$/);
    server.addKubernetesRole({ name: 'periodic', jwts: ['jwt-p'], tokenPeriodSeconds: 300 });
    const login = await call('POST', 'auth/kubernetes/login', { token: null, body: { role: 'periodic', jwt: 'jwt-p' } });
    assert.equal(login.json.auth.lease_duration, 300);
    assert.equal((await call('POST', 'auth/token/renew-self', { token: login.json.auth.client_token, body: { increment: 10 } })).json.auth.lease_duration, 300);
    assert.ok(server.stats.renewals >= 3);
  });

  it('refuses lookup and renewal for a missing, expired or revoked token with 403, and answers 503 while sealed', async () => {
    const anonymous = await call('GET', 'auth/token/lookup-self', { token: null });
    assert.deepEqual([anonymous.status, anonymous.json.errors], [403, ['permission denied']]);
    const token = server.createToken({ ttlSeconds: 600 });
    server.expireToken(token);
    const expired = await call('POST', 'auth/token/renew-self', { token });
    assert.deepEqual([expired.status, expired.json.errors], [403, [multierror('permission denied', 'invalid token')]]);
    const revoked = server.createToken({ ttlSeconds: 600 });
    server.revokeToken(revoked);
    assert.equal((await call('GET', 'auth/token/lookup-self', { token: revoked })).status, 403);
    assert.deepEqual((await call('GET', 'auth/token/accessors')).json.errors, [multierror('unsupported path')]);
    server.seal();
    try {
      assert.equal((await call('POST', 'auth/token/renew-self', { token: server.createToken({ ttlSeconds: 60 }) })).status, 503);
    } finally {
      server.unseal();
    }
  });
});

describe('transit keys', () => {
  it('returns the read data on create, with PEM SPKI public keys for EC/RSA and raw base64 for Ed25519', async () => {
    const expectations: Record<string, { type: string; curve: string; supports_encryption: boolean; supports_derivation: boolean }> = {
      ec256: { type: 'ecdsa-p256', curve: 'P-256', supports_encryption: false, supports_derivation: false },
      ec384: { type: 'ecdsa-p384', curve: 'P-384', supports_encryption: false, supports_derivation: false },
      ec521: { type: 'ecdsa-p521', curve: 'P-521', supports_encryption: false, supports_derivation: false },
      rsa: { type: 'rsa-2048', curve: 'rsa-2048', supports_encryption: true, supports_derivation: false },
      ed: { type: 'ed25519', curve: 'ed25519', supports_encryption: false, supports_derivation: true },
    };
    for (const [name, expected] of Object.entries(expectations)) {
      const { data } = (await call('GET', `transit/keys/${name}`)).json;
      assert.deepEqual(
        Object.keys(data).sort(),
        [
          'allow_plaintext_backup', 'auto_rotate_period', 'deletion_allowed', 'derived', 'exportable', 'imported_key', 'keys', 'latest_version',
          'min_available_version', 'min_decryption_version', 'min_encryption_version', 'name', 'supports_decryption', 'supports_derivation',
          'supports_encryption', 'supports_signing', 'type',
        ],
      );
      assert.equal(data.type, expected.type);
      assert.equal(data.latest_version, 1);
      assert.equal(data.min_available_version, 0);
      assert.equal(data.min_decryption_version, 1);
      assert.equal(data.min_encryption_version, 0);
      assert.equal(data.exportable, false);
      assert.equal(data.supports_signing, true);
      assert.equal(data.supports_encryption, expected.supports_encryption);
      assert.equal(data.supports_derivation, expected.supports_derivation);
      const version = data.keys['1'];
      assert.deepEqual(Object.keys(version).sort(), ['certificate_chain', 'creation_time', 'hybrid_public_key', 'name', 'public_key']);
      assert.equal(version.name, expected.curve);
      assert.match(version.creation_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
      if (name === 'ed') {
        assert.equal(Buffer.from(version.public_key, 'base64').length, 32);
        assert.ok(!version.public_key.includes('BEGIN'));
      } else {
        assert.match(version.public_key, /^-----BEGIN PUBLIC KEY-----\n(?:[A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END PUBLIC KEY-----\n$/);
      }
    }
  });

  it('returns an existing key unchanged with the already-existed warning', async () => {
    const before = (await call('GET', 'transit/keys/ec256')).json.data;
    const again = await call('POST', 'transit/keys/ec256', { body: { type: 'rsa-2048', exportable: true } });
    assert.equal(again.status, 200);
    assert.deepEqual(again.json.warnings, ['key ec256 already existed']);
    assert.deepEqual(again.json.data, before);
  });

  it('answers 400 unknown key type', async () => {
    assert.deepEqual(await errorOf('POST', 'transit/keys/odd', { type: 'rsa-1024' }), [400, ['unknown key type rsa-1024']]);
  });

  it('creates aes256-gcm96 when no type is given, a key that cannot sign', async () => {
    const { data } = (await call('POST', 'transit/keys/symmetric', { body: {} })).json;
    assert.equal(data.type, 'aes256-gcm96');
    assert.equal(data.supports_signing, false);
    assert.equal(typeof data.keys['1'], 'number');
    assert.deepEqual(await errorOf('POST', 'transit/sign/symmetric', { input: '' }), [400, ['key type aes256-gcm96 does not support signing']]);
    assert.deepEqual(await errorOf('POST', 'transit/verify/symmetric', { input: '', signature: 'vault:v1:AA==' }), [400, ['key type aes256-gcm96 does not support signing']]);
  });

  it('answers 404 with an empty error list for a missing key read', async () => {
    const answer = await call('GET', 'transit/keys/missing');
    assert.equal(answer.status, 404);
    assert.equal(answer.text, '{"errors":[]}\n');
  });

  it('deletes only keys configured for deletion, answering 204, and reports the missing-key texts', async () => {
    assert.equal((await call('POST', 'transit/keys/doomed', { body: { type: 'ed25519' } })).status, 200);
    assert.deepEqual(await errorOf('DELETE', 'transit/keys/doomed'), [400, ['error deleting policy doomed: deletion is not allowed for this key']]);
    const configured = await call('POST', 'transit/keys/doomed/config', { body: { deletion_allowed: true } });
    assert.equal(configured.status, 200);
    assert.equal(configured.json.data.deletion_allowed, true);
    const deleted = await call('DELETE', 'transit/keys/doomed');
    assert.equal(deleted.status, 204);
    assert.equal(deleted.text, '');
    assert.deepEqual(await errorOf('DELETE', 'transit/keys/doomed'), [400, ['error deleting policy doomed: could not delete key; not found']]);
    assert.deepEqual(await errorOf('POST', 'transit/keys/doomed/config', { deletion_allowed: true }), [400, ['no existing key named doomed could be found']]);
    assert.deepEqual(await errorOf('POST', 'transit/keys/doomed/rotate', {}), [400, ['key not found']]);
  });

  it('rotates to a new version and applies the config rules', async () => {
    await call('POST', 'transit/keys/rotating', { body: { type: 'ecdsa-p256' } });
    const rotated = await call('POST', 'transit/keys/rotating/rotate');
    assert.equal(rotated.status, 200);
    assert.equal(rotated.json.data.latest_version, 2);
    assert.notEqual(rotated.json.data.keys['1'].public_key, rotated.json.data.keys['2'].public_key);
    const forced = await call('POST', 'transit/keys/rotating/config', { body: { min_decryption_version: 0 } });
    assert.deepEqual(forced.json.warnings, ['since Vault 0.3, transit key numbering starts at 1; forcing minimum to 1']);
    assert.deepEqual(await errorOf('POST', 'transit/keys/rotating/config', { min_decryption_version: 3 }), [400, ['cannot set min decryption version of 3, latest key version is 2']]);
    assert.deepEqual(await errorOf('POST', 'transit/keys/rotating/config', { min_encryption_version: -1 }), [400, ['min encryption version cannot be negative']]);
    assert.deepEqual(await errorOf('POST', 'transit/keys/rotating/config', { min_decryption_version: 2, min_encryption_version: 1 }), [
      400,
      ['cannot set min encryption/decryption values; min encryption version of 1 must be greater than or equal to min decryption version of 2'],
    ]);
  });

  it('exports public keys of any key but private material only from exportable keys', async () => {
    assert.deepEqual(await errorOf('GET', 'transit/export/signing-key/ec256'), [400, ['private key material is not exportable']]);
    assert.deepEqual(await errorOf('GET', 'transit/export/wrong-type/ec256'), [400, ['invalid export type: wrong-type']]);
    assert.deepEqual(await errorOf('GET', 'transit/export/public-key/missing'), [404, []]);
    const ecPublic = (await call('GET', 'transit/export/public-key/ec256')).json.data;
    assert.equal(ecPublic.type, 'ecdsa-p256');
    assert.match(ecPublic.keys['1'], /^-----BEGIN PUBLIC KEY-----\n[\s\S]*-----END PUBLIC KEY-----$/, 'ECDSA public keys are trimmed');
    const rsaPublic = (await call('GET', 'transit/export/public-key/rsa/latest')).json.data;
    assert.ok(rsaPublic.keys['1'].endsWith('-----END PUBLIC KEY-----\n'));

    await call('POST', 'transit/keys/portable', { body: { type: 'ecdsa-p256', exportable: true } });
    const exported = (await call('GET', 'transit/export/signing-key/portable/v1')).json.data;
    assert.match(exported.keys['1'], /^-----BEGIN EC PRIVATE KEY-----\n[\s\S]*-----END EC PRIVATE KEY-----$/);
    const privateKey = createPrivateKey(exported.keys['1']);
    assert.deepEqual(createPublicKey(privateKey).export({ format: 'jwk' }), (await publicKeyOf('portable')).export({ format: 'jwk' }));
    assert.deepEqual(await errorOf('GET', 'transit/export/signing-key/portable/7'), [400, ['version does not exist or cannot be found']]);
    assert.deepEqual(await errorOf('GET', 'transit/export/signing-key/portable/x'), [400, ['invalid key version']]);
  });
});

describe('transit sign', () => {
  it('signs ECDSA as DER (asn1) and as r||s in base64url (jws), both verifiable by node:crypto', async () => {
    const cases: [string, string, number][] = [
      ['ec256', 'sha256', 32],
      ['ec521', 'sha256', 66],
    ];
    for (const [key, hash, size] of cases) {
      const publicKey = await publicKeyOf(key);
      const asn1 = await sign(key, { input: b64(MESSAGE) });
      assert.equal(asn1.status, 200);
      assert.match(asn1.json.data.signature, /^vault:v1:[A-Za-z0-9+/]+={0,2}$/);
      assert.equal(asn1.json.data.key_version, 1);
      assert.ok(verify(hash, MESSAGE, { key: publicKey, dsaEncoding: 'der' }, signatureBytes(asn1.json.data.signature)));
      const jws = await sign(key, { input: b64(MESSAGE), marshaling_algorithm: 'jws' });
      assert.match(jws.json.data.signature, /^vault:v1:[A-Za-z0-9_-]+$/);
      const raw = signatureBytes(jws.json.data.signature, 'base64url');
      assert.equal(raw.length, 2 * size);
      assert.ok(verify(hash, MESSAGE, { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw));
    }
  });

  it('picks the hash from the URL suffix, then hash_algorithm, and sha2-256 by default for every key type', async () => {
    const publicKey = await publicKeyOf('ec384');
    const signedWith = async (body: Record<string, unknown>, suffix = ''): Promise<string | undefined> => {
      const signature = signatureBytes((await sign('ec384', { input: b64(MESSAGE), ...body }, suffix)).json.data.signature);
      return ['sha256', 'sha384', 'sha512'].find((hash) => verify(hash, MESSAGE, publicKey, signature));
    };
    assert.equal(await signedWith({}), 'sha256', 'the default is sha2-256 even for P-384');
    assert.equal(await signedWith({ hash_algorithm: 'sha2-384' }), 'sha384');
    assert.equal(await signedWith({ hash_algorithm: 'sha2-256' }, '/sha2-512'), 'sha512', 'the URL suffix wins');
    assert.equal(await signedWith({ algorithm: 'sha2-384' }), 'sha256', 'algorithm is shadowed by the hash_algorithm default');
    assert.equal(await signedWith({ hash_algorithm: '', algorithm: 'sha2-384' }), 'sha384');
  });

  it('signs RSA with PSS and the maximum salt by default, PKCS#1 v1.5 on request, and the hash-length salt for salt_length=hash', async () => {
    const publicKey = await publicKeyOf('rsa');
    const pss = signatureBytes((await sign('rsa', { input: b64(MESSAGE) })).json.data.signature);
    assert.equal(pss.length, 256);
    assert.ok(verify('sha256', MESSAGE, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 222 }, pss));
    assert.ok(!verify('sha256', MESSAGE, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, pss));
    const hashSalt = signatureBytes((await sign('rsa', { input: b64(MESSAGE), salt_length: 'hash' })).json.data.signature);
    assert.ok(verify('sha256', MESSAGE, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, hashSalt));
    const explicitSalt = signatureBytes((await sign('rsa', { input: b64(MESSAGE), salt_length: '20' })).json.data.signature);
    assert.ok(verify('sha256', MESSAGE, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 20 }, explicitSalt));
    const pkcs1 = signatureBytes((await sign('rsa', { input: b64(MESSAGE), signature_algorithm: 'pkcs1v15', hash_algorithm: 'sha2-384' })).json.data.signature);
    assert.ok(verify('sha384', MESSAGE, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, pkcs1));
    const jws = await sign('rsa', { input: b64(MESSAGE), signature_algorithm: 'pkcs1v15', marshaling_algorithm: 'jws' });
    assert.ok(verify('sha256', MESSAGE, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signatureBytes(jws.json.data.signature, 'base64url')));
  });

  it('signs prehashed digests: ECDSA with leftmost-bits truncation, RSA PKCS#1 v1.5 with the DigestInfo, RSA-PSS', async () => {
    const ecKey = await publicKeyOf('ec256');
    const sha512 = createHash('sha512').update(MESSAGE).digest();
    const ec = await sign('ec256', { input: b64(sha512), prehashed: true, hash_algorithm: 'sha2-512' });
    assert.ok(verify('sha512', MESSAGE, { key: ecKey, dsaEncoding: 'der' }, signatureBytes(ec.json.data.signature)));

    const rsaKey = await publicKeyOf('rsa');
    const sha256 = createHash('sha256').update(MESSAGE).digest();
    const pkcs1 = await sign('rsa', { input: b64(sha256), prehashed: true, signature_algorithm: 'pkcs1v15' });
    assert.ok(verify('sha256', MESSAGE, { key: rsaKey, padding: constants.RSA_PKCS1_PADDING }, signatureBytes(pkcs1.json.data.signature)));
    const pss = await sign('rsa', { input: b64(sha256), prehashed: true });
    assert.ok(verify('sha256', MESSAGE, { key: rsaKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, signatureBytes(pss.json.data.signature)));
    const wrongLength = await sign('rsa', { input: b64('short'), prehashed: true, signature_algorithm: 'pkcs1v15' });
    assert.equal(wrongLength.status, 500);
  });

  it('signs Ed25519 as pure EdDSA, ignoring hashes other than sha2-512', async () => {
    const publicKey = await publicKeyOf('ed');
    for (const body of [{}, { hash_algorithm: 'sha2-384' }, { marshaling_algorithm: 'jws' }]) {
      const answer = await sign('ed', { input: b64(MESSAGE), ...body });
      const bytes = signatureBytes(answer.json.data.signature, 'marshaling_algorithm' in body ? 'base64url' : 'base64');
      assert.equal(bytes.length, 64);
      assert.ok(verify(null, MESSAGE, publicKey, bytes));
    }
  });

  it('rejects prehashed and sha2-512 Ed25519 requests as Vault CE does', async () => {
    assert.deepEqual(await errorOf('POST', 'transit/sign/ed', { input: b64(MESSAGE), prehashed: true }), [
      400,
      ['failed to parse batch item: only Pure Ed25519 signatures supported, prehashed must be false'],
    ]);
    assert.deepEqual(await errorOf('POST', 'transit/sign/ed/sha2-512', { input: b64(MESSAGE) }), [
      400,
      ['failed to parse batch item: only Pure Ed25519 signatures supported, hash_alogithm should not be set'],
    ]);
  });

  it('decodes input with Go strict base64 and reports the offending byte', async () => {
    const cases: [string, number][] = [
      ['QQ', 0],
      ['QUJD-A==', 4],
      ['_w==', 0],
      ['QQ==QQ==', 4],
      ['QQ=', 3],
      ['QUJ', 0],
    ];
    for (const [input, offset] of cases) {
      assert.deepEqual(await errorOf('POST', 'transit/sign/ec256', { input }), [400, [`unable to decode input: illegal base64 data at input byte ${offset}`]], input);
    }
    assert.equal((await sign('ec256', { input: 'QUJD\r\nRA==' })).status, 200, 'CR and LF are skipped');
    assert.equal((await sign('ec256', {})).status, 200, 'a missing input signs the empty message');
  });

  it('answers 400 for unknown hash, marshaling and salt values', async () => {
    assert.deepEqual(await errorOf('POST', 'transit/sign/ec256', { hash_algorithm: 'sha2-999' }), [400, ['invalid hash algorithm "sha2-999"']]);
    assert.deepEqual(await errorOf('POST', 'transit/sign/ec256/md5', {}), [400, ['invalid hash algorithm "md5"']]);
    assert.deepEqual(await errorOf('POST', 'transit/sign/ec256', { marshaling_algorithm: 'der' }), [400, ['invalid marshaling type "der"']]);
    assert.deepEqual(await errorOf('POST', 'transit/sign/rsa', { salt_length: 'abc' }), [400, ["salt length neither 'auto', 'hash', nor an int: abc"]]);
    assert.deepEqual(await errorOf('POST', 'transit/sign/rsa', { salt_length: '-5' }), [400, ['salt length is invalid: -5']]);
    assert.deepEqual(await errorOf('POST', 'transit/sign/rsa', { hash_algorithm: 'none' }), [
      400,
      ['hash_algorithm=none requires both prehashed=true and signature_algorithm=pkcs1v15'],
    ]);
  });

  it('answers 400 signing key not found for a missing key, not 404', async () => {
    assert.deepEqual(await errorOf('POST', 'transit/sign/missing', { input: '' }), [400, ['signing key not found']]);
  });

  it('reports signing-step failures as 500 in the multierror format', async () => {
    assert.deepEqual(await errorOf('POST', 'transit/sign/ec256', { input: '', key_version: 5 }), [
      500,
      ['1 error occurred:\n\t* requested version for signing is higher than the latest key version\n\n'],
    ]);
    assert.deepEqual(await errorOf('POST', 'transit/sign/ec256', { input: '', key_version: -1 }), [500, [multierror('requested version for signing is negative')]]);
    assert.deepEqual(await errorOf('POST', 'transit/sign/rsa', { input: '', salt_length: '300' }), [500, [multierror('requested salt length 300 is invalid')]]);
    assert.deepEqual(await errorOf('POST', 'transit/sign/rsa', { input: '', signature_algorithm: 'foo' }), [500, [multierror('unsupported rsa signature algorithm foo')]]);
  });

  it('signs with an older version on request and refuses versions below min_encryption_version', async () => {
    await call('POST', 'transit/keys/versioned', { body: { type: 'ecdsa-p256' } });
    const firstKey = await publicKeyOf('versioned');
    await call('POST', 'transit/keys/versioned/rotate');
    const old = await sign('versioned', { input: b64(MESSAGE), key_version: 1 });
    assert.equal(old.json.data.key_version, 1);
    assert.match(old.json.data.signature, /^vault:v1:/);
    assert.ok(verify('sha256', MESSAGE, firstKey, signatureBytes(old.json.data.signature)));
    assert.match((await sign('versioned', { input: b64(MESSAGE) })).json.data.signature, /^vault:v2:/);
    await call('POST', 'transit/keys/versioned/config', { body: { min_encryption_version: 2 } });
    assert.deepEqual(await errorOf('POST', 'transit/sign/versioned', { input: '', key_version: 1 }), [
      500,
      [multierror('requested version for signing is less than the minimum encryption key version')],
    ]);
  });

  it('signs batch_input items independently, echoing references, and counts requests and items', async () => {
    server.resetStats();
    const answer = await sign('ec256', {
      input: 'ignored in batch mode',
      batch_input: [
        { input: b64('one'), reference: 'a' },
        { input: 'not base64!', reference: 'b' },
        { input: b64('three'), reference: 3 },
        { reference: 'd' },
      ],
    });
    assert.equal(answer.status, 200);
    const [one, two, three, four] = answer.json.data.batch_results;
    const publicKey = await publicKeyOf('ec256');
    assert.equal(one.reference, 'a');
    assert.ok(verify('sha256', Buffer.from('one'), publicKey, signatureBytes(one.signature)));
    assert.deepEqual(two, { key_version: 0, error: 'unable to decode input: illegal base64 data at input byte 3', reference: 'b' });
    assert.equal(three.reference, '3');
    assert.ok(verify('sha256', Buffer.from('three'), publicKey, signatureBytes(three.signature)));
    assert.deepEqual(four, { key_version: 0, error: 'missing input', reference: 'd' });
    assert.deepEqual(await errorOf('POST', 'transit/sign/ec256', { batch_input: [] }), [400, ['missing batch input to process']]);
    assert.equal(server.stats.signRequests, 2);
    assert.equal(server.stats.signBatchItems, 4);
  });

  it('adds the configured latency to every request', async () => {
    server.latencyMs = 120;
    try {
      const started = performance.now();
      await sign('ec256', { input: '' });
      assert.ok(performance.now() - started >= 110);
    } finally {
      server.latencyMs = 0;
    }
  });
});

describe('transit verify', () => {
  const verifyCall = (key: string, body: Record<string, unknown>, suffix = '') => call('POST', `transit/verify/${key}${suffix}`, { body });

  it('answers valid true for its own signatures and valid false for another input', async () => {
    for (const [key, extra] of [
      ['ec384', { hash_algorithm: 'sha2-384' }],
      ['ec256', { marshaling_algorithm: 'jws' }],
      ['rsa', {}],
      ['rsa', { signature_algorithm: 'pkcs1v15' }],
      ['rsa', { salt_length: 'hash' }],
      ['ed', {}],
    ] as const) {
      const signature = (await sign(key, { input: b64(MESSAGE), ...extra })).json.data.signature;
      const good = await verifyCall(key, { input: b64(MESSAGE), signature, ...extra });
      assert.deepEqual(good.json.data, { valid: true }, `${key} ${JSON.stringify(extra)}`);
      const bad = await verifyCall(key, { input: b64('something else'), signature, ...extra });
      assert.deepEqual(bad.json.data, { valid: false });
    }
  });

  it('verifies prehashed ECDSA and RSA-PSS signatures', async () => {
    const digest = createHash('sha256').update(MESSAGE).digest();
    for (const key of ['ec256', 'ec521', 'rsa']) {
      const signature = (await sign(key, { input: b64(digest), prehashed: true })).json.data.signature;
      assert.deepEqual((await verifyCall(key, { input: b64(digest), prehashed: true, signature })).json.data, { valid: true }, key);
      assert.deepEqual((await verifyCall(key, { input: b64(MESSAGE), signature })).json.data, { valid: true }, `${key} against the message`);
    }
  });

  it('answers the verify error catalogue with 400', async () => {
    const good = (await sign('ec256', { input: b64(MESSAGE) })).json.data.signature as string;
    const der = signatureBytes(good);
    const cases: [string, Record<string, unknown>, string][] = [
      ['ec256', { input: b64(MESSAGE) }, "missing one of 'signature', 'hmac' or 'cmac' arguments to verify"],
      ['missing', { input: b64(MESSAGE), signature: good }, 'signature verification key not found'],
      ['ec256', { input: 'QQ', signature: good }, 'failed to parse item: failed to parse input: illegal base64 data at input byte 0'],
      ['ec256', { input: b64(MESSAGE), signature: good, hash_algorithm: 'sha2-999' }, 'invalid hash algorithm "sha2-999"'],
      ['ec256', { input: b64(MESSAGE), signature: good, marshaling_algorithm: 'der' }, 'invalid marshaling type "der"'],
      ['ec256', { input: b64(MESSAGE), signature: 'v1:abc' }, 'invalid signature: no prefix'],
      ['ec256', { input: b64(MESSAGE), signature: 'vault:v1' }, 'invalid signature: wrong number of fields'],
      ['ec256', { input: b64(MESSAGE), signature: 'vault:vx:AA==' }, 'invalid signature: version number could not be decoded'],
      ['ec256', { input: b64(MESSAGE), signature: 'vault:v9:AA==' }, 'invalid signature: version is too new'],
      ['ec256', { input: b64(MESSAGE), signature: 'vault:v1:!!' }, 'invalid base64 signature value'],
      ['ec256', { input: b64(MESSAGE), signature: 'vault:v1:AAAA' }, 'supplied signature is invalid'],
      ['ec256', { input: b64(MESSAGE), signature: `vault:v1:${Buffer.concat([der, Buffer.from([0])]).toString('base64')}` }, 'supplied signature contains extra data'],
      ['rsa', { input: b64(MESSAGE), signature: 'vault:v1:AA==', salt_length: '300' }, 'requested salt length 300 is invalid'],
      ['ed', { input: b64(MESSAGE), signature: good, prehashed: true }, 'failed to parse item: failed to parse batch item: only Pure Ed25519 signatures supported, prehashed must be false'],
    ];
    for (const [key, body, message] of cases) {
      assert.deepEqual(await errorOf('POST', `transit/verify/${key}`, body), [400, [message]], message);
    }
  });

  it('verifies an item carrying both signature and hmac as a signature, since Vault checks signature first', async () => {
    // transit-api.md §8 lists "provide one of 'signature', 'hmac' or 'cmac'", but
    // pathVerifyWrite counts each item once (signature, else hmac, else cmac),
    // so a single item can never trigger it; the server follows the code.
    const signature = (await sign('ec256', { input: b64(MESSAGE) })).json.data.signature;
    const answer = await verifyCall('ec256', { input: b64(MESSAGE), signature, hmac: 'vault:v1:AA==' });
    assert.deepEqual(answer.json.data, { valid: true });
    assert.deepEqual(await errorOf('POST', 'transit/verify/ec256', { batch_input: [{ input: '', signature }, { input: '', hmac: 'vault:v1:AA==' }] }), [
      400,
      ["elements of batch_input must all provide either 'signature', 'hmac' or 'cmac'"],
    ]);
  });

  it('refuses signatures below min_decryption_version as too old', async () => {
    await call('POST', 'transit/keys/aging', { body: { type: 'ed25519' } });
    const old = (await sign('aging', { input: b64(MESSAGE) })).json.data.signature;
    await call('POST', 'transit/keys/aging/rotate');
    await call('POST', 'transit/keys/aging/config', { body: { min_decryption_version: 2 } });
    assert.deepEqual(await errorOf('POST', 'transit/verify/aging', { input: b64(MESSAGE), signature: old }), [
      400,
      ['ciphertext or signature version is disallowed by policy (too old)'],
    ]);
    const keys = (await call('GET', 'transit/keys/aging')).json.data.keys;
    assert.deepEqual(Object.keys(keys), ['2'], 'archived versions do not appear in reads');
  });

  it('verifies batch_input items with per-item results and references', async () => {
    const signature = (await sign('ed', { input: b64(MESSAGE) })).json.data.signature;
    const answer = await verifyCall('ed', {
      batch_input: [
        { input: b64(MESSAGE), signature, reference: 'ok' },
        { input: b64('other'), signature, reference: 'wrong' },
        { input: b64(MESSAGE), signature: 'nonsense', reference: 'broken' },
      ],
    });
    assert.deepEqual(answer.json.data.batch_results, [
      { valid: true, reference: 'ok' },
      { valid: false, reference: 'wrong' },
      { valid: false, error: 'invalid signature: no prefix', reference: 'broken' },
    ]);
  });
});

describe('node-vault against the server', () => {
  const client = (token = server.rootToken) => {
    const vault = NodeVault({ endpoint: address, token, noCustomHTTPVerbs: true });
    return vault;
  };

  it('mounts, creates, reads, lists, signs and deletes through node-vault calls', async () => {
    const vault = client();
    assert.equal(await vault.mount({ mount_point: 'nv', type: 'transit' }), '');
    const created = await vault.write('nv/keys/node', { type: 'ecdsa-p384' });
    assert.equal(created.data.type, 'ecdsa-p384');
    const read = await vault.read('nv/keys/node');
    assert.equal(read.data.latest_version, 1);
    assert.deepEqual((await vault.list('nv/keys')).data.keys, ['node']);
    const signed = await vault.write('nv/sign/node/sha2-384', { input: b64(MESSAGE) });
    const publicKey = publicKeyFromVault('ecdsa-p384', read.data.keys['1'].public_key);
    assert.ok(verify('sha384', MESSAGE, publicKey, signatureBytes(signed.data.signature)));
    await vault.write('nv/keys/node/config', { deletion_allowed: true });
    assert.equal(await vault.delete('nv/keys/node'), '');
  });

  it('rejects with node-vault ApiResponseError carrying status and Vault message', async () => {
    const vault = client();
    await assert.rejects(vault.read('transit/keys/missing'), (error: { message: string; response: { statusCode: number } }) => {
      assert.equal(error.message, 'Status 404');
      assert.equal(error.response.statusCode, 404);
      return true;
    });
    await assert.rejects(vault.write('transit/sign/missing', { input: '' }), (error: { message: string; response: { statusCode: number } }) => {
      assert.equal(error.message, 'signing key not found');
      assert.equal(error.response.statusCode, 400);
      return true;
    });
  });

  it('logs in with approleLogin and reads health bodies even when sealed', async () => {
    server.addAppRole({ roleId: 'role-nv', secretId: 'secret-nv' });
    const vault = NodeVault({ endpoint: address, token: '', noCustomHTTPVerbs: true });
    const login = await vault.approleLogin({ role_id: 'role-nv', secret_id: 'secret-nv' });
    assert.equal(vault.token, login.auth.client_token);
    assert.equal((await vault.read('transit/keys/ec256')).data.name, 'ec256');
    server.seal();
    try {
      assert.equal((await vault.health()).sealed, true);
    } finally {
      server.unseal();
    }
    assert.equal((await vault.health()).sealed, false);
  });
});
