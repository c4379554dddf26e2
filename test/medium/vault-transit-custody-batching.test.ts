/**
 * Batched signing of the Vault custody adapter against the Transit test
 * server over real HTTP: concurrent signatures with one key share Transit
 * `batch_input` requests within the configured size, a lone signature leaves
 * at once, each item's failure stays its own, and a failed request fails
 * every item with the error a lone signature gets. A recording HTTP proxy
 * between adapter and server shows what each request carried.
 */
import assert from 'node:assert/strict';
import { constants, createPublicKey, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KEY_ALGORITHMS, isRsa, signatureSchemeFor, type KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { VaultSignClient } from '../../src/custody/vault-sign-client.js';
import { VaultTransitCustody, type VaultTransitCustodyOptions } from '../../src/custody/vault-transit-custody.js';
import { CustodyError, CustodyKeyNotFound, CustodyUnavailable } from '../../src/shared/errors.js';
import { Scratch, openssl } from '../support/openssl.js';
import { TransitServer } from '../support/transit-server.js';

const server = new TransitServer();
let address = '';

function custody(overrides: Partial<VaultTransitCustodyOptions> = {}): VaultTransitCustody {
  return new VaultTransitCustody({ address, keyPrefix: 'ccm-', auth: { method: 'token', token: server.rootToken }, ...overrides });
}

function verifies(algorithm: KeyAlgorithm, publicKeyDer: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const publicKey = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
  const key = isRsa(algorithm) ? { key: publicKey, padding: constants.RSA_PKCS1_PADDING } : { key: publicKey, dsaEncoding: 'der' as const };
  return verify(signatureSchemeFor(algorithm).hash, data, key, signature);
}

/** Distinct inputs, so that a signature handed to the wrong caller fails to verify. */
function inputs(count: number, label = 'tbs'): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(`${label}-${i}`));
}

interface SignRequest {
  /** The key name from `transit/sign/<name>`. */
  readonly key: string;
  /** Decoded inputs: one for the plain `input` form, every item of `batch_input` otherwise. */
  readonly inputs: readonly string[];
  readonly batched: boolean;
}

/**
 * Forwards every request to the Transit server and records the sign
 * requests. `alterSignBody` may change a sign request body on its way; with
 * `tls`, the proxy answers HTTPS, like a Vault listener with a certificate.
 */
class RecordingProxy {
  readonly signRequests: SignRequest[] = [];
  /** TLS handshakes completed (HTTPS only): one per connection. */
  tlsConnections = 0;
  private server: Server | null = null;

  constructor(
    private readonly target: string,
    private readonly alterSignBody: (body: Record<string, unknown>) => Record<string, unknown> = (body) => body,
    private readonly tls: { readonly key: string; readonly cert: string } | null = null,
  ) {}

  async start(): Promise<string> {
    const handler = (request: IncomingMessage, response: ServerResponse): void => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        let body = Buffer.concat(chunks).toString('utf8');
        const sign = /^\/v1\/transit\/sign\/([^/]+)$/.exec(request.url ?? '');
        if (sign && request.method === 'POST') {
          const parsed = JSON.parse(body) as { input?: string; batch_input?: { input: string }[] };
          const batch = parsed.batch_input;
          this.signRequests.push({
            key: sign[1]!,
            inputs: (batch ?? [{ input: parsed.input ?? '' }]).map((item) => Buffer.from(item.input, 'base64').toString('utf8')),
            batched: batch !== undefined,
          });
          body = JSON.stringify(this.alterSignBody(parsed as Record<string, unknown>));
        }
        const headers: Record<string, string> = {};
        for (const name of ['x-vault-token', 'content-type']) {
          const value = request.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        fetch(`${this.target}${request.url}`, { method: request.method!, headers, ...(body === '' ? {} : { body }) })
          .then(async (upstream) => {
            response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
            response.end(Buffer.from(await upstream.arrayBuffer()));
          })
          .catch(() => response.destroy());
      });
    };
    const proxy = this.tls ? createTlsServer(this.tls, handler) : createServer(handler);
    proxy.on('secureConnection', () => (this.tlsConnections += 1));
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    this.server = proxy;
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const proxy = this.server;
    this.server = null;
    if (!proxy) return;
    proxy.closeAllConnections();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
}

/** Settles every promise and returns the outcomes in order. */
async function outcomes<T>(promises: readonly Promise<T>[]): Promise<PromiseSettledResult<T>[]> {
  return Promise.allSettled(promises);
}

before(async () => {
  address = await server.start();
});

after(() => server.close());

describe('coalescing concurrent signatures into Transit batches', () => {
  it('signs 200 concurrent inputs with one key in far fewer than 200 requests, each signature verifying for its own input', async () => {
    const adapter = custody();
    const key = await adapter.createKey('crowd', 'ecdsa-p256');
    const data = inputs(200);
    server.resetStats();
    const signatures = await Promise.all(data.map((input) => adapter.sign('crowd', input)));
    assert.ok(server.stats.signRequests <= 20, `${server.stats.signRequests} sign requests for 200 signatures`);
    assert.ok(server.stats.signBatchItems >= 180, `${server.stats.signBatchItems} of 200 signatures went in batches`);
    signatures.forEach((signature, i) => assert.ok(verifies('ecdsa-p256', key.publicKeyDer, data[i]!, signature), `signature ${i} verifies for input ${i}`));
  });

  for (const algorithm of KEY_ALGORITHMS) {
    it(`sends the ${algorithm} signing parameters with every batch, so batched signatures verify with its scheme`, async () => {
      const adapter = custody();
      const key = await adapter.createKey(`batch-${algorithm}`, algorithm);
      const data = inputs(12, algorithm);
      server.resetStats();
      const signatures = await Promise.all(data.map((input) => adapter.sign(`batch-${algorithm}`, input)));
      assert.ok(server.stats.signBatchItems > 0, 'some signatures went in a batch');
      signatures.forEach((signature, i) => assert.ok(verifies(algorithm, key.publicKeyDer, data[i]!, signature)));
    });
  }

  it('never puts more signatures in one request than the batch size', async () => {
    const proxy = new RecordingProxy(address);
    const adapter = custody({ address: await proxy.start(), signBatchSize: 8 });
    try {
      const key = await adapter.createKey('bounded', 'ecdsa-p384');
      const data = inputs(100);
      const signatures = await Promise.all(data.map((input) => adapter.sign('bounded', input)));
      const sizes = proxy.signRequests.map((request) => request.inputs.length);
      assert.equal(sizes.reduce((sum, size) => sum + size, 0), 100);
      assert.ok(Math.max(...sizes) === 8, `batch sizes ${JSON.stringify(sizes)} reach 8 and no more`);
      signatures.forEach((signature, i) => assert.ok(verifies('ecdsa-p384', key.publicKeyDer, data[i]!, signature)));
    } finally {
      await proxy.stop();
    }
  });

  it('sends every signature in its own plain-input request when the batch size is 1', async () => {
    const proxy = new RecordingProxy(address);
    const adapter = custody({ address: await proxy.start(), signBatchSize: 1 });
    try {
      await adapter.createKey('unbatched', 'ed25519');
      await Promise.all(inputs(30).map((input) => adapter.sign('unbatched', input)));
      assert.equal(proxy.signRequests.length, 30);
      assert.ok(proxy.signRequests.every((request) => !request.batched));
    } finally {
      await proxy.stop();
    }
  });

  it('sends a lone signature at once, in the plain input form, when the batch wait is 0', async () => {
    const adapter = custody({ signBatchWaitMs: 0 });
    await adapter.createKey('lone', 'ecdsa-p256');
    server.resetStats();
    const started = performance.now();
    await adapter.sign('lone', Buffer.from('alone'));
    const elapsed = performance.now() - started;
    assert.deepEqual({ signRequests: server.stats.signRequests, signBatchItems: server.stats.signBatchItems }, { signRequests: 1, signBatchItems: 0 });
    // The waiting adapter below holds a lone signature for 1000 ms; this one must not wait at all.
    assert.ok(elapsed < 500, `a lone signature took ${elapsed.toFixed(0)} ms`);
  });

  it('holds a lone signature for the batch wait and sends it with those that arrived meanwhile', async () => {
    const proxy = new RecordingProxy(address);
    const adapter = custody({ address: await proxy.start(), signBatchWaitMs: 1000 });
    try {
      const key = await adapter.createKey('patient', 'ecdsa-p256');
      const started = performance.now();
      const first = adapter.sign('patient', Buffer.from('first'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const later = [adapter.sign('patient', Buffer.from('second')), adapter.sign('patient', Buffer.from('third'))];
      const signatures = await Promise.all([first, ...later]);
      assert.ok(performance.now() - started >= 990, 'the first signature waited for company');
      assert.deepEqual(proxy.signRequests.map((request) => request.inputs), [['first', 'second', 'third']]);
      ['first', 'second', 'third'].forEach((text, i) => assert.ok(verifies('ecdsa-p256', key.publicKeyDer, Buffer.from(text), signatures[i]!)));
    } finally {
      await proxy.stop();
    }
  });

  it('keeps the signatures of two keys apart when both are busy at once', async () => {
    const proxy = new RecordingProxy(address);
    const adapter = custody({ address: await proxy.start() });
    try {
      const alpha = await adapter.createKey('alpha', 'ecdsa-p256');
      const beta = await adapter.createKey('beta', 'ecdsa-p256');
      const alphaData = inputs(60, 'alpha');
      const betaData = inputs(60, 'beta');
      const signing = alphaData.flatMap((input, i) => [adapter.sign('alpha', input), adapter.sign('beta', betaData[i]!)]);
      const signatures = await Promise.all(signing);
      alphaData.forEach((input, i) => {
        assert.ok(verifies('ecdsa-p256', alpha.publicKeyDer, input, signatures[2 * i]!), `alpha ${i} verifies with alpha`);
        assert.ok(!verifies('ecdsa-p256', beta.publicKeyDer, input, signatures[2 * i]!), `alpha ${i} does not verify with beta`);
        assert.ok(verifies('ecdsa-p256', beta.publicKeyDer, betaData[i]!, signatures[2 * i + 1]!), `beta ${i} verifies with beta`);
      });
      assert.ok(proxy.signRequests.some((request) => request.batched));
      for (const request of proxy.signRequests) {
        const owner = request.key === 'ccm-alpha' ? 'alpha-' : 'beta-';
        assert.ok(
          request.inputs.every((input) => input.startsWith(owner)),
          `a request to ${request.key} carried only its own inputs: ${JSON.stringify(request.inputs)}`,
        );
      }
    } finally {
      await proxy.stop();
    }
  });
});

describe('failures inside and of a batch', () => {
  it('fails only the item Vault could not sign and returns the others', async () => {
    // Vault reports a per-item error for an item it cannot decode; ccm always
    // sends valid base64, so the proxy spoils one item's input on the way.
    const spoiled = Buffer.from('spoil-me').toString('base64');
    const proxy = new RecordingProxy(address, (body) => {
      const batch = body['batch_input'] as { input: string }[] | undefined;
      if (!batch) return body;
      return { ...body, batch_input: batch.map((item) => (item.input === spoiled ? { input: '@@@@' } : item)) };
    });
    const adapter = custody({ address: await proxy.start() });
    try {
      const key = await adapter.createKey('isolated', 'ecdsa-p256');
      const data = [...inputs(29), Buffer.from('spoil-me')];
      const settled = await outcomes(data.map((input) => adapter.sign('isolated', input)));
      const spoiledRequest = proxy.signRequests.find((request) => request.inputs.includes('spoil-me'));
      assert.ok(spoiledRequest?.batched && spoiledRequest.inputs.length > 1, 'the spoiled input travelled with others');
      const last = settled.at(-1)!;
      assert.equal(last.status, 'rejected');
      const reason = (last as PromiseRejectedResult).reason as unknown;
      assert.ok(reason instanceof CustodyError && !(reason instanceof CustodyUnavailable));
      assert.match(reason.message, /^Vault refused signing with key isolated: unable to decode input: illegal base64 data at input byte 0$/);
      settled.slice(0, -1).forEach((outcome, i) => {
        assert.equal(outcome.status, 'fulfilled', `input ${i} was signed`);
        assert.ok(verifies('ecdsa-p256', key.publicKeyDer, data[i]!, (outcome as PromiseFulfilledResult<Uint8Array>).value));
      });
    } finally {
      await proxy.stop();
    }
  });

  /** The error a lone signature gets now, and the errors of 20 concurrent ones (which go out in batches). */
  async function loneAndBatched(adapter: VaultTransitCustody, name: string, recorded: () => number): Promise<{ lone: unknown; batched: unknown[]; requests: number }> {
    const lone = await adapter.sign(name, Buffer.from('lone')).then(
      () => assert.fail('the lone signature succeeded'),
      (error: unknown) => error,
    );
    const before = recorded();
    const settled = await outcomes(inputs(20).map((input) => adapter.sign(name, input)));
    assert.ok(settled.every((outcome) => outcome.status === 'rejected'));
    return { lone, batched: settled.map((outcome) => (outcome as PromiseRejectedResult).reason), requests: recorded() - before };
  }

  it('fails every item of a batch with CustodyUnavailable, as for a lone signature, while Vault is sealed', async () => {
    const adapter = custody();
    await adapter.createKey('sealed-batch', 'ecdsa-p256');
    server.seal();
    try {
      const { lone, batched, requests } = await loneAndBatched(adapter, 'sealed-batch', () => server.stats.requests);
      assert.ok(lone instanceof CustodyUnavailable);
      assert.ok(requests < 20, `${requests} requests for 20 signatures`);
      for (const error of batched) {
        assert.ok(error instanceof CustodyUnavailable);
        assert.equal(error.message, lone.message);
      }
    } finally {
      server.unseal();
    }
    await adapter.sign('sealed-batch', Buffer.from('after unseal'));
  });

  it('fails every item of a batch with CustodyUnavailable when Vault does not answer', async () => {
    const doomed = new TransitServer();
    const doomedAddress = await doomed.start();
    const adapter = new VaultTransitCustody({ address: doomedAddress, keyPrefix: 'ccm-', auth: { method: 'token', token: doomed.rootToken } });
    await adapter.createKey('gone-batch', 'ed25519');
    await adapter.sign('gone-batch', Buffer.from('kept-alive connection'));
    await doomed.stop();
    const settled = await outcomes(inputs(20).map((input) => adapter.sign('gone-batch', input)));
    for (const outcome of settled) {
      assert.equal(outcome.status, 'rejected');
      const reason = (outcome as PromiseRejectedResult).reason as unknown;
      assert.ok(reason instanceof CustodyUnavailable);
      assert.match(reason.message, /^Vault at http:\/\/127\.0\.0\.1:\d+ did not answer signing with key gone-batch: ECONNREFUSED$/);
    }
  });

  it('fails every item of a batch with CustodyKeyNotFound when the key was deleted in Vault', async () => {
    const adapter = custody();
    await adapter.createKey('deleted-batch', 'ecdsa-p256');
    const token = { 'X-Vault-Token': server.rootToken };
    await fetch(`${address}/v1/transit/keys/ccm-deleted-batch/config`, { method: 'POST', headers: token, body: JSON.stringify({ deletion_allowed: true }) });
    assert.equal((await fetch(`${address}/v1/transit/keys/ccm-deleted-batch`, { method: 'DELETE', headers: token })).status, 204);
    server.resetStats();
    const settled = await outcomes(inputs(20).map((input) => adapter.sign('deleted-batch', input)));
    assert.ok(server.stats.signRequests < 20, `${server.stats.signRequests} sign requests for 20 signatures`);
    for (const outcome of settled) {
      assert.equal(outcome.status, 'rejected');
      assert.ok((outcome as PromiseRejectedResult).reason instanceof CustodyKeyNotFound);
    }
  });

  it('fails every item of a batch with the CustodyError of a lone signature when the token may not sign', async () => {
    const token = server.createToken({ policyPaths: ['transit/keys/ccm-*'] });
    const adapter = custody({ auth: { method: 'token', token } });
    await adapter.createKey('forbidden-batch', 'ecdsa-p256');
    const { lone, batched, requests } = await loneAndBatched(adapter, 'forbidden-batch', () => server.stats.requests);
    assert.ok(requests < 20, `${requests} requests for 20 signatures`);
    assert.ok(lone instanceof CustodyError && !(lone instanceof CustodyUnavailable));
    assert.match(lone.message, /status 403: permission denied/);
    for (const error of batched) {
      assert.ok(error instanceof CustodyError);
      assert.equal(error.message, lone.message);
    }
  });
});

describe('the sign path HTTP client', () => {
  /** A self-signed certificate for 127.0.0.1: Vault's listener certificate in a test. */
  async function listenerCertificate(): Promise<{ key: string; cert: string }> {
    const scratch = await Scratch.create();
    try {
      const made = await openssl([
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', scratch.path('key.pem'), '-out', scratch.path('cert.pem'),
      ]);
      assert.equal(made.code, 0, made.stderr);
      return { key: await readFile(scratch.path('key.pem'), 'utf8'), cert: await readFile(scratch.path('cert.pem'), 'utf8') };
    } finally {
      await scratch.cleanup();
    }
  }

  it('signs over HTTPS with the CA from caCertPem, on kept-alive connections', async () => {
    const certificate = await listenerCertificate();
    const proxy = new RecordingProxy(address, undefined, certificate);
    const adapter = custody({ address: await proxy.start(), caCertPem: certificate.cert });
    try {
      const key = await adapter.createKey('over-tls', 'ecdsa-p256');
      const handshakesBefore = proxy.tlsConnections;
      for (const [i, input] of inputs(20).entries()) {
        assert.ok(verifies('ecdsa-p256', key.publicKeyDer, input, await adapter.sign('over-tls', input)), `signature ${i} verifies`);
      }
      assert.equal(proxy.tlsConnections - handshakesBefore, 1, '20 signatures one after another share one TLS connection');
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a Vault certificate that no configured CA signed, whatever NODE_TLS_REJECT_UNAUTHORIZED says', async () => {
    const certificate = await listenerCertificate();
    const proxy = new RecordingProxy(address, undefined, certificate);
    const vaultAddress = await proxy.start();
    const previous = process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
    process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = '0';
    try {
      const client = new VaultSignClient({ address: vaultAddress, timeoutMs: 5000 });
      const body = { input: Buffer.from('x').toString('base64'), hash_algorithm: 'sha2-256', marshaling_algorithm: 'asn1' };
      await assert.rejects(client.post('transit/sign/ccm-over-tls', body, { headers: { 'X-Vault-Token': server.rootToken } }), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      assert.equal(proxy.signRequests.length, 0);
    } finally {
      if (previous === undefined) delete process.env['NODE_TLS_REJECT_UNAUTHORIZED'];
      else process.env['NODE_TLS_REJECT_UNAUTHORIZED'] = previous;
      await proxy.stop();
    }
  });

  it("follows a standby's 307 to the active node with the token and body", async () => {
    const standby = createServer((request, response) => {
      response.writeHead(307, { location: `${address}${request.url}` });
      response.end();
    });
    await new Promise<void>((resolve) => standby.listen(0, '127.0.0.1', resolve));
    try {
      const key = await custody().createKey('redirected', 'ecdsa-p256');
      const adapter = custody({ address: `http://127.0.0.1:${(standby.address() as AddressInfo).port}` });
      const signatures = await Promise.all(inputs(5).map((input) => adapter.sign('redirected', input)));
      signatures.forEach((signature, i) => assert.ok(verifies('ecdsa-p256', key.publicKeyDer, inputs(5)[i]!, signature)));
    } finally {
      standby.closeAllConnections();
      await new Promise<void>((resolve) => standby.close(() => resolve()));
    }
  });
});
