/**
 * The Mosquitto agent's configuration: its CCM_MOSQUITTO_* variables parsed
 * together with the core's CCM_AGENT_* ones, defaults, every problem named by
 * its variable, exit code 2 from the bin, and the README held to
 * MOSQUITTO_AGENT_VARIABLES row for row.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { AgentConfigurationError, COMMON_AGENT_VARIABLES, parseAgentConfiguration } from '@ccm/broker-agent';
import { readmeVariableRows } from '@ccm/broker-agent/testing';
import { MOSQUITTO_AGENT_VARIABLES, parseMosquittoSettings, type MosquittoSettings } from '../src/configuration.js';

const TENANT = randomUUID();
const SUBSCRIBER = randomUUID();
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const README = new URL('../../README.md', import.meta.url);

const MINIMAL: Record<string, string> = {
  CCM_AGENT_CCM_URL: 'http://ccm:8080/',
  CCM_AGENT_TENANT_IDS: TENANT,
  CCM_AGENT_REDIS_URL: 'redis://redis:6379',
  CCM_AGENT_SUBSCRIBER_ID: SUBSCRIBER,
  CCM_MOSQUITTO_CRL_FILE: '/etc/mosquitto/ccm/crl.pem',
  CCM_MOSQUITTO_PID_FILE: '/run/mosquitto/mosquitto.pid',
  CCM_MOSQUITTO_USERNAME: 'ccm-agent',
  CCM_MOSQUITTO_PASSWORD: 'secret',
};

function settingsOf(env: Record<string, string>): MosquittoSettings {
  return parseAgentConfiguration(env, parseMosquittoSettings).settings;
}

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseAgentConfiguration(env, parseMosquittoSettings);
  } catch (error) {
    if (error instanceof AgentConfigurationError) return error.problems;
    throw error;
  }
  return [];
}

function without(env: Record<string, string>, ...names: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !names.includes(name)));
}

test('a minimal configuration parses, with the documented defaults', () => {
  const settings = settingsOf(MINIMAL);
  assert.equal(settings.crlFile, '/etc/mosquitto/ccm/crl.pem');
  assert.deepEqual(settings.mosquittoPid, { kind: 'file', path: '/run/mosquitto/mosquitto.pid' });
  assert.deepEqual(settings.mqtt, { url: 'mqtt://127.0.0.1:1883', username: 'ccm-agent', password: 'secret', controlTimeoutMs: 5000 });
  assert.equal(settings.crlRefreshMs, 3_600_000);
  assert.equal(settings.crlMinimumValidityMs, 600_000);
  assert.deepEqual(settings.rekickDelaysMs, [250, 1000]);
  for (const variable of MOSQUITTO_AGENT_VARIABLES.filter((v) => v.default !== null)) {
    assert.ok(['CCM_MOSQUITTO_MQTT_URL', 'CCM_MOSQUITTO_CRL_REFRESH_SECONDS', 'CCM_MOSQUITTO_CRL_MIN_VALIDITY_SECONDS', 'CCM_MOSQUITTO_REKICK_DELAYS_MS', 'CCM_MOSQUITTO_CONTROL_TIMEOUT_MS'].includes(variable.name), `${variable.name} has a default the test checks`);
  }
});

test('a fixed pid instead of a pid file', () => {
  assert.deepEqual(settingsOf({ ...without(MINIMAL, 'CCM_MOSQUITTO_PID_FILE'), CCM_MOSQUITTO_PID: '1234' }).mosquittoPid, { kind: 'pid', pid: 1234 });
});

test('an empty environment names every required variable at once, the core\'s and Mosquitto\'s', () => {
  const problems = problemsOf({});
  for (const name of ['CCM_AGENT_CCM_URL', 'CCM_AGENT_TENANT_IDS', 'CCM_AGENT_CURSOR_FILE', 'CCM_MOSQUITTO_CRL_FILE', 'CCM_MOSQUITTO_PID_FILE', 'CCM_MOSQUITTO_USERNAME', 'CCM_MOSQUITTO_PASSWORD']) {
    assert.ok(problems.some((p) => p.includes(name)), `${name} named in ${problems.join(' / ')}`);
  }
});

test('malformed values are refused with the variable\'s name', () => {
  const problems = problemsOf({
    ...without(MINIMAL, 'CCM_MOSQUITTO_PID_FILE'),
    CCM_MOSQUITTO_PID: '1',
    CCM_MOSQUITTO_MQTT_URL: 'http://127.0.0.1:1883',
    CCM_MOSQUITTO_REKICK_DELAYS_MS: '250,soon',
    CCM_MOSQUITTO_CRL_REFRESH_SECONDS: '5',
    CCM_MOSQUITTO_CRL_MIN_VALIDITY_SECONDS: 'ten minutes',
    CCM_MOSQUITTO_CONTROL_TIMEOUT_MS: '10',
  });
  for (const name of ['CCM_MOSQUITTO_PID', 'CCM_MOSQUITTO_MQTT_URL', 'CCM_MOSQUITTO_REKICK_DELAYS_MS', 'CCM_MOSQUITTO_CRL_REFRESH_SECONDS', 'CCM_MOSQUITTO_CRL_MIN_VALIDITY_SECONDS', 'CCM_MOSQUITTO_CONTROL_TIMEOUT_MS']) {
    assert.ok(problems.some((p) => p.includes(name)), `${name} named in ${problems.join(' / ')}`);
  }
  assert.ok(problemsOf({ ...MINIMAL, CCM_MOSQUITTO_PID: '1234' }).some((p) => p.includes('only one of CCM_MOSQUITTO_PID_FILE and CCM_MOSQUITTO_PID')));
});

test('the password can come from a file; an unreadable or empty one is named; not both', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'ccm-mosquitto-config-'));
  try {
    const file = join(directory, 'password');
    await writeFile(file, 'from-a-file\n');
    const env = without(MINIMAL, 'CCM_MOSQUITTO_PASSWORD');
    assert.equal(settingsOf({ ...env, CCM_MOSQUITTO_PASSWORD_FILE: file }).mqtt.password, 'from-a-file');
    assert.match(problemsOf({ ...env, CCM_MOSQUITTO_PASSWORD_FILE: join(directory, 'missing') }).join(), /CCM_MOSQUITTO_PASSWORD_FILE .* cannot be read/);
    await writeFile(join(directory, 'empty'), '\n');
    assert.match(problemsOf({ ...env, CCM_MOSQUITTO_PASSWORD_FILE: join(directory, 'empty') }).join(), /CCM_MOSQUITTO_PASSWORD_FILE .* is empty/);
    assert.match(problemsOf({ ...env, CCM_MOSQUITTO_PASSWORD_FILE: file, CCM_MOSQUITTO_PASSWORD: 'x' }).join(), /only one of CCM_MOSQUITTO_PASSWORD and CCM_MOSQUITTO_PASSWORD_FILE/);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

test('CCM_MOSQUITTO_REKICK_DELAYS_MS=none turns re-kicks off; delays are sorted', () => {
  assert.deepEqual(settingsOf({ ...MINIMAL, CCM_MOSQUITTO_REKICK_DELAYS_MS: 'none' }).rekickDelaysMs, []);
  assert.deepEqual(settingsOf({ ...MINIMAL, CCM_MOSQUITTO_REKICK_DELAYS_MS: '1000, 100' }).rekickDelaysMs, [100, 1000]);
});

test('the bin exits with code 2 and names every bad variable, the core\'s and its own', () => {
  const result = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env['PATH'] ?? '', ...without(MINIMAL, 'CCM_MOSQUITTO_USERNAME'), CCM_AGENT_CCM_URL: '' }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr, /^ccm-mosquitto-agent: /);
  assert.match(result.stderr, /CCM_AGENT_CCM_URL is required/);
  assert.match(result.stderr, /CCM_MOSQUITTO_USERNAME is required/);
});

test('the bin refuses an unknown argument with code 2, and --help lists every variable', () => {
  const unknown = spawnSync(process.execPath, [MAIN, '--twice'], { env: { PATH: process.env['PATH'] ?? '' }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown argument --twice .*--once/);
  const help = spawnSync(process.execPath, [MAIN, '--help'], { env: { PATH: process.env['PATH'] ?? '' }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(help.status, 0, help.stderr);
  for (const variable of [...COMMON_AGENT_VARIABLES, ...MOSQUITTO_AGENT_VARIABLES]) assert.ok(help.stdout.includes(variable.name), variable.name);
});

test('the README\'s table is MOSQUITTO_AGENT_VARIABLES, row for row, and it names no variable the agent does not read', async () => {
  const readme = await readFile(README, 'utf8');
  const rows = readmeVariableRows(readme, 'mosquitto-variables');
  assert.deepEqual(rows, MOSQUITTO_AGENT_VARIABLES.map((variable) => ({ ...variable })));
  const known = new Set([...COMMON_AGENT_VARIABLES, ...MOSQUITTO_AGENT_VARIABLES].map((variable) => variable.name));
  const named = new Set(readme.match(/\bCCM_(?:AGENT|MOSQUITTO)_[A-Z_]+/g) ?? []);
  for (const name of named) assert.ok(known.has(name), `the README names ${name}, which the agent does not read`);
});
