/** Configuration parsing: defaults, backend-dependent required settings, and errors that name the variable. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONFIGURATION_REFERENCE, ConfigurationError, parseConfiguration } from '../../src/config/configuration.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfiguration(env);
  } catch (error) {
    assert.ok(error instanceof ConfigurationError);
    return [...error.problems];
  }
  assert.fail('expected a ConfigurationError');
}

test('an empty environment gives the embedded defaults: SQLite and local custody', () => {
  const config = parseConfiguration({});
  assert.deepEqual(config.database, { kind: 'sqlite', path: './data/ccm.sqlite' });
  assert.equal(config.custody.kind, 'local');
  assert.equal(config.http.port, 8080);
  assert.equal(config.http.publicUrl, 'http://127.0.0.1:8080');
  assert.deepEqual(config.platformCa.subject, [{ attribute: 'CN', value: 'ccm platform CA' }]);
  assert.equal(config.platformCa.keyAlgorithm, 'ecdsa-p256');
  assert.ok(Object.isFrozen(config));
});

test('DATABASE_URL selects PostgreSQL', () => {
  assert.deepEqual(parseConfiguration({ DATABASE_URL: 'postgres://ccm@db:5432/ccm' }).database, { kind: 'postgres', url: 'postgres://ccm@db:5432/ccm' });
  assert.match(problemsOf({ DATABASE_URL: 'mysql://x' })[0]!, /^DATABASE_URL must be a postgres: or postgresql: URL/);
});

test('vault custody requires its address and the credentials of its auth method', () => {
  const problems = problemsOf({ CCM_CUSTODY: 'vault' });
  assert.ok(problems.some((p) => p.startsWith('CCM_VAULT_ADDR is required when CCM_CUSTODY=vault')));
  assert.ok(problems.some((p) => p.startsWith('CCM_VAULT_TOKEN is required when CCM_VAULT_AUTH=token')));
  const approle = problemsOf({ CCM_CUSTODY: 'vault', CCM_VAULT_ADDR: 'http://127.0.0.1:8200', CCM_VAULT_AUTH: 'approle', CCM_VAULT_ROLE_ID: 'r' });
  assert.deepEqual(approle, ['CCM_VAULT_SECRET_ID is required when CCM_VAULT_AUTH=approle']);
  const ok = parseConfiguration({ CCM_CUSTODY: 'vault', CCM_VAULT_ADDR: 'https://vault:8200/', CCM_VAULT_TOKEN: 't' });
  assert.equal(ok.custody.kind === 'vault' && ok.custody.address, 'https://vault:8200');
});

test('vault sign batching defaults to 64 signatures per request and no wait; a bad size or wait stops start-up naming the variable', () => {
  const vault = { CCM_CUSTODY: 'vault', CCM_VAULT_ADDR: 'https://vault:8200', CCM_VAULT_TOKEN: 't' };
  const defaults = parseConfiguration(vault).custody;
  assert.deepEqual(defaults.kind === 'vault' && [defaults.signBatchSize, defaults.signBatchWaitMs], [64, 0]);
  const set = parseConfiguration({ ...vault, CCM_VAULT_SIGN_BATCH_SIZE: '1', CCM_VAULT_SIGN_BATCH_WAIT_MS: '5' }).custody;
  assert.deepEqual(set.kind === 'vault' && [set.signBatchSize, set.signBatchWaitMs], [1, 5]);
  const problems = problemsOf({ ...vault, CCM_VAULT_SIGN_BATCH_SIZE: '0', CCM_VAULT_SIGN_BATCH_WAIT_MS: 'soon' });
  assert.ok(problems.some((p) => p.startsWith('CCM_VAULT_SIGN_BATCH_SIZE must be an integer from 1 to 1000')), JSON.stringify(problems));
  assert.ok(problems.some((p) => p.startsWith('CCM_VAULT_SIGN_BATCH_WAIT_MS must be an integer from 0 to 1000')), JSON.stringify(problems));
});

test('device keys of tenants\' own CAs are judged by default (2048-bit RSA, 256-bit curves); the minimums can be lowered or the policy turned off, and a bad value stops start-up naming the variable', () => {
  assert.deepEqual(parseConfiguration({}).externalDeviceKeys, { enforce: true, minimumRsaBits: 2048, minimumCurveBits: 256 });
  const lowered = parseConfiguration({ CCM_EXTERNAL_DEVICE_MIN_RSA_BITS: '1024', CCM_EXTERNAL_DEVICE_MIN_EC_BITS: '224' }).externalDeviceKeys;
  assert.deepEqual(lowered, { enforce: true, minimumRsaBits: 1024, minimumCurveBits: 224 });
  assert.equal(parseConfiguration({ CCM_EXTERNAL_DEVICE_KEY_POLICY: 'off' }).externalDeviceKeys.enforce, false);
  const problems = problemsOf({ CCM_EXTERNAL_DEVICE_KEY_POLICY: 'lenient', CCM_EXTERNAL_DEVICE_MIN_RSA_BITS: '512', CCM_EXTERNAL_DEVICE_MIN_EC_BITS: 'P-256' });
  assert.deepEqual(problems, [
    'CCM_EXTERNAL_DEVICE_KEY_POLICY must be one of enforce, off, got "lenient"',
    'CCM_EXTERNAL_DEVICE_MIN_RSA_BITS must be an integer from 1024 to 16384, got "512"',
    'CCM_EXTERNAL_DEVICE_MIN_EC_BITS must be an integer from 160 to 571, got "P-256"',
  ]);
  assert.deepEqual(problemsOf({ CCM_EXTERNAL_DEVICE_MIN_EC_BITS: '1000' }), ['CCM_EXTERNAL_DEVICE_MIN_EC_BITS must be an integer from 160 to 571, got "1000"']);
});

test('client certificates name their record in a URI SAN unless CCM_CLIENT_CERTIFICATE_ID_URI is off; another value stops start-up naming the variable', () => {
  assert.equal(parseConfiguration({}).clientCertificates.idUri, true);
  assert.equal(parseConfiguration({ CCM_CLIENT_CERTIFICATE_ID_URI: 'on' }).clientCertificates.idUri, true);
  assert.equal(parseConfiguration({ CCM_CLIENT_CERTIFICATE_ID_URI: ' off ' }).clientCertificates.idUri, false);
  assert.deepEqual(problemsOf({ CCM_CLIENT_CERTIFICATE_ID_URI: 'false' }), ['CCM_CLIENT_CERTIFICATE_ID_URI must be one of on, off, got "false"']);
  assert.deepEqual(problemsOf({ CCM_CLIENT_CERTIFICATE_ID_URI: 'OFF' }), ['CCM_CLIENT_CERTIFICATE_ID_URI must be one of on, off, got "OFF"']);
});

test('every bad value is reported at once, each naming its variable', () => {
  const problems = problemsOf({
    CCM_PORT: 'eighty',
    CCM_CUSTODY: 'hsm',
    CCM_PLATFORM_CA_KEY_ALGORITHM: 'rsa-1024',
    CCM_PLATFORM_CA_SUBJECT: 'O=no common name',
    CCM_CLIENT_CERT_DEFAULT_TTL_SECONDS: '9000000',
    CCM_CLIENT_CERT_MAX_TTL_SECONDS: '3600',
    CCM_LOCAL_KEK: 'c2hvcnQ=',
  });
  for (const name of ['CCM_PORT', 'CCM_CUSTODY', 'CCM_PLATFORM_CA_KEY_ALGORITHM', 'CCM_PLATFORM_CA_SUBJECT', 'CCM_CLIENT_CERT_DEFAULT_TTL_SECONDS']) {
    assert.ok(problems.some((p) => p.startsWith(name)), `${name} named in ${JSON.stringify(problems)}`);
  }
});

test('the platform CA subject setting is read in RFC 4514 order (most specific first), with escaped commas', () => {
  const config = parseConfiguration({ CCM_PLATFORM_CA_SUBJECT: 'CN=Acme platform CA, O=Acme\\, Inc., C=DE' });
  assert.deepEqual(config.platformCa.subject, [
    { attribute: 'C', value: 'DE' },
    { attribute: 'O', value: 'Acme, Inc.' },
    { attribute: 'CN', value: 'Acme platform CA' },
  ]);
  assert.match(problemsOf({ CCM_PLATFORM_CA_SUBJECT: 'C=Germany,CN=x' })[0]!, /^CCM_PLATFORM_CA_SUBJECT/);
  assert.match(problemsOf({ CCM_PLATFORM_CA_SUBJECT: 'EMAIL=a@b,CN=x' })[0]!, /^CCM_PLATFORM_CA_SUBJECT/);
});

test('the configuration reference lists every variable the parser reads, once', async () => {
  const { readFile } = await import('node:fs/promises');
  const source = await readFile(new URL('../../../src/config/configuration.ts', import.meta.url), 'utf8');
  const read = new Set([...source.matchAll(/read\.\w+(?:<[^>]*>)?\('([A-Z_]+)'/g)].map((m) => m[1]!));
  const documented = CONFIGURATION_REFERENCE.map((v) => v.name);
  assert.equal(new Set(documented).size, documented.length, 'no duplicates');
  assert.deepEqual([...read].sort(), [...documented].sort());
});
