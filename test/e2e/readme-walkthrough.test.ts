/**
 * A new user's path: the README's walk-through block, run as written with
 * bash (curl, jq, openssl) against `node dist/src/main.js` started with no
 * configuration. Both openssl verify calls must print OK.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { run } from '../support/openssl.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

test('the README walk-through yields certificates that openssl verifies', async () => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const block = /<!-- walkthrough:start -->\n```sh\n([\s\S]+?)```\n<!-- walkthrough:end -->/.exec(readme)?.[1];
  assert.ok(block, 'README has the walk-through block');
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address() as { port: number };
      probe.close(() => resolve(p));
    });
  });
  const cwd = await mkdtemp(join(tmpdir(), 'ccm-readme-'));
  const child = spawn(process.execPath, [MAIN], { cwd, env: { PATH: process.env.PATH, CCM_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  try {
    const deadline = Date.now() + 30_000;
    while (!output.includes('ccm listening')) {
      if (Date.now() > deadline || child.exitCode !== null) assert.fail(`ccm did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const script = `set -euo pipefail\n${block.replace('http://127.0.0.1:8080', `http://127.0.0.1:${port}`)}`;
    const result = await run('bash', ['-c', script], { cwd });
    assert.equal(result.code, 0, `walk-through failed:\n${result.stdout}\n${result.stderr}`);
    assert.deepEqual(result.stdout.trim().split('\n'), ['sensor-1.pem: OK', 'sensor-2.pem: OK']);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(cwd, { recursive: true, force: true });
  }
});
