/**
 * CCM_NATS_* parsing: defaults, every problem collected by variable name,
 * and the device permissions checked before nats-server ever sees them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EnvironmentReader } from '@ccm/broker-agent';
import { DEFAULT_DEVICE_PERMISSIONS, NATS_AGENT_VARIABLES, parseDevicePermissionsJson, parseNatsAgentSettings, parseSubjectList } from '../src/index.js';

const REQUIRED = { CCM_NATS_USERS_FILE: '/etc/nats/ccm-users.conf', CCM_NATS_PID_FILE: '/run/nats/nats.pid' };

function parse(env: Record<string, string>): { settings: ReturnType<typeof parseNatsAgentSettings>; problems: string[] } {
  const read = new EnvironmentReader(env);
  const settings = parseNatsAgentSettings(read);
  return { settings, problems: read.problems };
}

describe('parseNatsAgentSettings', () => {
  test('the two files are required; everything else has a default', () => {
    const { settings, problems } = parse(REQUIRED);
    assert.deepEqual(problems, []);
    assert.equal(settings.monitorUrl, 'http://127.0.0.1:8222');
    assert.deepEqual(settings.permissions, DEFAULT_DEVICE_PERMISSIONS);
    assert.equal(settings.reloadTimeoutMs, 5000);
    assert.equal(settings.sessionCloseTimeoutMs, 5000);
    assert.equal(settings.systemAccount, null);
    assert.deepEqual(parse({}).problems.map((problem) => problem.split(' ')[0]), ['CCM_NATS_USERS_FILE', 'CCM_NATS_PID_FILE']);
  });

  test('every problem is named at once', () => {
    const { problems } = parse({
      ...REQUIRED,
      CCM_NATS_MONITOR_URL: 'ftp://x',
      CCM_NATS_RELOAD_TIMEOUT_MS: 'soon',
      CCM_NATS_DEVICE_PERMISSIONS: '{"publish": ["a..b"], "subscribe": {"allow": ["x"], "only": ["y"]}, "admin": true}',
      CCM_NATS_SYSTEM_CERT_FILE: '/x.pem',
    });
    assert.equal(problems.length, 6, problems.join('\n'));
    for (const name of ['CCM_NATS_MONITOR_URL', 'CCM_NATS_RELOAD_TIMEOUT_MS', 'CCM_NATS_DEVICE_PERMISSIONS.publish', 'CCM_NATS_DEVICE_PERMISSIONS.subscribe has "only"', 'has "admin"', 'CCM_NATS_SYSTEM_CERT_FILE is set but CCM_NATS_SYSTEM_URL is not']) {
      assert.ok(problems.some((problem) => problem.includes(name)), `${name}: ${problems.join(' | ')}`);
    }
  });

  test('the system-account kick needs its certificate, key and CA', () => {
    const { problems } = parse({ ...REQUIRED, CCM_NATS_SYSTEM_URL: 'tls://127.0.0.1:4222' });
    assert.deepEqual(problems.map((problem) => problem.split(' ')[0]), ['CCM_NATS_SYSTEM_CERT_FILE', 'CCM_NATS_SYSTEM_KEY_FILE', 'CCM_NATS_SYSTEM_CA_FILE']);
    const complete = parse({ ...REQUIRED, CCM_NATS_SYSTEM_URL: 'tls://127.0.0.1:4222', CCM_NATS_SYSTEM_CERT_FILE: '/c', CCM_NATS_SYSTEM_KEY_FILE: '/k', CCM_NATS_SYSTEM_CA_FILE: '/ca' });
    assert.deepEqual(complete.problems, []);
    assert.deepEqual(complete.settings.systemAccount, { url: 'tls://127.0.0.1:4222', certFile: '/c', keyFile: '/k', caFile: '/ca' });
  });

  test('publish/subscribe lists are the short form of the permissions, and go together', () => {
    const { settings, problems } = parse({ ...REQUIRED, CCM_NATS_DEVICE_PUBLISH: 'telemetry.>, events.*', CCM_NATS_DEVICE_SUBSCRIBE: 'commands.>,_INBOX.>' });
    assert.deepEqual(problems, []);
    assert.deepEqual(settings.permissions, { publish: { allow: ['telemetry.>', 'events.*'] }, subscribe: { allow: ['commands.>', '_INBOX.>'] }, allow_responses: true });
    assert.match(parse({ ...REQUIRED, CCM_NATS_DEVICE_PUBLISH: 'a' }).problems[0]!, /go together/);
    assert.match(parse({ ...REQUIRED, CCM_NATS_DEVICE_PUBLISH: 'a', CCM_NATS_DEVICE_SUBSCRIBE: 'b', CCM_NATS_DEVICE_PERMISSIONS: '{}' }).problems[0]!, /alternatives/);
  });

  test('"none" writes no permissions block', () => {
    assert.equal(parse({ ...REQUIRED, CCM_NATS_DEVICE_PERMISSIONS: 'none' }).settings.permissions, null);
  });

  test('the reference list names every variable the parser reads', () => {
    const names = NATS_AGENT_VARIABLES.map((variable) => variable.name);
    assert.ok(names.every((name) => name.startsWith('CCM_NATS_')));
    assert.equal(new Set(names).size, names.length);
    for (const name of ['CCM_NATS_USERS_FILE', 'CCM_NATS_PID_FILE', 'CCM_NATS_MONITOR_URL', 'CCM_NATS_DEVICE_PERMISSIONS', 'CCM_NATS_SYSTEM_URL']) assert.ok(names.includes(name), name);
  });
});

describe('device permissions', () => {
  test('the nats-server shapes: a subject, a list, or allow/deny; allow_responses true or {max, expires}', () => {
    const parsed = parseDevicePermissionsJson('{"publish": "a.b", "subscribe": {"allow": ["c.*", "d.> workers"], "deny": ["d.secret"]}, "allow_responses": {"max": 1, "expires": "1m30s"}}', 'P');
    assert.deepEqual(parsed, { permissions: { publish: { allow: ['a.b'] }, subscribe: { allow: ['c.*', 'd.> workers'], deny: ['d.secret'] }, allow_responses: { max: 1, expires: '1m30s' } } });
  });

  test('subjects nats-server would refuse are refused here', () => {
    for (const subject of ['', 'a..b', 'a.>.b', 'a*', 'a b c', 'a.b queue*']) {
      const parsed = parseSubjectList(subject, 'S', true);
      assert.ok('problems' in parsed, subject);
    }
    assert.ok('problems' in parseSubjectList('a.b queue', 'S', false), 'a queue group is for subscriptions only');
    assert.ok('problems' in parseDevicePermissionsJson('[1]', 'P'));
    assert.ok('problems' in parseDevicePermissionsJson('{"allow_responses": "yes"}', 'P'));
    assert.ok('problems' in parseDevicePermissionsJson('{nope', 'P'));
  });
});
