/**
 * CCM_RABBITMQ_* parsing: defaults, the password from a file, and every
 * problem named by its variable.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EnvironmentReader } from '@ccm/broker-agent';
import { DEFAULT_DEVICE_PERMISSIONS, RABBITMQ_AGENT_VARIABLES, parseRabbitMqAgentSettings } from '../src/configuration.js';

function parse(env: Record<string, string>): { settings: ReturnType<typeof parseRabbitMqAgentSettings>; problems: string[] } {
  const read = new EnvironmentReader(env);
  const settings = parseRabbitMqAgentSettings(read);
  return { settings, problems: read.problems };
}

test('defaults: user ccm-agent, vhost /, the MQTT permissions, tag ccm-device', () => {
  const { settings, problems } = parse({ CCM_RABBITMQ_MANAGEMENT_URL: 'http://127.0.0.1:15672/', CCM_RABBITMQ_PASSWORD: 'pw' });
  assert.deepEqual(problems, []);
  assert.deepEqual(settings, {
    managementUrl: 'http://127.0.0.1:15672',
    username: 'ccm-agent',
    password: 'pw',
    vhost: '/',
    devicePermissions: DEFAULT_DEVICE_PERMISSIONS,
    deviceTag: 'ccm-device',
    timeoutMs: 5000,
    concurrency: 8,
  });
});

test('the password is read from CCM_RABBITMQ_PASSWORD_FILE without its trailing newline', async (t) => {
  const directory = await mkdtemp(join(tmpdir(), 'ccm-rabbitmq-config-'));
  t.after(() => rm(directory, { recursive: true, force: true }));
  const file = join(directory, 'password');
  await writeFile(file, 's3cret\n');
  const { settings, problems } = parse({ CCM_RABBITMQ_MANAGEMENT_URL: 'https://rabbit:15671', CCM_RABBITMQ_PASSWORD_FILE: file });
  assert.deepEqual(problems, []);
  assert.equal(settings.password, 's3cret');
});

test('every problem is named by its variable', () => {
  const { problems } = parse({
    CCM_RABBITMQ_MANAGEMENT_URL: 'amqp://rabbit',
    CCM_RABBITMQ_DEVICE_TAG: 'administrator',
    CCM_RABBITMQ_DEVICE_WRITE: '^(unclosed',
    CCM_RABBITMQ_CONCURRENCY: '0',
  });
  assert.deepEqual(
    problems.map((problem) => problem.split(' ')[0]),
    ['CCM_RABBITMQ_MANAGEMENT_URL', 'CCM_RABBITMQ_PASSWORD', 'CCM_RABBITMQ_DEVICE_WRITE', 'CCM_RABBITMQ_DEVICE_TAG', 'CCM_RABBITMQ_CONCURRENCY'],
  );
});

test('a missing URL, both password variables, an unreadable password file are refused', () => {
  assert.match(parse({ CCM_RABBITMQ_PASSWORD: 'pw' }).problems.join('\n'), /CCM_RABBITMQ_MANAGEMENT_URL is required/);
  assert.match(parse({ CCM_RABBITMQ_MANAGEMENT_URL: 'http://r:15672', CCM_RABBITMQ_PASSWORD: 'pw', CCM_RABBITMQ_PASSWORD_FILE: '/x' }).problems.join('\n'), /both set/);
  assert.match(parse({ CCM_RABBITMQ_MANAGEMENT_URL: 'http://r:15672', CCM_RABBITMQ_PASSWORD_FILE: '/nonexistent/ccm-password' }).problems.join('\n'), /cannot be read \(ENOENT\)/);
});

test('every variable the parser reads is in the reference list', () => {
  const names = RABBITMQ_AGENT_VARIABLES.map((variable) => variable.name);
  const read: string[] = [];
  const env = new Proxy<Record<string, string>>({}, { get: (_, name) => (read.push(String(name)), undefined) });
  parseRabbitMqAgentSettings(new EnvironmentReader(env));
  assert.deepEqual([...new Set(read)].sort(), [...names].sort());
});
