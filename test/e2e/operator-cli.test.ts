/**
 * The operator CLI as an operator runs it: `node dist/src/cli/main.js ...` as
 * a child process against ccm running in-process (SQLite + local custody),
 * with CCM_URL and CCM_API_KEY in its environment. Certificates it writes are
 * judged by openssl; exit codes and the split of stdout and stderr are what
 * scripts rely on. `ccm migrate` runs against a fresh PostgreSQL database,
 * `ccm serve` as the service's own process.
 */
import assert from 'node:assert/strict';
import { chmod, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { createPostgresDatabase, type TestDatabase } from '../support/databases.js';
import { freePort, openssl, pemBlocks, run, Scratch, type CommandResult } from '../support/openssl.js';
import { ServerProcess } from '../support/server-process.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PROBLEM = 'urn:ccm:problem:';

/** The CLI with exactly `env` (and PATH): nothing leaks in from the test runner's environment. */
function ccm(args: readonly string[], env: Record<string, string>): Promise<CommandResult> {
  return run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
}

function assertNoKeyMaterial(result: CommandResult): void {
  assert.doesNotMatch(result.stdout, /PRIVATE KEY/);
  assert.doesNotMatch(result.stderr, /PRIVATE KEY/);
}

async function publicKeyOfCertificate(path: string): Promise<string> {
  const result = await openssl(['x509', '-in', path, '-noout', '-pubkey']);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

async function publicKeyOfPrivateKey(path: string): Promise<string> {
  const result = await openssl(['pkey', '-in', path, '-pubout']);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

/** openssl verify of a certificate against the last certificate of chain.pem as the only trust anchor, the rest as untrusted intermediates. */
async function verifyIssued(scratch: Scratch, directory: string): Promise<CommandResult> {
  const blocks = pemBlocks(await readFile(join(directory, 'chain.pem'), 'utf8'));
  const root = await scratch.write(`root-${Math.random()}.pem`, blocks.at(-1)!);
  const untrusted = await scratch.write(`untrusted-${Math.random()}.pem`, blocks.slice(0, -1).join(''));
  return openssl(['verify', '-CAfile', root, '-untrusted', untrusted, '-purpose', 'sslclient', join(directory, 'certificate.pem')]);
}

describe('operator CLI against a running ccm (SQLite, local custody)', () => {
  let installation: TestInstallation;
  let service: CcmUnderTest;
  let scratch: Scratch;
  let env: Record<string, string>;
  let tenantId: string;

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' });
    service = await installation.start();
    scratch = await Scratch.create();
    env = { CCM_URL: service.url, CCM_API_KEY: service.adminKey };
    const created = await ccm(['tenant', 'create', '--name', 'cli-tenant'], env);
    assert.equal(created.code, 0, created.stderr);
    tenantId = created.stdout.trim();
  });

  after(async () => {
    await service?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  async function certificateCount(): Promise<number> {
    return (await service.api().get(`/v1/tenants/${tenantId}/certificates`).expect(200)).body.items.length;
  }

  test('--help prints usage naming every command and the exit codes to stdout and exits 0', async () => {
    const help = await ccm(['--help'], {});
    assert.equal(help.code, 0, help.stderr);
    assert.equal(help.stderr, '');
    for (const command of ['tenant create', 'tenant list', 'tenant roll-over', 'tenant activate-ca', 'tenant retire-ca', 'certificate issue', 'certificate show', 'certificate suspend', 'certificate reactivate', 'certificate revoke', 'platform-ca show', 'platform-ca csr', 'platform-ca import', 'serve', 'migrate']) {
      assert.ok(help.stdout.includes(`  ${command} `), `--help names ${command}`);
    }
    for (const code of ['0', '1', '2', '3', '4']) assert.match(help.stdout, new RegExp(`^  ${code}  `, 'm'));

    const issueHelp = await ccm(['certificate', 'issue', '--help'], {});
    assert.equal(issueHelp.code, 0);
    assert.match(issueHelp.stdout, /--out DIR/);
    assert.match(issueHelp.stdout, /mode 0600/);
    const groupHelp = await ccm(['platform-ca', '--help'], {});
    assert.equal(groupHelp.code, 0);
    assert.match(groupHelp.stdout, /import/);

    const bare = await ccm([], {});
    assert.equal(bare.code, 2);
    assert.equal(bare.stdout, '');
    assert.match(bare.stderr, /Usage: ccm <command>/);
  });

  test('tenant create prints the new id; tenant list shows it, as text and as JSON', async () => {
    const created = await ccm(['tenant', 'create', '--name', 'listed', '--max-ttl', '86400', '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    const tenant = JSON.parse(created.stdout);
    assert.equal(tenant.name, 'listed');
    assert.equal(tenant.maxTtlSeconds, 86400);
    assert.equal(tenant.rootAuthority.status, 'active');

    const text = await ccm(['tenant', 'list'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(text.stdout.split('\n').some((line) => line.startsWith(`${tenantId}\tcli-tenant\t`)));
    assert.ok(text.stdout.split('\n').some((line) => line.startsWith(`${tenant.id}\tlisted\t`)));
    const listed = JSON.parse((await ccm(['tenant', 'list', '--json'], env)).stdout) as Array<{ id: string }>;
    assert.deepEqual(listed.map((t) => t.id).sort(), [tenantId, tenant.id].sort());
  });

  test('certificate issue with a generated key writes a chain openssl verifies and a matching key of mode 0600, never printed', async () => {
    const out = scratch.path('generated');
    const issued = await ccm(['certificate', 'issue', '--tenant', tenantId, '--common-name', 'sensor-1', '--ttl', '3600', '--out', out], env);
    assert.equal(issued.code, 0, issued.stderr);
    assertNoKeyMaterial(issued);
    const certificateId = issued.stdout.trim();
    assert.match(certificateId, /^[0-9a-f-]{36}$/);

    assert.deepEqual((await readdir(out)).sort(), ['certificate.pem', 'chain.pem', 'key.pem']);
    assert.equal((await stat(join(out, 'key.pem'))).mode & 0o777, 0o600);
    const verified = await verifyIssued(scratch, out);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.equal(await publicKeyOfPrivateKey(join(out, 'key.pem')), await publicKeyOfCertificate(join(out, 'certificate.pem')));
    const subject = await openssl(['x509', '-in', join(out, 'certificate.pem'), '-noout', '-subject']);
    assert.match(subject.stdout, /CN ?= ?sensor-1/);

    const recorded = (await service.api().get(`/v1/tenants/${tenantId}/certificates/${certificateId}`).expect(200)).body;
    assert.equal(recorded.commonName, 'sensor-1');
    assert.equal(recorded.keySource, 'server');
  });

  test('issue refuses to overwrite existing files before issuing anything; --force replaces them with a new 0600 key', async () => {
    const out = scratch.path('overwrite');
    assert.equal((await ccm(['certificate', 'issue', '--tenant', tenantId, '--out', out, '--key-algorithm', 'ed25519'], env)).code, 0);
    const firstKey = await readFile(join(out, 'key.pem'), 'utf8');
    await chmod(join(out, 'key.pem'), 0o644);
    const before = await certificateCount();

    const refused = await ccm(['certificate', 'issue', '--tenant', tenantId, '--out', out], env);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /refusing to overwrite .*key\.pem.*--force/);
    assert.equal(await certificateCount(), before, 'nothing was issued');
    assert.equal(await readFile(join(out, 'key.pem'), 'utf8'), firstKey);

    const forced = await ccm(['certificate', 'issue', '--tenant', tenantId, '--out', out, '--force', '--json'], env);
    assert.equal(forced.code, 0, forced.stderr);
    assertNoKeyMaterial(forced);
    const answer = JSON.parse(forced.stdout);
    assert.equal(answer.privateKeyPem, undefined);
    assert.equal(answer.files.key, join(out, 'key.pem'));
    assert.equal(await certificateCount(), before + 1);
    assert.notEqual(await readFile(join(out, 'key.pem'), 'utf8'), firstKey);
    assert.equal((await stat(join(out, 'key.pem'))).mode & 0o777, 0o600);
    assert.equal(await publicKeyOfPrivateKey(join(out, 'key.pem')), await publicKeyOfCertificate(join(out, 'certificate.pem')));
  });

  test('issue from an openssl CSR writes the certificate and chain only, certifying the CSR key', async () => {
    const deviceKey = scratch.path('device.key');
    const csr = scratch.path('device.csr');
    const made = await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', deviceKey, '-subj', '/CN=sensor-csr', '-out', csr]);
    assert.equal(made.code, 0, made.stderr);
    const out = scratch.path('from-csr');

    const issued = await ccm(['certificate', 'issue', '--tenant', tenantId, '--csr', csr, '--out', out, '--json'], env);
    assert.equal(issued.code, 0, issued.stderr);
    const answer = JSON.parse(issued.stdout);
    assert.equal(answer.keySource, 'csr');
    assert.equal(answer.commonName, 'sensor-csr');
    assert.equal(answer.files.key, null);
    assert.deepEqual((await readdir(out)).sort(), ['certificate.pem', 'chain.pem']);
    const verified = await verifyIssued(scratch, out);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.equal(await publicKeyOfCertificate(join(out, 'certificate.pem')), await publicKeyOfPrivateKey(deviceKey));
  });

  test('suspend, reactivate (resume) and revoke change the state the API reports', async () => {
    const issued = await ccm(['certificate', 'issue', '--tenant', tenantId, '--out', scratch.path('life-cycle')], env);
    const certificateId = issued.stdout.trim();
    const target = ['--tenant', tenantId, '--certificate', certificateId];
    const stateOf = async (): Promise<{ state: string; revocationReason: string | null }> => (await service.api().get(`/v1/tenants/${tenantId}/certificates/${certificateId}`).expect(200)).body;

    const suspended = await ccm(['certificate', 'suspend', ...target], env);
    assert.equal(suspended.code, 0, suspended.stderr);
    assert.equal(suspended.stdout, `${certificateId}\tsuspended\n`);
    assert.equal((await stateOf()).state, 'suspended');

    const resumed = await ccm(['certificate', 'resume', ...target], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((await stateOf()).state, 'inactive');

    const revoked = await ccm(['certificate', 'revoke', ...target, '--reason', 'keyCompromise'], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, `${certificateId}\trevoked\tkeyCompromise\n`);
    const final = await stateOf();
    assert.equal(final.state, 'revoked');
    assert.equal(final.revocationReason, 'keyCompromise');

    const shown = await ccm(['certificate', 'show', ...target, '--json'], env);
    assert.equal(JSON.parse(shown.stdout).state, 'revoked');
    const again = await ccm(['certificate', 'revoke', ...target], env);
    assert.equal(again.code, 3);
    assert.match(again.stderr, new RegExp(`${PROBLEM}illegal-transition`));
  });

  test('tenant roll-over gives the tenant a new root; certificates chain to it; retire-ca revokes the old one and what it issued', async () => {
    const created = await ccm(['tenant', 'create', '--name', 'rolled'], env);
    const rolledTenant = created.stdout.trim();
    const before = await ccm(['certificate', 'issue', '--tenant', rolledTenant, '--out', scratch.path('before-rollover')], env);
    assert.equal(before.code, 0, before.stderr);
    const oldRoot = (await service.api().get(`/v1/tenants/${rolledTenant}`).expect(200)).body.rootAuthority.id as string;

    const rolled = await ccm(['tenant', 'roll-over', '--tenant', rolledTenant, '--validity-days', '400', '--json'], env);
    assert.equal(rolled.code, 0, rolled.stderr);
    const answer = JSON.parse(rolled.stdout) as { rootAuthority: { id: string; status: string; notAfter: string }; previousAuthority: { id: string; status: string } };
    assert.deepEqual([answer.previousAuthority.id, answer.previousAuthority.status, answer.rootAuthority.status], [oldRoot, 'retiring', 'active']);
    assert.ok(Math.abs(Date.parse(answer.rootAuthority.notAfter) - (Date.now() + 400 * 86_400_000)) < 3_600_000);
    const after = await ccm(['certificate', 'issue', '--tenant', rolledTenant, '--out', scratch.path('after-rollover'), '--json'], env);
    assert.equal(JSON.parse(after.stdout).authorityId, answer.rootAuthority.id);
    const verified = await verifyIssued(scratch, scratch.path('after-rollover'));
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);

    const staged = await ccm(['tenant', 'roll-over', '--tenant', rolledTenant, '--staged', '--json'], env);
    assert.equal(staged.code, 0, staged.stderr);
    const published = JSON.parse(staged.stdout).rootAuthority as { id: string; status: string };
    assert.equal(published.status, 'published');
    const activated = await ccm(['tenant', 'activate-ca', '--tenant', rolledTenant, '--authority', published.id], env);
    assert.equal(activated.code, 0, activated.stderr);
    assert.equal(activated.stdout, `${published.id}\n`);
    assert.equal((await ccm(['tenant', 'activate-ca', '--tenant', rolledTenant, '--authority', published.id], env)).code, 3, 'active already');
    const plain = await ccm(['tenant', 'roll-over', '--tenant', rolledTenant], env);
    assert.match(plain.stdout, /^[0-9a-f-]{36}\n$/);
    assert.equal((await ccm(['tenant', 'roll-over', '--tenant', rolledTenant, '--validity-days', 'long'], env)).code, 2);
    const active = await ccm(['tenant', 'retire-ca', '--tenant', rolledTenant, '--authority', plain.stdout.trim()], env);
    assert.equal(active.code, 3, 'the active root is not retired');
    assert.match(active.stderr, new RegExp(`${PROBLEM}illegal-transition`));
    const retired = await ccm(['tenant', 'retire-ca', '--tenant', rolledTenant, '--authority', oldRoot, '--reason', 'cACompromise'], env);
    assert.equal(retired.code, 0, retired.stderr);
    assert.equal(retired.stdout, '1\n', 'the one certificate it issued was revoked');
    const beforeId = before.stdout.trim();
    const revoked = (await service.api().get(`/v1/tenants/${rolledTenant}/certificates/${beforeId}`).expect(200)).body;
    assert.deepEqual([revoked.state, revoked.revocationReason], ['revoked', 'cACompromise']);
  });

  test('usage errors exit 2 before anything is sent: unknown command or option, missing --tenant, bad --reason, unreadable --csr, a key as an argument', async () => {
    const before = await certificateCount();
    const cases: Array<{ args: string[]; stderr: RegExp }> = [
      { args: ['frobnicate'], stderr: /unknown command "frobnicate"/ },
      { args: ['certificate', 'renew'], stderr: /unknown command "certificate renew"/ },
      { args: ['certificate', 'issue', '--tenant', tenantId, '--out', scratch.path('x'), '--colour'], stderr: /unknown option --colour/ },
      { args: ['certificate', 'issue', '--out', scratch.path('x')], stderr: /--tenant is required/ },
      { args: ['certificate', 'issue', '--tenant', tenantId, '--out', scratch.path('x'), 'stray'], stderr: /Unexpected argument 'stray'/ },
      { args: ['certificate', 'issue', '--tenant', tenantId, '--out', scratch.path('x'), '--csr', scratch.path('missing.csr')], stderr: /cannot read --csr .*missing\.csr: ENOENT/ },
      { args: ['certificate', 'issue', '--tenant', tenantId, '--out', scratch.path('x'), '--csr', 'a.csr', '--key-algorithm', 'ed25519'], stderr: /exclude each other/ },
      { args: ['certificate', 'revoke', '--tenant', tenantId, '--certificate', tenantId, '--reason', 'certificateHold'], stderr: /--reason must be one of/ },
      { args: ['tenant', 'create'], stderr: /--name is required/ },
      { args: ['tenant', 'list', '--api-key', 'not-a-real-key-1234'], stderr: /--api-key is refused.*CCM_API_KEY/ },
      { args: ['tenant', 'list', '--api-key=not-a-real-key-1234'], stderr: /--api-key is refused/ },
      { args: ['tenant', 'list', '--api-key-file', scratch.path('no-such-key')], stderr: /cannot read --api-key-file/ },
    ];
    for (const { args, stderr } of cases) {
      const result = await ccm(args, env);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, stderr, args.join(' '));
      assert.equal(result.stdout, '', args.join(' '));
      assert.doesNotMatch(result.stderr, /not-a-real-key-1234/, 'a refused key is not echoed');
    }
    const noKey = await ccm(['tenant', 'list'], { CCM_URL: service.url });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /no API key/);
    assert.equal(await certificateCount(), before);
  });

  test('the API key can come from a file instead of the environment', async () => {
    const keyFile = await scratch.write('admin.key', `${service.adminKey}\n`);
    const listed = await ccm(['tenant', 'list', '--api-key-file', keyFile, '--url', service.url], {});
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(tenantId));
    await chmod(keyFile, 0o640);
    const open = await ccm(['tenant', 'list', '--api-key-file', keyFile, '--url', service.url], {});
    assert.equal(open.code, 2, 'a key file others can read is refused, before anything is sent');
    assert.match(open.stderr, /must be readable by its owner only \(chmod 600\), it is 640/);
    assert.ok(!open.stderr.includes(service.adminKey));
  });

  test('refusals by ccm exit 3 with the problem type on stderr: unknown tenant (404), wrong API key (401), a tenant key on an admin route (403)', async () => {
    const unknown = await ccm(['certificate', 'issue', '--tenant', '0190aaaa-0000-7000-8000-000000000000', '--out', scratch.path('unknown-tenant')], env);
    assert.equal(unknown.code, 3, unknown.stderr);
    assert.equal(unknown.stdout, '');
    assert.match(unknown.stderr, /refused: 404 Not found/);
    assert.match(unknown.stderr, new RegExp(`type: ${PROBLEM}not-found`));
    assert.deepEqual(await readdir(scratch.path('unknown-tenant')), [], 'no file is written when nothing was issued');

    const wrongKey = await ccm(['tenant', 'list'], { ...env, CCM_API_KEY: 'ccm_wrong_key_wrong_key_wrong_key_0000' });
    assert.equal(wrongKey.code, 3, wrongKey.stderr);
    assert.match(wrongKey.stderr, /401/);
    assert.match(wrongKey.stderr, new RegExp(`${PROBLEM}unauthorized`));
    assert.doesNotMatch(wrongKey.stderr, /ccm_wrong_key/);

    const tenantKey = await service.createApiKey('tenant', tenantId);
    const forbidden = await ccm(['tenant', 'create', '--name', 'not-allowed'], { ...env, CCM_API_KEY: tenantKey });
    assert.equal(forbidden.code, 3, forbidden.stderr);
    assert.match(forbidden.stderr, new RegExp(`${PROBLEM}forbidden`));
  });

  test('ccm unreachable exits 4: nothing listens at the URL', async () => {
    const port = await freePort();
    const result = await ccm(['tenant', 'list'], { ...env, CCM_URL: `http://127.0.0.1:${port}` });
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /cannot reach ccm at http:\/\/127\.0\.0\.1:\d+.*ECONNREFUSED/);
    assert.equal(result.stdout, '');
  });
});

describe('operator CLI: platform CA signed by an offline root (external mode)', () => {
  let installation: TestInstallation;
  let service: CcmUnderTest;
  let scratch: Scratch;
  let env: Record<string, string>;

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' }, { CCM_PLATFORM_CA_MODE: 'external', CCM_PLATFORM_CA_SUBJECT: 'CN=Acme IoT platform CA,O=Acme' });
    service = await installation.start();
    scratch = await Scratch.create();
    env = { CCM_URL: service.url, CCM_API_KEY: service.adminKey };
  });

  after(async () => {
    await service?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  test('before the import creating a tenant exits 4 (503); csr, then import of the root-signed certificate, makes chains that end at the offline root', async () => {
    const early = await ccm(['tenant', 'create', '--name', 'too-early'], env);
    assert.equal(early.code, 4, early.stderr);
    assert.match(early.stderr, new RegExp(`503.*\\n.*\\n?.*${PROBLEM}platform-ca-not-ready`));
    assert.match((await ccm(['platform-ca', 'show'], env)).stdout, /^status: pending$/m);

    const csr = await ccm(['platform-ca', 'csr'], env);
    assert.equal(csr.code, 0, csr.stderr);
    assert.match(csr.stdout, /^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+-----END CERTIFICATE REQUEST-----\n$/);
    const csrPath = await scratch.write('platform.csr', csr.stdout);
    const checked = await openssl(['req', '-in', csrPath, '-verify', '-noout', '-subject']);
    assert.equal(checked.code, 0, checked.stderr);
    assert.match(checked.stdout + checked.stderr, /CN ?= ?Acme IoT platform CA/);

    const rootKey = await scratch.write('offline-root.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const rootPath = await scratch.write('offline-root.pem', (await openssl(['req', '-x509', '-new', '-key', rootKey, '-subj', '/O=Acme/CN=Acme offline root', '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])).stdout);
    const extensions = await scratch.write('platform.ext', 'basicConstraints=critical,CA:TRUE,pathlen:2\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    const signed = await openssl(['x509', '-req', '-in', csrPath, '-CA', rootPath, '-CAkey', rootKey, '-set_serial', '0x5eed', '-days', '1825', '-extfile', extensions]);
    assert.equal(signed.code, 0, signed.stderr);
    const platformPath = await scratch.write('platform.pem', signed.stdout);

    const garbagePath = await scratch.write('garbage.pem', 'not a certificate');
    const garbage = await ccm(['platform-ca', 'import', '--certificate', garbagePath], env);
    assert.equal(garbage.code, 3, garbage.stderr);
    assert.match(garbage.stderr, new RegExp(`${PROBLEM}malformed-pem`));

    const imported = await ccm(['platform-ca', 'import', '--certificate', platformPath, '--chain', rootPath], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /^status: active$/m);
    assert.match(imported.stdout, /^subject: CN=Acme IoT platform CA,O=Acme$/m);

    const tenant = await ccm(['tenant', 'create', '--name', 'offline-rooted'], env);
    assert.equal(tenant.code, 0, tenant.stderr);
    const out = scratch.path('device');
    const issued = await ccm(['certificate', 'issue', '--tenant', tenant.stdout.trim(), '--out', out], env);
    assert.equal(issued.code, 0, issued.stderr);
    const chain = pemBlocks(await readFile(join(out, 'chain.pem'), 'utf8'));
    assert.equal(chain.length, 3, 'tenant root, platform CA, offline root');
    const untrusted = await scratch.write('untrusted.pem', chain.slice(0, 2).join(''));
    const verified = await openssl(['verify', '-CAfile', rootPath, '-untrusted', untrusted, '-purpose', 'sslclient', join(out, 'certificate.pem')]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });
});

describe('ccm migrate and ccm serve', () => {
  let database: TestDatabase;
  let scratch: Scratch;

  before(async () => {
    database = await createPostgresDatabase();
    scratch = await Scratch.create();
  });

  after(async () => {
    await database?.drop();
    await scratch?.cleanup();
  });

  test('migrate creates the schema on a fresh PostgreSQL database, is idempotent, and the service then starts on it', async () => {
    const migrationRows = async (): Promise<number> => Number((await database.query<{ n: string }>('SELECT count(*) AS n FROM migrations'))[0]!.n);
    const first = await ccm(['migrate'], database.env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^PostgreSQL 127\.0\.0\.1:5432\/ccm_test_\w+: applied \d+ migrations\n/);
    assert.match(first.stdout, /InitialSchema1764000000000/);
    const tables = (await database.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'")).map((t) => t.name);
    for (const table of ['tenants', 'authorities', 'certificates', 'outbox', 'api_credentials']) assert.ok(tables.includes(table), `table ${table}`);
    const applied = await migrationRows();
    assert.ok(applied >= 5);
    assert.equal((first.stdout.match(/^ {2}\S+$/gm) ?? []).length, applied);

    const second = await ccm(['migrate', '--json'], database.env);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(JSON.parse(second.stdout).applied, []);
    assert.equal(await migrationRows(), applied);

    // `ccm serve` is the service: it starts on the migrated database, and the CLI talks to it.
    const adminKey = `cli-admin-${'k'.repeat(32)}`;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const serveEnv = { ...database.env, CCM_HOST: '127.0.0.1', CCM_PORT: String(port), CCM_PUBLIC_URL: url, CCM_LOG_LEVEL: 'error', CCM_ADMIN_API_KEY: adminKey, CCM_LOCAL_KEY_DIR: scratch.path('keys') };
    const served = await ServerProcess.start('ccm serve', process.execPath, [CLI, 'serve'], serveEnv, url, '/v1/platform-ca');
    try {
      const created = await ccm(['tenant', 'create', '--name', 'after-migrate'], { CCM_URL: url, CCM_API_KEY: adminKey });
      assert.equal(created.code, 0, created.stderr);
      assert.equal((await database.query<{ name: string }>('SELECT name FROM tenants'))[0]!.name, 'after-migrate');
    } finally {
      await served.stop();
    }
    assert.equal(await migrationRows(), applied, 'the service found nothing left to migrate');
  });

  test('migrate exits 4 when the database is unreachable and 2 on a bad setting', async () => {
    const port = await freePort();
    const unreachable = await ccm(['migrate'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nothing` });
    assert.equal(unreachable.code, 4, unreachable.stderr);
    assert.match(unreachable.stderr, new RegExp(`cannot open the database PostgreSQL 127\\.0\\.0\\.1:${port}/nothing`));

    const bad = await ccm(['migrate'], { DATABASE_URL: 'mysql://db/ccm' });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /DATABASE_URL/);
  });

  test('a bad setting stops ccm serve with exit code 2, as it stops the service entry point', async () => {
    const result = await ccm(['serve'], { CCM_PORT: 'abc' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /CCM_PORT must be an integer/);
    const stray = await ccm(['serve', '--port', '8080'], {});
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /unknown option --port/);
  });
});

test('migrate on an SQLite file creates it and reports the migrations', async () => {
  const scratch = await Scratch.create();
  try {
    const path = scratch.path('data/ccm.sqlite');
    const result = await ccm(['migrate', '--json'], { CCM_SQLITE_PATH: path });
    assert.equal(result.code, 0, result.stderr);
    const outcome = JSON.parse(result.stdout);
    assert.equal(outcome.database, `SQLite ${path}`);
    assert.ok(outcome.applied.length >= 5);
    assert.ok((await stat(path)).size > 0);
  } finally {
    await scratch.cleanup();
  }
});
