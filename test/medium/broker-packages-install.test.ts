/**
 * A broker host installs only what it runs: the agent packages, packed as
 * npm would publish them, install into an empty project without the service
 * or its stack, and their bins start (--help) and refuse a missing
 * configuration with exit code 2 naming the variables. Dependencies come
 * from npm's cache (the root install filled it), so the test needs no
 * network once the repository is installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(dirname(new URL(import.meta.url).pathname), '../../..');
const LIBRARIES = ['configuration', 'event-consumer', 'broker-agent'];
const AGENTS = ['mosquitto-agent', 'rabbitmq-agent', 'nats-agent'];

let host: string;

before(async () => {
  host = await mkdtemp(join(tmpdir(), 'ccm-broker-host-'));
  for (const name of [...LIBRARIES, ...AGENTS]) await run('npm', ['pack', '--silent', '--pack-destination', host], { cwd: join(root, 'packages', name) });
  const tarball = (name: string): string => `file:./ccm-${name}-0.1.0.tgz`;
  await writeFile(
    join(host, 'package.json'),
    JSON.stringify({
      name: 'broker-host',
      private: true,
      dependencies: Object.fromEntries(AGENTS.map((name) => [`@ccm/${name}`, tarball(name)])),
      // The agents depend on the libraries by version; a registry would serve them, here the tarballs do.
      overrides: Object.fromEntries(LIBRARIES.map((name) => [`@ccm/${name}`, tarball(name)])),
    }),
  );
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: host, timeout: 120_000 });
});

after(async () => {
  if (host) await rm(host, { recursive: true, force: true });
});

describe('the agent packages, installed on their own', () => {
  it('bring none of the service\'s stack', async () => {
    const installed = await readdir(join(host, 'node_modules'));
    for (const forbidden of ['@nestjs', 'typeorm', 'better-sqlite3', 'pg', 'class-validator', 'node-vault', 'ccm']) assert.ok(!installed.includes(forbidden), `${forbidden} is installed`);
    assert.deepEqual((await readdir(join(host, 'node_modules', '@ccm'))).sort(), [...LIBRARIES, ...AGENTS].sort());
  });

  for (const agent of AGENTS) {
    it(`ccm-${agent} starts: --help lists its variables; without configuration it exits 2 naming them`, async () => {
      const bin = join(host, 'node_modules', '.bin', `ccm-${agent}`);
      const help = await run(bin, ['--help'], { cwd: host });
      assert.match(help.stdout, /CCM_AGENT_CCM_URL/);
      const broker = agent.replace('-agent', '').toUpperCase();
      assert.match(help.stdout, new RegExp(`CCM_${broker}_`));
      const refused = await run(bin, [], { cwd: host, env: { PATH: process.env['PATH'] } }).then(
        () => null,
        (error: { code?: number; stderr?: string }) => error,
      );
      assert.ok(refused, 'the agent started without configuration');
      assert.equal(refused.code, 2);
      assert.match(refused.stderr ?? '', /CCM_AGENT_CCM_URL is required/);
      assert.match(refused.stderr ?? '', /CCM_AGENT_TENANT_IDS is required/);
    });
  }
});
