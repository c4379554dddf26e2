/** The committed OpenAPI document is what the code produces; regenerate with `npm run openapi`. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { renderOpenApi } from '../../src/http/openapi-export.js';

test('openapi/openapi.json matches the code', async () => {
  const committed = await readFile(new URL('../../../openapi/openapi.json', import.meta.url), 'utf8');
  const produced = await renderOpenApi();
  assert.equal(committed, produced, 'openapi/openapi.json is stale: run `npm run openapi` and commit the result');
  const document = JSON.parse(produced);
  for (const path of ['/v1/tenants', '/v1/tenants/{tenantId}/certificates', '/v1/platform-ca/csr', '/v1/tenants/{tenantId}/ca-chain']) {
    assert.ok(document.paths[path], `${path} is documented`);
  }
});
