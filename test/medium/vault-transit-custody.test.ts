/**
 * The Vault custody adapter through node-vault over real HTTP to the Transit
 * test server: key life cycle for every algorithm, signatures checked with
 * node:crypto against signatureSchemeFor, and the error mapping (missing key,
 * sealed, stopped, refused token, expired AppRole token).
 */
import assert from 'node:assert/strict';
import { constants, createPublicKey, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { KEY_ALGORITHMS, isRsa, signatureSchemeFor, type KeyAlgorithm } from '../../src/custody/key-algorithm.js';
import { VaultTransitCustody, type VaultTransitCustodyOptions } from '../../src/custody/vault-transit-custody.js';
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

  it('logs in again before the lease runs out', async () => {
    server.addAppRole({ roleId: 'short-role', secretId: 'short-secret', tokenTtlSeconds: 1 });
    server.resetStats();
    const adapter = custody({ auth: { method: 'approle', roleId: 'short-role', secretId: 'short-secret' } });
    await adapter.createKey('short', 'ecdsa-p256');
    await new Promise((resolve) => setTimeout(resolve, 850));
    const requestsBefore = server.stats.requests;
    await adapter.sign('short', Buffer.from('x'));
    assert.equal(server.stats.logins, 2);
    assert.equal(server.stats.requests - requestsBefore, 2, 'one login and one sign, no refused attempt');
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
