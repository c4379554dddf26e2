/**
 * The service as a user starts it: `node dist/src/main.js` with no
 * configuration comes up on SQLite and local custody; a bad setting stops it
 * with a message naming the variable; Swagger UI is served at /docs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { run } from '../support/openssl.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('a bad setting stops the service with exit code 2 and names the variable', async () => {
  const result = await run(process.execPath, [MAIN], { env: { PATH: process.env.PATH, CCM_PORT: 'abc', CCM_CUSTODY: 'vault' } });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /CCM_PORT must be an integer/);
  assert.match(result.stderr, /CCM_VAULT_ADDR is required when CCM_CUSTODY=vault/);
});

test('with no configuration it starts on SQLite and local custody, warns about local custody, generates an owner-only administrator key, and serves the API and /docs', async () => {
  const cwd = await mkdtemp(join(tmpdir(), 'ccm-start-'));
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], { cwd, env: { PATH: process.env.PATH, CCM_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  try {
    const deadline = Date.now() + 30_000;
    while (!output.includes('ccm listening')) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(output, /local custody: .*development only/);
    const keyFile = join(cwd, 'data', 'admin-api-key');
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    const adminKey = (await readFile(keyFile, 'utf8')).trim();
    assert.ok(adminKey.length >= 32);
    assert.match(output, /bootstrap administrator key: in \.\/data\/admin-api-key/);
    const anonymous = await fetch(`http://127.0.0.1:${port}/v1/platform-ca`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="ccm"');
    assert.equal(((await anonymous.json()) as { type: string }).type, 'urn:ccm:problem:unauthorized');
    const platform = (await (await fetch(`http://127.0.0.1:${port}/v1/platform-ca`, { headers: { authorization: `Bearer ${adminKey}` } })).json()) as { status: string };
    assert.equal(platform.status, 'active');
    const docs = await fetch(`http://127.0.0.1:${port}/docs`);
    assert.equal(docs.status, 200);
    assert.match(await docs.text(), /swagger/i);
    const spec = (await (await fetch(`http://127.0.0.1:${port}/docs/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(spec.paths['/v1/tenants']);
    assert.doesNotMatch(output, /PRIVATE KEY/);
    assert.ok(!output.includes(adminKey), 'the administrator key is never logged');
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(cwd, { recursive: true, force: true });
  }
});
