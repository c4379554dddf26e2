/**
 * deploy/mosquitto/setup.mjs (docker-compose's broker-setup) against a real
 * ccm: it makes the demo tenant, a broker key and an event subscriber, and
 * writes the files Mosquitto and the agent read; the agent's environment it
 * completes parses; a second run keeps what exists.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parseAgentConfiguration } from '@ccm/broker-agent';
import { parseMosquittoSettings } from '@ccm/mosquitto-agent';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { REPOSITORY } from '../support/deployment-checks.js';

const run = promisify(execFile);

function envFile(text: string): Record<string, string> {
  return Object.fromEntries(text.trim().split('\n').map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at), line.slice(at + 1).replace(/^'(.*)'$/, '$1')];
  }));
}

describe('deploy/mosquitto/setup.mjs against ccm', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let directory: string;

  before(async () => {
    installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' });
    ccm = await installation.start();
    directory = await mkdtemp(join(tmpdir(), 'ccm-broker-setup-'));
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  const setup = () =>
    run(process.execPath, [join(REPOSITORY, 'deploy/mosquitto/setup.mjs')], {
      cwd: REPOSITORY,
      env: {
        PATH: process.env['PATH'] ?? '',
        BROKER_SETUP_CCM_URL: ccm.url,
        BROKER_SETUP_ADMIN_API_KEY: ccm.adminKey,
        BROKER_SETUP_DIR: join(directory, 'broker'),
        BROKER_SETUP_OWNER: `${process.getuid!()}:${process.getgid!()}`,
      },
    });

  it('writes the broker files and an agent environment that ccm accepts, then keeps them', async () => {
    const first = await setup();
    assert.match(first.stdout, /broker directory ready for tenant "demo"/);
    assert.ok(!first.stdout.includes(ccm.adminKey));
    const broker = join(directory, 'broker');

    const environment = envFile(await readFile(join(broker, 'agent.env'), 'utf8'));
    assert.deepEqual(Object.keys(environment).sort(), ['CCM_AGENT_CCM_AUTHORIZATION', 'CCM_AGENT_SUBSCRIBER_ID', 'CCM_AGENT_TENANT_IDS']);
    const { configuration, settings } = parseAgentConfiguration(
      {
        ...environment,
        CCM_AGENT_CCM_URL: ccm.url,
        CCM_AGENT_REDIS_URL: 'redis://127.0.0.1:6379/0',
        CCM_MOSQUITTO_CRL_FILE: join(broker, 'crl.pem'),
        CCM_MOSQUITTO_PID_FILE: join(broker, 'mosquitto.pid'),
        CCM_MOSQUITTO_USERNAME: 'ccm-agent',
        CCM_MOSQUITTO_PASSWORD_FILE: join(broker, 'agent-password'),
      },
      parseMosquittoSettings,
    );
    assert.equal(settings.mqtt.password.length, 32);

    // The broker key reads what the agent reads, and the subscriber is for the demo tenant.
    const tenantId = configuration.tenantIds[0]!;
    const crl = await fetch(`${ccm.url}/v1/tenants/${tenantId}/crl`, { headers: { authorization: configuration.ccm.authorization! } });
    assert.equal(crl.status, 200);
    const subscriber = await ccm.api().get(`/v1/event-subscribers/${environment['CCM_AGENT_SUBSCRIBER_ID']}`).expect(200);
    assert.deepEqual(subscriber.body.tenantIds, [tenantId]);

    const chain = await ccm.api().get(`/v1/tenants/${tenantId}/ca-chain`).expect(200);
    assert.equal(await readFile(join(broker, 'clients-ca.pem'), 'utf8'), chain.text);
    const server = new X509Certificate(await readFile(join(broker, 'server.pem')));
    const serverCa = new X509Certificate(await readFile(join(broker, 'server-ca.pem')));
    assert.ok(server.verify(serverCa.publicKey));
    assert.equal(server.checkHost('mosquitto'), 'mosquitto');
    assert.equal(server.checkHost('localhost'), 'localhost');
    for (const secret of ['server.key', 'agent.env', 'agent-password']) assert.equal((await stat(join(broker, secret))).mode & 0o777, 0o600, secret);

    const kept = await Promise.all(['agent.env', 'server.pem', 'agent-password'].map((name) => readFile(join(broker, name), 'utf8')));
    await setup();
    assert.deepEqual(await Promise.all(['agent.env', 'server.pem', 'agent-password'].map((name) => readFile(join(broker, name), 'utf8'))), kept);
    const tenants = await ccm.api().get('/v1/tenants').expect(200);
    assert.equal(tenants.body.items.filter((tenant: { name: string }) => tenant.name === 'demo').length, 1);
    const credentials = await ccm.api().get('/v1/api-credentials').expect(200);
    const items = Array.isArray(credentials.body) ? credentials.body : credentials.body.items;
    assert.equal(items.filter((credential: { name: string }) => credential.name === 'mosquitto-compose').length, 1);
  });
});
