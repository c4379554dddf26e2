/**
 * The Mosquitto agent's configuration: defaults, every problem named by its
 * variable, exit code 2 from main.js, and the README's table held to
 * AGENT_CONFIGURATION_REFERENCE row for row.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { AGENT_CONFIGURATION_REFERENCE, AgentConfigurationError, parseAgentConfiguration } from '../../src/mosquitto-agent/configuration.js';
import { variableTableRows } from '../support/variable-table.js';

const TENANT = randomUUID();
const SUBSCRIBER = randomUUID();

const MINIMAL = {
  CCM_AGENT_CCM_URL: 'http://ccm:8080/',
  CCM_AGENT_TENANT_IDS: TENANT,
  CCM_AGENT_CRL_FILE: '/etc/mosquitto/ccm/crl.pem',
  CCM_AGENT_MOSQUITTO_PID_FILE: '/run/mosquitto/mosquitto.pid',
  CCM_AGENT_MQTT_USERNAME: 'ccm-agent',
  CCM_AGENT_MQTT_PASSWORD: 'secret',
  CCM_AGENT_REDIS_URL: 'redis://redis:6379',
  CCM_AGENT_SUBSCRIBER_ID: SUBSCRIBER,
};

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    parseAgentConfiguration(env);
  } catch (error) {
    if (error instanceof AgentConfigurationError) return error.problems;
    throw error;
  }
  return [];
}

test('a minimal Redis configuration parses, with the documented defaults', () => {
  const configuration = parseAgentConfiguration(MINIMAL);
  assert.equal(configuration.ccm.url, 'http://ccm:8080');
  assert.deepEqual(configuration.tenantIds, [TENANT]);
  assert.deepEqual(configuration.events, { kind: 'redis', redisUrl: 'redis://redis:6379', subscriberId: SUBSCRIBER });
  assert.deepEqual(configuration.mosquittoPid, { kind: 'file', path: '/run/mosquitto/mosquitto.pid' });
  assert.equal(configuration.mqtt.url, 'mqtt://127.0.0.1:1883');
  assert.equal(configuration.crlRefreshMs, 3_600_000);
  assert.equal(configuration.crlMinimumValidityMs, 600_000);
  assert.deepEqual(configuration.rekickDelaysMs, [250, 1000]);
  assert.equal(configuration.logLevel, 'info');
  assert.ok(Object.isFrozen(configuration) && Object.isFrozen(configuration.mqtt));
});

test('without Redis the HTTP feed is used, and needs a cursor file', () => {
  const { CCM_AGENT_REDIS_URL: _r, CCM_AGENT_SUBSCRIBER_ID: _s, ...withoutRedis } = MINIMAL;
  assert.deepEqual(problemsOf(withoutRedis), ['CCM_AGENT_CURSOR_FILE is required when CCM_AGENT_REDIS_URL is unset (the HTTP feed position is kept there)']);
  const configuration = parseAgentConfiguration({ ...withoutRedis, CCM_AGENT_CURSOR_FILE: '/var/lib/ccm-agent/cursor', CCM_AGENT_POLL_INTERVAL_MS: '250' });
  assert.deepEqual(configuration.events, { kind: 'http-feed', cursorFile: '/var/lib/ccm-agent/cursor', pollIntervalMs: 250 });
});

test('an empty environment names every required variable at once', () => {
  const problems = problemsOf({});
  for (const name of ['CCM_AGENT_CCM_URL', 'CCM_AGENT_TENANT_IDS', 'CCM_AGENT_CRL_FILE', 'CCM_AGENT_MOSQUITTO_PID_FILE', 'CCM_AGENT_MQTT_USERNAME', 'CCM_AGENT_MQTT_PASSWORD', 'CCM_AGENT_CURSOR_FILE']) {
    assert.ok(problems.some((p) => p.includes(name)), `${name} named in ${problems.join(' / ')}`);
  }
});

test('malformed values are refused with the variable\'s name', () => {
  const problems = problemsOf({
    ...MINIMAL,
    CCM_AGENT_CCM_URL: 'ftp://ccm',
    CCM_AGENT_TENANT_IDS: `${TENANT},not-a-uuid`,
    CCM_AGENT_SUBSCRIBER_ID: 'queue-1',
    CCM_AGENT_REKICK_DELAYS_MS: '250,soon',
    CCM_AGENT_CRL_REFRESH_SECONDS: '5',
    CCM_AGENT_LOG_LEVEL: 'chatty',
    CCM_AGENT_MOSQUITTO_PID: '1234',
  });
  for (const name of ['CCM_AGENT_CCM_URL', 'CCM_AGENT_TENANT_IDS', 'CCM_AGENT_SUBSCRIBER_ID', 'CCM_AGENT_REKICK_DELAYS_MS', 'CCM_AGENT_CRL_REFRESH_SECONDS', 'CCM_AGENT_LOG_LEVEL', 'CCM_AGENT_MOSQUITTO_PID']) {
    assert.ok(problems.some((p) => p.includes(name)), `${name} named in ${problems.join(' / ')}`);
  }
});

test('Redis without a subscriber id is refused', () => {
  const { CCM_AGENT_SUBSCRIBER_ID: _s, ...env } = MINIMAL;
  assert.match(problemsOf(env).join(), /CCM_AGENT_SUBSCRIBER_ID is required when CCM_AGENT_REDIS_URL is set/);
});

test('the password can come from a file; an unreadable one is named', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'ccm-agent-config-'));
  try {
    const file = join(directory, 'password');
    await writeFile(file, 'from-a-file\n');
    const { CCM_AGENT_MQTT_PASSWORD: _p, ...env } = MINIMAL;
    assert.equal(parseAgentConfiguration({ ...env, CCM_AGENT_MQTT_PASSWORD_FILE: file }).mqtt.password, 'from-a-file');
    assert.match(problemsOf({ ...env, CCM_AGENT_MQTT_PASSWORD_FILE: join(directory, 'missing') }).join(), /CCM_AGENT_MQTT_PASSWORD_FILE .* cannot be read/);
    assert.match(problemsOf({ ...env, CCM_AGENT_MQTT_PASSWORD_FILE: file, CCM_AGENT_MQTT_PASSWORD: 'x' }).join(), /only one of CCM_AGENT_MQTT_PASSWORD and CCM_AGENT_MQTT_PASSWORD_FILE/);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

test('an empty CCM_AGENT_REKICK_DELAYS_MS turns re-kicks off; delays are sorted', () => {
  assert.deepEqual(parseAgentConfiguration({ ...MINIMAL, CCM_AGENT_REKICK_DELAYS_MS: '' }).rekickDelaysMs, []);
  assert.deepEqual(parseAgentConfiguration({ ...MINIMAL, CCM_AGENT_REKICK_DELAYS_MS: '1000, 100' }).rekickDelaysMs, [100, 1000]);
});

test('main.js exits with code 2 and names the variable when the configuration is bad', () => {
  const main = fileURLToPath(new URL('../../src/mosquitto-agent/main.js', import.meta.url));
  const result = spawnSync(process.execPath, [main], { env: { PATH: process.env['PATH'] ?? '', ...MINIMAL, CCM_AGENT_CCM_URL: '' }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr, /CCM_AGENT_CCM_URL is required/);
});

test('the agent README documents every variable, row for row', async () => {
  const readme = await readFile(new URL('../../../src/mosquitto-agent/README.md', import.meta.url), 'utf8');
  const rows = variableTableRows(readme, 'variables');
  assert.deepEqual(rows, AGENT_CONFIGURATION_REFERENCE.map((v) => ({ ...v })));
});
