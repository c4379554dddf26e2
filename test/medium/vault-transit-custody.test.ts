/**
 * The Vault custody adapter through node-vault over real HTTP to the Transit
 * test server: key life cycle for every algorithm, signatures checked with
 * node:crypto against signatureSchemeFor, and the error mapping (missing key,
 * sealed, stopped, refused token, expired AppRole token), Kubernetes login,
 * token renewal (short real TTLs of one to three seconds) and readiness.
 */
import assert from 'node:assert/strict';
import { constants, createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KEY_ALGORITHMS, isRsa, signatureSchemeFor, type KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { VaultTransitCustody, type VaultTransitCustodyOptions } from '../../src/custody/vault-transit-custody.js';
import { FixedClock } from '../../src/shared/clock.js';
import { CustodyError, CustodyKeyNotFound, CustodyUnavailable } from '../../src/shared/errors.js';
import { TransitServer } from '../support/transit-server.js';

const server = new TransitServer({ transitMounts: ['transit', 'ca-keys'] });
let address = '';

function custody(overrides: Partial<VaultTransitCustodyOptions> = {}): VaultTransitCustody {
  return new VaultTransitCustody({ address, keyPrefix: 'ccm-', auth: { method: 'token', token: server.rootToken }, ...overrides });
}

/** Checks a custody signature the way a relying party checks a certificate: SPKI from getKey, scheme from signatureSchemeFor. */
function verifies(algorithm: KeyAlgorithm, publicKeyDer: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const publicKey = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
  const hash = signatureSchemeFor(algorithm).hash;
  // RSA must be PKCS#1 v1.5 (sha256WithRSAEncryption): a PSS signature has to fail here.
  const key = isRsa(algorithm) ? { key: publicKey, padding: constants.RSA_PKCS1_PADDING } : { key: publicKey, dsaEncoding: 'der' as const };
  return verify(hash, data, key, signature);
}

async function vault(method: string, path: string, body?: unknown): Promise<{ status: number; json: { data?: Record<string, unknown>; errors?: string[] } | null }> {
  const response = await fetch(`${address}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': server.rootToken },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? null : JSON.parse(text) };
}

before(async () => {
  address = await server.start();
});

after(() => server.close());

describe('key life cycle', () => {
  const tbs = Buffer.from('30820122a003020102', 'hex');

  for (const algorithm of KEY_ALGORITHMS) {
    it(`creates, reads and signs with a ${algorithm} key whose signature verifies with its scheme`, async () => {
      const adapter = custody();
      const created = await adapter.createKey(`life-${algorithm}`, algorithm);
      assert.equal(created.name, `life-${algorithm}`);
      assert.equal(created.algorithm, algorithm);
      const read = await custody().getKey(`life-${algorithm}`);
      assert.deepEqual(read, created);
      const signature = await custody().sign(`life-${algorithm}`, tbs);
      assert.ok(verifies(algorithm, read.publicKeyDer, tbs, signature));
      assert.ok(!verifies(algorithm, read.publicKeyDer, Buffer.from('other bytes'), signature));
    });
  }

  it('stores keys under the prefix, non-exportable', async () => {
    await custody().createKey('prefixed', 'ecdsa-p256');
    assert.ok(server.keyNames().includes('ccm-prefixed'));
    const read = await vault('GET', 'transit/keys/ccm-prefixed');
    assert.equal(read.json?.data?.['exportable'], false);
    const exported = await vault('GET', 'transit/export/signing-key/ccm-prefixed');
    assert.equal(exported.status, 400);
    assert.deepEqual(exported.json?.errors, ['private key material is not exportable']);
  });

  it('keeps signing with the version its certificate certifies after the key is rotated in Vault', async () => {
    for (const algorithm of ['ecdsa-p256', 'rsa-2048'] as const) {
      const created = await custody().createKey(`rotated-${algorithm}`, algorithm);
      const adapter = custody({ signBatchSize: 1 });
      const batched = custody();
      await adapter.getKey(`rotated-${algorithm}`);
      const rotated = await vault('POST', `transit/keys/ccm-rotated-${algorithm}/rotate`, {});
      assert.equal(rotated.status, 200);
      assert.equal(rotated.json?.data?.['latest_version'], 2);
      // Alone, batched, and through a process that first meets the key after the rotation.
      const signatures = [await adapter.sign(`rotated-${algorithm}`, tbs), ...(await Promise.all([1, 2, 3].map(() => batched.sign(`rotated-${algorithm}`, tbs))))];
      for (const signature of signatures) assert.ok(verifies(algorithm, created.publicKeyDer, tbs, signature));
      assert.deepEqual(await custody().getKey(`rotated-${algorithm}`), created);
    }
  });

  it('returns the same key when createKey runs twice for a name and algorithm', async () => {
    const first = await custody().createKey('twice', 'ed25519');
    const second = await custody().createKey('twice', 'ed25519');
    assert.deepEqual(second, first);
    assert.deepEqual(server.keyNames().filter((name) => name === 'ccm-twice'), ['ccm-twice']);
  });

  it('throws CustodyError when createKey meets a key of another algorithm', async () => {
    await custody().createKey('taken', 'ecdsa-p256');
    await assert.rejects(custody().createKey('taken', 'ecdsa-p384'), (error: unknown) => {
      assert.ok(error instanceof CustodyError);
      assert.match(error.message, /ecdsa-p256/);
      return true;
    });
  });

  it('throws CustodyError when the existing key was created exportable by someone else', async () => {
    await vault('POST', 'transit/keys/ccm-leaky', { type: 'ecdsa-p256', exportable: true });
    await assert.rejects(custody().createKey('leaky', 'ecdsa-p256'), CustodyError);
  });

  it('uses the configured Transit mount path', async () => {
    const adapter = custody({ mountPath: 'ca-keys' });
    const key = await adapter.createKey('mounted', 'ecdsa-p384');
    assert.ok(server.keyNames('ca-keys').includes('ccm-mounted'));
    const signature = await adapter.sign('mounted', Buffer.from('x'));
    assert.ok(verifies('ecdsa-p384', key.publicKeyDer, Buffer.from('x'), signature));
  });

  it('throws CustodyError for a name Vault could not route', async () => {
    await assert.rejects(custody().createKey('a/b', 'ed25519'), CustodyError);
  });
});

describe('missing keys', () => {
  it('throws CustodyKeyNotFound from getKey for a key Vault does not have', async () => {
    await assert.rejects(custody().getKey('absent'), CustodyKeyNotFound);
  });

  it('throws CustodyKeyNotFound from sign for a key Vault does not have', async () => {
    await assert.rejects(custody().sign('absent', Buffer.from('x')), CustodyKeyNotFound);
  });

  it('throws CustodyKeyNotFound when a key this process knew was deleted in Vault', async () => {
    const adapter = custody();
    await adapter.createKey('vanishing', 'ecdsa-p256');
    await adapter.sign('vanishing', Buffer.from('x'));
    await vault('POST', 'transit/keys/ccm-vanishing/config', { deletion_allowed: true });
    assert.equal((await vault('DELETE', 'transit/keys/ccm-vanishing')).status, 204);
    await assert.rejects(adapter.sign('vanishing', Buffer.from('x')), CustodyKeyNotFound);
  });
});

describe('unavailable and refused Vault', () => {
  it('throws CustodyUnavailable while Vault is sealed and reports it in health', async () => {
    const adapter = custody();
    await adapter.createKey('sealed', 'ecdsa-p256');
    server.seal();
    try {
      await assert.rejects(adapter.sign('sealed', Buffer.from('x')), CustodyUnavailable);
      await assert.rejects(custody().getKey('sealed'), CustodyUnavailable);
      assert.deepEqual(await adapter.health(), { sealed: true, reachable: true });
    } finally {
      server.unseal();
    }
    assert.deepEqual(await adapter.health(), { sealed: false, reachable: true });
    await adapter.sign('sealed', Buffer.from('x'));
  });

  it('throws CustodyUnavailable when the server is stopped and reports it unreachable', async () => {
    const doomed = new TransitServer();
    const doomedAddress = await doomed.start();
    const adapter = new VaultTransitCustody({ address: doomedAddress, keyPrefix: 'ccm-', auth: { method: 'token', token: doomed.rootToken } });
    await adapter.createKey('gone', 'ed25519');
    await doomed.stop();
    await assert.rejects(adapter.sign('gone', Buffer.from('x')), (error: unknown) => {
      assert.ok(error instanceof CustodyUnavailable);
      // A kept-alive socket the server destroyed shows up as ECONNRESET, a new connection as ECONNREFUSED.
      assert.match(error.message, /ECONNREFUSED|ECONNRESET/);
      return true;
    });
    // Signing has its own connections, so reading may be the first to meet node-vault's kept-alive one.
    await assert.rejects(adapter.getKey('gone'), (error: unknown) => error instanceof CustodyUnavailable && /ECONNREFUSED|ECONNRESET/.test(error.message));
    assert.deepEqual(await adapter.health(), { sealed: false, reachable: false });
  });

  it('throws CustodyUnavailable when Vault answers slower than the request timeout', async () => {
    const adapter = custody({ requestTimeoutMs: 100 });
    await adapter.createKey('slow', 'ecdsa-p256');
    server.latencyMs = 400;
    try {
      await assert.rejects(adapter.sign('slow', Buffer.from('x')), CustodyUnavailable);
    } finally {
      server.latencyMs = 0;
    }
  });

  it('throws CustodyError, without the token in the message, for a token Vault does not know', async () => {
    const previous = process.env['VAULT_TOKEN'];
    // A token in the environment must not rescue a wrongly configured adapter.
    process.env['VAULT_TOKEN'] = server.rootToken;
    try {
      const adapter = custody({ auth: { method: 'token', token: 'hvs.not-a-real-token' } });
      await assert.rejects(adapter.getKey('anything'), (error: unknown) => {
        assert.ok(error instanceof CustodyError);
        assert.ok(!(error instanceof CustodyUnavailable));
        assert.match(error.message, /403/);
        assert.ok(!error.message.includes('hvs.not-a-real-token'));
        return true;
      });
    } finally {
      if (previous === undefined) delete process.env['VAULT_TOKEN'];
      else process.env['VAULT_TOKEN'] = previous;
    }
  });

  it('throws CustodyError carrying Vault message for a token whose policy forbids the path', async () => {
    const token = server.createToken({ policyPaths: ['transit/keys/ccm-*'] });
    const adapter = custody({ auth: { method: 'token', token } });
    await adapter.createKey('policed', 'ecdsa-p256');
    await assert.rejects(adapter.sign('policed', Buffer.from('x')), (error: unknown) => {
      assert.ok(error instanceof CustodyError);
      assert.match(error.message, /permission denied/);
      return true;
    });
  });
});

describe('AppRole', () => {
  it('logs in lazily on first use and signs with the issued token', async () => {
    server.addAppRole({ roleId: 'ccm-role', secretId: 'ccm-secret' });
    server.resetStats();
    const adapter = custody({ auth: { method: 'approle', roleId: 'ccm-role', secretId: 'ccm-secret' } });
    assert.equal(server.stats.logins, 0);
    const key = await adapter.createKey('approle', 'ecdsa-p256');
    assert.equal(server.stats.logins, 1);
    const signature = await adapter.sign('approle', Buffer.from('x'));
    assert.ok(verifies('ecdsa-p256', key.publicKeyDer, Buffer.from('x'), signature));
    assert.equal(server.stats.logins, 1, 'the token is reused');
  });

  it('replaces a token the server expired early, transparently, on the next sign', async () => {
    server.addAppRole({ roleId: 'expiring-role', secretId: 'expiring-secret', tokenTtlSeconds: 3600 });
    server.resetStats();
    const adapter = custody({ auth: { method: 'approle', roleId: 'expiring-role', secretId: 'expiring-secret' } });
    await adapter.createKey('expiring', 'ed25519');
    for (const token of server.appRoleTokens('expiring-role')) server.expireToken(token);
    await adapter.sign('expiring', Buffer.from('x'));
    assert.equal(server.stats.logins, 2);
    for (const token of server.appRoleTokens('expiring-role')) server.revokeToken(token);
    await adapter.sign('expiring', Buffer.from('x'));
    assert.equal(server.stats.logins, 3);
  });

  it('logs in again before the lease runs out when the renewal timer has not renewed it', async () => {
    server.addAppRole({ roleId: 'short-role', secretId: 'short-secret', tokenTtlSeconds: 3600 });
    server.resetStats();
    const clock = new FixedClock(new Date());
    const adapter = custody({ auth: { method: 'approle', roleId: 'short-role', secretId: 'short-secret' }, clock });
    try {
      await adapter.createKey('short', 'ecdsa-p256');
      // Past 80 % of the lease by the adapter's clock; the real-time renewal timer is still far off.
      clock.advance(2900 * 1000);
      const requestsBefore = server.stats.requests;
      await adapter.sign('short', Buffer.from('x'));
      assert.equal(server.stats.logins, 2);
      assert.equal(server.stats.requests - requestsBefore, 2, 'one login and one sign, no refused attempt');
    } finally {
      adapter.close();
    }
  });

  it('shares one login between concurrent first signers', async () => {
    server.addAppRole({ roleId: 'busy-role', secretId: 'busy-secret' });
    const adapter = custody({ auth: { method: 'approle', roleId: 'busy-role', secretId: 'busy-secret' } });
    await custody().createKey('busy', 'ecdsa-p256');
    server.resetStats();
    await Promise.all(Array.from({ length: 5 }, () => adapter.sign('busy', Buffer.from('x'))));
    assert.equal(server.stats.logins, 1);
  });

  it('throws CustodyError when AppRole credentials are refused', async () => {
    const adapter = custody({ auth: { method: 'approle', roleId: 'ccm-role', secretId: 'wrong-secret' } });
    await assert.rejects(adapter.getKey('approle'), (error: unknown) => {
      assert.ok(error instanceof CustodyError);
      assert.match(error.message, /invalid role or secret ID/);
      assert.ok(!error.message.includes('wrong-secret'));
      return true;
    });
  });

  it('logs in through a custom AppRole mount path', async () => {
    server.addAppRole({ roleId: 'mounted-role', secretId: 'mounted-secret', mountPath: 'ccm-approle' });
    const adapter = custody({ auth: { method: 'approle', roleId: 'mounted-role', secretId: 'mounted-secret', mountPath: 'ccm-approle' } });
    await adapter.createKey('via-mount', 'ed25519');
    assert.equal(server.appRoleTokens('mounted-role').length, 1);
  });
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Kubernetes auth', () => {
  let directory = '';
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'ccm-k8s-'));
  });
  after(() => rm(directory, { recursive: true, force: true }));

  it('logs in with the JWT from the file and reads the file again at the next login, after Kubernetes rotated it', async () => {
    const jwtFile = join(directory, 'token');
    await writeFile(jwtFile, 'eyJ.first-jwt.sig\n');
    server.addKubernetesRole({ name: 'ccm', jwts: ['eyJ.first-jwt.sig'] });
    server.resetStats();
    const adapter = custody({ auth: { method: 'kubernetes', role: 'ccm', jwtFile } });
    try {
      const key = await adapter.createKey('k8s', 'ecdsa-p256');
      assert.equal(server.stats.logins, 1);
      assert.equal(server.kubernetesTokens('ccm').length, 1);
      await writeFile(jwtFile, 'eyJ.second-jwt.sig');
      server.acceptKubernetesJwts('ccm', ['eyJ.second-jwt.sig']);
      for (const token of server.kubernetesTokens('ccm')) server.revokeToken(token);
      const signature = await adapter.sign('k8s', Buffer.from('x'));
      assert.ok(verifies('ecdsa-p256', key.publicKeyDer, Buffer.from('x'), signature));
      assert.equal(server.stats.logins, 2, 'the refused token was replaced by a login with the rotated JWT');
      assert.deepEqual(await adapter.readiness(), { ready: true });
    } finally {
      adapter.close();
    }
  });

  it('logs in through a custom mount path', async () => {
    const jwtFile = join(directory, 'mounted');
    await writeFile(jwtFile, 'eyJ.mounted.sig');
    server.addKubernetesRole({ name: 'ccm', jwts: ['eyJ.mounted.sig'], mountPath: 'k8s-prod' });
    const adapter = custody({ auth: { method: 'kubernetes', role: 'ccm', jwtFile, mountPath: 'k8s-prod' } });
    await adapter.createKey('k8s-mounted', 'ed25519');
    assert.equal(server.kubernetesTokens('ccm', 'k8s-prod').length, 1);
    adapter.close();
  });

  it('throws CustodyError without the JWT when Vault refuses it, and readiness says so without a login per probe', async () => {
    const jwtFile = join(directory, 'refused');
    await writeFile(jwtFile, 'eyJ.refused-secret.sig');
    server.addKubernetesRole({ name: 'strict', jwts: ['eyJ.other.sig'] });
    const adapter = custody({ auth: { method: 'kubernetes', role: 'strict', jwtFile } });
    await assert.rejects(adapter.getKey('anything'), (error: unknown) => {
      assert.ok(error instanceof CustodyError);
      assert.match(error.message, /403: permission denied/);
      assert.match(error.message, /role strict/);
      assert.ok(!error.message.includes('refused-secret'));
      return true;
    });
    server.resetStats();
    const readiness = await adapter.readiness();
    assert.equal(readiness.ready, false);
    assert.match(readiness.reason!, /permission denied/);
    assert.ok(!readiness.reason!.includes('refused-secret'));
    assert.equal(server.stats.requests, 1, 'sys/health only');
    assert.equal(server.stats.logins, 0);
  });

  it('names a missing or empty JWT file in the error and in readiness', async () => {
    const missing = join(directory, 'absent');
    const adapter = custody({ auth: { method: 'kubernetes', role: 'ccm', jwtFile: missing } });
    await assert.rejects(adapter.getKey('anything'), (error: unknown) => error instanceof CustodyError && error.message.includes(missing) && /ENOENT/.test(error.message));
    assert.match((await adapter.readiness()).reason!, new RegExp(`${missing}.*ENOENT`));
    const empty = join(directory, 'empty');
    await writeFile(empty, '\n');
    const emptyAdapter = custody({ auth: { method: 'kubernetes', role: 'ccm', jwtFile: empty } });
    await assert.rejects(emptyAdapter.getKey('anything'), (error: unknown) => error instanceof CustodyError && error.message.includes(empty) && /is empty/.test(error.message));
  });
});

describe('token renewal', () => {
  it('renews an AppRole token before it expires, so signing keeps working past its first TTL on one login', async () => {
    server.addAppRole({ roleId: 'renewing-role', secretId: 'renewing-secret', tokenTtlSeconds: 2 });
    server.resetStats();
    const adapter = custody({ auth: { method: 'approle', roleId: 'renewing-role', secretId: 'renewing-secret' } });
    try {
      await adapter.createKey('renewing', 'ecdsa-p256');
      const [token] = server.appRoleTokens('renewing-role');
      const firstExpiry = server.tokenExpiresAt(token!)!;
      await pause(2600);
      assert.ok(Date.now() > firstExpiry, 'past the TTL the login granted');
      assert.ok(server.stats.renewals >= 1, `renewals: ${server.stats.renewals}`);
      const requestsBefore = server.stats.requests;
      await adapter.sign('renewing', Buffer.from('x'));
      assert.equal(server.stats.requests - requestsBefore, 1, 'signed with the renewed token, no refusal');
      assert.equal(server.stats.logins, 1);
      assert.deepEqual(server.appRoleTokens('renewing-role'), [token]);
    } finally {
      adapter.close();
    }
  });

  it('logs in again when Vault refuses the renewal, before any request meets the refused token', async () => {
    const jwtFile = join(await mkdtemp(join(tmpdir(), 'ccm-k8s-')), 'token');
    await writeFile(jwtFile, 'eyJ.renewal.sig');
    server.addKubernetesRole({ name: 'revoked-renewal', jwts: ['eyJ.renewal.sig'], tokenTtlSeconds: 2 });
    server.resetStats();
    const adapter = custody({ auth: { method: 'kubernetes', role: 'revoked-renewal', jwtFile } });
    try {
      await adapter.createKey('revoked-renewal', 'ed25519');
      for (const token of server.kubernetesTokens('revoked-renewal')) server.revokeToken(token);
      await pause(1700);
      assert.equal(server.stats.logins, 2, 'the 403 on renew-self led to a new login');
      assert.equal(server.kubernetesTokens('revoked-renewal').length, 1);
      const requestsBefore = server.stats.requests;
      await adapter.sign('revoked-renewal', Buffer.from('x'));
      assert.equal(server.stats.requests - requestsBefore, 1);
    } finally {
      adapter.close();
      await rm(join(jwtFile, '..'), { recursive: true, force: true });
    }
  });

  it('logs in again when the max TTL stops renewals from extending the token', async () => {
    server.addAppRole({ roleId: 'capped-role', secretId: 'capped-secret', tokenTtlSeconds: 1, tokenMaxTtlSeconds: 2 });
    server.resetStats();
    const adapter = custody({ auth: { method: 'approle', roleId: 'capped-role', secretId: 'capped-secret' } });
    try {
      await adapter.createKey('capped', 'ecdsa-p256');
      await pause(3200);
      assert.ok(server.stats.logins >= 2, `logins: ${server.stats.logins}`);
      assert.ok(server.stats.renewals >= 1, `renewals: ${server.stats.renewals}`);
      const requestsBefore = server.stats.requests;
      await adapter.sign('capped', Buffer.from('x'));
      assert.equal(server.stats.requests - requestsBefore, 1, 'the token in hand is valid');
    } finally {
      adapter.close();
    }
  });

  it('looks a static token up at start and renews it in the background at two thirds of its TTL', async () => {
    const token = server.createToken({ ttlSeconds: 2 });
    const adapter = custody({ auth: { method: 'token', token } });
    try {
      await adapter.createKey('static-renewed', 'ecdsa-p256');
      const firstExpiry = server.tokenExpiresAt(token)!;
      server.resetStats();
      adapter.start();
      await pause(2600);
      assert.ok(Date.now() > firstExpiry);
      assert.ok(server.stats.renewals >= 1);
      await adapter.sign('static-renewed', Buffer.from('x'));
      assert.deepEqual(await adapter.readiness(), { ready: true });
    } finally {
      adapter.close();
    }
  });

  it('renews a periodic static token period after period', async () => {
    const token = server.createToken({ periodSeconds: 1 });
    const adapter = custody({ auth: { method: 'token', token } });
    try {
      server.resetStats();
      adapter.start();
      await pause(2300);
      assert.ok(server.stats.renewals >= 2, `renewals: ${server.stats.renewals}`);
      await adapter.createKey('periodic', 'ed25519');
    } finally {
      adapter.close();
    }
  });

  it('reports a static token whose renewal Vault refuses as not ready, without the token', async () => {
    const token = server.createToken({ ttlSeconds: 1 });
    const adapter = custody({ auth: { method: 'token', token } });
    try {
      adapter.start();
      await pause(100);
      server.revokeToken(token);
      await pause(700);
      const readiness = await adapter.readiness();
      assert.equal(readiness.ready, false);
      assert.match(readiness.reason!, /Vault refused renewing the configured token/);
      assert.ok(!readiness.reason!.includes(token));
    } finally {
      adapter.close();
    }
  });

  it('reports a static token that is not renewable as not ready once it has expired, and signing fails without the token', async () => {
    const token = server.createToken({ ttlSeconds: 1, renewable: false });
    const adapter = custody({ auth: { method: 'token', token } });
    try {
      adapter.start();
      await pause(100);
      assert.deepEqual(await adapter.readiness(), { ready: true });
      await pause(1000);
      const readiness = await adapter.readiness();
      assert.equal(readiness.ready, false);
      assert.match(readiness.reason!, /expired/);
      await assert.rejects(adapter.getKey('anything'), (error: unknown) => error instanceof CustodyError && !error.message.includes(token));
    } finally {
      adapter.close();
    }
  });

  it('does not renew a token without expiry, and close() stops the upkeep', async () => {
    const adapter = custody();
    server.resetStats();
    adapter.start();
    await pause(100);
    assert.equal(server.stats.requests, 1, 'one lookup-self');
    assert.equal(server.stats.renewals, 0);
    adapter.close();
  });
});
