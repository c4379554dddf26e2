/**
 * What a caller and the operator each learn when Vault custody fails, over
 * HTTP with the Transit-compatible test server: Vault stopped or answering
 * 503 is 503 custody-unavailable with Retry-After, Vault refusing is 502
 * custody-error, a CA key gone from Vault is 500 custody-key-not-found with
 * an errorId; every body is problem+json with a fixed detail and none of
 * Vault's words (its error text, address, status, key names), which the
 * request's log line carries instead. On SQLite: the database is not what
 * this is about.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApplication } from '../../src/app.js';
import { parseConfiguration } from '../../src/config/configuration.js';
import { createJsonLog } from '../../src/logging/json-log.js';
import { CcmUnderTest, TestInstallation } from '../support/ccm-under-test.js';
import { multierror } from '../support/transit-server.js';

const PROBLEM = 'urn:ccm:problem:';
const SIGN_PATH = /^transit\/sign\//;

type Line = Record<string, unknown>;

describe('custody failures over HTTP', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let tenantId = '';
  let vaultAddress = '';
  const logged: string[] = [];

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'vault' });
    vaultAddress = installation.env['CCM_VAULT_ADDR']!;
    // As TestInstallation.start, with the log kept: what reaches the operator is half of what this checks.
    const configuration = parseConfiguration(installation.env);
    const log = createJsonLog('warn', { destination: { write: (chunk: string) => void logged.push(chunk) } });
    const app = await createApplication(configuration, { log });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.getHttpServer().address();
    if (!address || typeof address === 'string') throw new Error('ccm did not bind a TCP port');
    ccm = new CcmUnderTest(app, configuration, `http://127.0.0.1:${address.port}`, installation.adminKey);
    tenantId = (await ccm.api().post('/v1/tenants').send({ name: `custody-errors-${Date.now()}` }).expect(201)).body.id;
    await issue('before-any-failure').expect(201);
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
  });

  const issue = (commonName: string, tenant = tenantId) => ccm.api().post(`/v1/tenants/${tenant}/certificates`).send({ commonName, ttlSeconds: 3600 });

  /** The request log line of the answer with this X-Request-Id. */
  function requestLine(requestId: string): Line {
    const lines = logged.map((chunk) => JSON.parse(chunk) as Line).filter((line) => line['msg'] === 'request completed' && line['requestId'] === requestId);
    assert.equal(lines.length, 1, `one request line for ${requestId}`);
    return lines[0]!;
  }

  /** A problem+json of `kind` whose text holds none of `vaultWords`, nor Vault's address or name; the log line of its request. */
  function assertProblem(response: { status: number; text: string; headers: Record<string, string>; body: Record<string, unknown> }, status: number, kind: string, vaultWords: readonly string[]): Line {
    assert.equal(response.status, status, response.text);
    assert.match(response.headers['content-type']!, /^application\/problem\+json/);
    assert.equal(response.body['type'], `${PROBLEM}${kind}`);
    assert.equal(response.body['status'], status);
    assert.equal(typeof response.body['detail'], 'string');
    for (const word of [...vaultWords, vaultAddress, new URL(vaultAddress).host]) assert.ok(!response.text.includes(word), `the answer does not contain ${JSON.stringify(word)}: ${response.text}`);
    assert.doesNotMatch(response.text, /vault|transit/i, 'the answer does not name the back end');
    const line = requestLine(response.headers['x-request-id']!);
    assert.equal(line['status'], status);
    assert.equal(line['level'], 'error');
    return line;
  }

  const errorMessageOf = (line: Line): string => (line['err'] as { message: string }).message;

  test('Vault stopped: 503 custody-unavailable with Retry-After; the address and ECONNREFUSED only in the log line', async () => {
    await installation.vault!.stop();
    let response;
    try {
      response = await issue('while-stopped');
    } finally {
      // The same port: ccm's configuration still points there.
      await installation.vault!.start();
    }
    const line = assertProblem(response, 503, 'custody-unavailable', ['ECONNREFUSED', 'did not answer']);
    assert.equal(response.body['detail'], 'key custody cannot be reached now; retry later');
    assert.match(response.headers['retry-after'] ?? '', /^[1-9]\d*$/);
    assert.ok(errorMessageOf(line).includes(vaultAddress), errorMessageOf(line));
    assert.match(errorMessageOf(line), /ECONNREFUSED|ECONNRESET/);
    await issue('after-restart').expect(201);
  });

  test("Vault answering 503 with its own text: 503 custody-unavailable; Vault's text only in the log line", async () => {
    const text = 'raft storage is not ready (outage marker 41c7)';
    installation.vault!.injectError({ path: SIGN_PATH, status: 503, message: text });
    let response;
    try {
      response = await issue('while-unavailable');
    } finally {
      installation.vault!.clearInjectedErrors();
    }
    const line = assertProblem(response, 503, 'custody-unavailable', [text, 'marker 41c7', 'sealed or unavailable']);
    assert.match(response.headers['retry-after'] ?? '', /^[1-9]\d*$/);
    assert.ok(errorMessageOf(line).includes(text), errorMessageOf(line));
    await issue('after-unavailable').expect(201);
  });

  for (const [status, text] of [
    [400, 'requested hash algorithm is not allowed by policy (refusal marker 9b2f)'],
    [500, multierror('failed to read policy: storage backend said no (refusal marker 9b2f)')],
  ] as const) {
    test(`Vault refusing with ${status} and an error text: 502 custody-error without Retry-After; Vault's text and status only in the log line`, async () => {
      installation.vault!.injectError({ path: SIGN_PATH, status, message: text });
      let response;
      try {
        response = await issue(`while-refusing-${status}`);
      } finally {
        installation.vault!.clearInjectedErrors();
      }
      const line = assertProblem(response, 502, 'custody-error', ['refusal marker 9b2f', 'policy', `status ${status}`, 'refused signing']);
      assert.equal(response.body['detail'], 'key custody refused or failed the operation; the operator finds why in the service log under this requestId');
      assert.equal(response.headers['retry-after'], undefined);
      assert.match(errorMessageOf(line), new RegExp(`with status ${status}: .*refusal marker 9b2f`));
      await issue(`after-refusing-${status}`).expect(201);
    });
  }

  test('a CA key deleted in Vault: 500 custody-key-not-found with an errorId the log line shares; the key name only in the log line', async () => {
    const vault = installation.vault!;
    const before = new Set(vault.keyNames());
    const doomed = (await ccm.api().post('/v1/tenants').send({ name: `custody-errors-doomed-${Date.now()}` }).expect(201)).body.id as string;
    const keys = vault.keyNames().filter((name) => !before.has(name));
    assert.ok(keys.length > 0, 'the tenant got a key in Vault');
    await issue('before-deletion', doomed).expect(201);
    for (const key of keys) {
      const headers = { 'x-vault-token': vault.rootToken, 'content-type': 'application/json' };
      assert.equal((await fetch(`${vaultAddress}/v1/transit/keys/${key}/config`, { method: 'POST', headers, body: JSON.stringify({ deletion_allowed: true }) })).ok, true);
      assert.equal((await fetch(`${vaultAddress}/v1/transit/keys/${key}`, { method: 'DELETE', headers })).status, 204);
    }
    const response = await issue('after-deletion', doomed);
    const line = assertProblem(response, 500, 'custody-key-not-found', [...keys, 'root-1', 'no key named']);
    assert.equal(typeof response.body['errorId'], 'string');
    assert.equal(line['errorId'], response.body['errorId']);
    assert.match(errorMessageOf(line), new RegExp(`custody has no key named tenant-${doomed}-root-1`));
    // The other tenant's key is untouched.
    await issue('other-tenant-still-issues').expect(201);
  });
});
