/**
 * docker-compose.yml, parsed (no Docker engine here) and held against the
 * code: images and builds, ccm's and the agent's variables and their
 * configuration parsers, ports, mounted files, volumes, dependencies,
 * Mosquitto's configuration, the brokers profile's RabbitMQ and NATS with
 * their agents and setup steps, and the Vault policy. Each check is also shown to
 * catch a typo in a mutated copy.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parseUsersFile, renderUsersFile } from '@ccm/nats-agent';
import { BROKERS_PROFILE, parseNatsServerConf, parseRabbitMqConf } from '../support/deployment-checks.js';
import { composeProblems, environmentOf, interpolate, parseVaultPolicy, policyProblems, readYamlDocuments, REPOSITORY } from '../support/deployment-checks.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const run = promisify(execFile);

function compose(): Json {
  const documents = readYamlDocuments(join(REPOSITORY, 'docker-compose.yml'));
  assert.equal(documents.length, 1);
  return documents[0]!;
}

/** The problems of a copy changed by `change`: the real file has none, so these are the change's. */
function problemsAfter(change: (copy: Json) => void): string[] {
  const copy = structuredClone(compose());
  change(copy);
  return composeProblems(copy);
}

describe('docker-compose.yml', () => {
  it('has no problem: every image, variable, port, file, volume and dependency checks out', () => {
    assert.deepEqual(composeProblems(compose()), []);
  });

  it('runs the services issue 7 asks for, ccm on Vault through the AppRole vault-init creates', () => {
    const services = compose()['services'];
    for (const name of ['ccm', 'vault', 'vault-init', 'postgres', 'redis', 'mosquitto', 'mosquitto-agent', 'broker-setup']) assert.ok(services[name], name);
    const environment = environmentOf(services['ccm']);
    assert.equal(environment['CCM_CUSTODY'], 'vault');
    assert.equal(environment['CCM_VAULT_AUTH'], 'approle');
    assert.equal(environment['CCM_VAULT_TOKEN'], undefined);
    assert.equal(environment['CCM_METRICS_HOST'], '0.0.0.0');
    assert.equal(services['ccm']['read_only'], true);
  });

  it('substitutes ${VAR:-default} as compose does, and refuses a variable with no default', () => {
    assert.equal(interpolate('${A:-x}-${B-y}-$$z'), 'x-y-$z');
    assert.equal(interpolate('${A:-x}', { A: 'given' }), 'given');
    assert.throws(() => interpolate('${NOPE}'), /NOPE/);
  });

  it('reports a ccm variable that is not in CONFIGURATION_REFERENCE', () => {
    const problems = problemsAfter((copy) => (copy['services']['ccm']['environment']['CCM_VAULT_KEY_PREFX'] = 'ccm-'));
    assert.ok(problems.some((problem) => problem.includes('CCM_VAULT_KEY_PREFX') && problem.includes('CONFIGURATION_REFERENCE')), problems.join('\n'));
  });

  it('reports a ccm environment that does not parse (a required variable missing)', () => {
    const problems = problemsAfter((copy) => delete copy['services']['ccm']['environment']['CCM_VAULT_SECRET_ID']);
    assert.ok(problems.some((problem) => problem.includes('not a valid configuration') && problem.includes('CCM_VAULT_SECRET_ID')), problems.join('\n'));
  });

  it('reports falling back to the root token, and a missing admin key', () => {
    const problems = problemsAfter((copy) => {
      const environment = copy['services']['ccm']['environment'];
      Object.assign(environment, { CCM_VAULT_AUTH: 'token', CCM_VAULT_TOKEN: 'root' });
      delete environment['CCM_ADMIN_API_KEY'];
    });
    assert.ok(problems.some((problem) => problem.includes('logs in to Vault with a token')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('CCM_ADMIN_API_KEY')), problems.join('\n'));
  });

  it('reports an agent variable the agent does not read, and an agent environment that does not parse', () => {
    const typo = problemsAfter((copy) => (copy['services']['mosquitto-agent']['environment']['CCM_MOSQUITTO_CRL_FIEL'] = '/broker/crl.pem'));
    assert.ok(typo.some((problem) => problem.includes('CCM_MOSQUITTO_CRL_FIEL') && problem.includes('MOSQUITTO_AGENT_VARIABLES')), typo.join('\n'));
    const stale = problemsAfter((copy) => (copy['services']['mosquitto-agent']['environment']['CCM_AGENT_CRL_FILE'] = '/broker/crl.pem'));
    assert.ok(stale.some((problem) => problem.includes('CCM_AGENT_CRL_FILE')), 'a variable of the agent before the core (now CCM_MOSQUITTO_CRL_FILE) is reported');
    const missing = problemsAfter((copy) => delete copy['services']['mosquitto-agent']['environment']['CCM_MOSQUITTO_USERNAME']);
    assert.ok(missing.some((problem) => problem.includes('CCM_MOSQUITTO_USERNAME')), missing.join('\n'));
  });

  it('reports a crlfile or pid file the agent does not write or read', () => {
    const problems = problemsAfter((copy) => {
      copy['services']['mosquitto-agent']['environment']['CCM_MOSQUITTO_CRL_FILE'] = '/broker/other.pem';
      copy['services']['mosquitto-agent']['environment']['CCM_MOSQUITTO_PID_FILE'] = '/run/mosquitto.pid';
    });
    assert.ok(problems.some((problem) => problem.includes('crlfile')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('pid_file')), problems.join('\n'));
  });

  it('reports a published port that ccm does not listen on, and a healthcheck on the wrong path', () => {
    const problems = problemsAfter((copy) => {
      copy['services']['ccm']['ports'] = ['8081:8081', '127.0.0.1:9464:9464'];
      copy['services']['ccm']['healthcheck']['test'] = ['CMD', 'node', '-e', "fetch('http://127.0.0.1:8080/health')"];
    });
    assert.ok(problems.some((problem) => problem.includes('port 8081')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('does not publish port 8080')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('/health/ready')), problems.join('\n'));
  });

  it('reports a mounted file missing from the repository, an undeclared volume, an unknown dependency and a build without Dockerfile', () => {
    const problems = problemsAfter((copy) => {
      copy['services']['mosquitto']['volumes'][0] = './deploy/mosquitto/mosquito.conf:/mosquitto/config/mosquitto.conf:ro';
      copy['services']['redis']['volumes'] = ['redis-dta:/data'];
      copy['services']['ccm']['depends_on']['postgress'] = { condition: 'service_healthy' };
      copy['services']['ccm']['build'] = './deploy';
    });
    for (const expected of ['mosquito.conf', 'redis-dta', 'postgress', 'no deploy/Dockerfile']) {
      assert.ok(problems.some((problem) => problem.includes(expected)), `${expected}:\n${problems.join('\n')}`);
    }
  });

  it('reports an image that is neither built here nor pinned to a tag', () => {
    const problems = problemsAfter((copy) => (copy['services']['redis']['image'] = 'redis'));
    assert.ok(problems.some((problem) => problem.includes('"redis"')), problems.join('\n'));
  });

  it('reports a policy file other than deploy/vault-policy.hcl, and a policy that grants more than the prefix', () => {
    const problems = problemsAfter((copy) => (copy['services']['vault-init']['volumes'][1] = './deploy/vault/compose-server.hcl:/policy/ccm.hcl:ro'));
    assert.ok(problems.some((problem) => problem.includes('deploy/vault-policy.hcl')), problems.join('\n'));
    const otherPrefix = problemsAfter((copy) => (copy['services']['ccm']['environment']['CCM_VAULT_KEY_PREFIX'] = 'iot-'));
    assert.ok(otherPrefix.some((problem) => problem.includes('transit/keys/ccm-*') && problem.includes('outside')), otherPrefix.join('\n'));
  });
});

describe('docker-compose.yml, profile "brokers" (RabbitMQ and NATS with their agents)', () => {
  const brokerServices = ['rabbitmq-setup', 'rabbitmq', 'rabbitmq-agent', 'nats-setup', 'nats', 'nats-agent'];

  it('runs RabbitMQ and NATS with their agents under the profile only, the rest of the stack without one', () => {
    const services = compose()['services'];
    for (const name of brokerServices) assert.deepEqual(services[name]?.['profiles'], [BROKERS_PROFILE], name);
    for (const name of Object.keys(services).filter((name) => !brokerServices.includes(name))) assert.equal(services[name]['profiles'], undefined, name);
    assert.equal(services['rabbitmq']['image'], 'rabbitmq:3.10-management');
    assert.equal(services['nats']['image'], 'nats:2.9');
  });

  it('reads rabbitmq.conf and nats-server.conf as the brokers do', () => {
    assert.deepEqual(parseRabbitMqConf('# c\nmqtt.listeners.tcp = none\ndefault_permissions.read = ^$ # why\n\n'), { 'mqtt.listeners.tcp': 'none', 'default_permissions.read': '^$' });
    const nats = parseNatsServerConf('listen: 0.0.0.0:4222\npid_file: "/p.pid"\ntls {\n  key_file:  "/k"\n  verify_and_map: true\n}\naccounts {\n  A { include "a.conf" }\n}\nauthorization {\n  # x\n  include "users/u.conf"\n}\n');
    assert.deepEqual(nats.top, { listen: '0.0.0.0:4222', pid_file: '/p.pid' });
    assert.deepEqual(nats.tls, { key_file: '/k', verify_and_map: 'true' });
    assert.deepEqual(nats.authorizationIncludes, ['users/u.conf']);
  });

  it('reports a RabbitMQ agent variable with a typo: not in RABBITMQ_AGENT_VARIABLES, and the environment no longer parses', () => {
    const problems = problemsAfter((copy) => {
      const environment = copy['services']['rabbitmq-agent']['environment'];
      environment['CCM_RABBITMQ_MANAGMENT_URL'] = environment['CCM_RABBITMQ_MANAGEMENT_URL'];
      delete environment['CCM_RABBITMQ_MANAGEMENT_URL'];
    });
    assert.ok(problems.some((problem) => problem.includes('CCM_RABBITMQ_MANAGMENT_URL') && problem.includes('RABBITMQ_AGENT_VARIABLES')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('not a valid configuration') && problem.includes('CCM_RABBITMQ_MANAGEMENT_URL')), problems.join('\n'));
  });

  it('reports a missing NATS agent variable: the environment does not parse', () => {
    const problems = problemsAfter((copy) => delete copy['services']['nats-agent']['environment']['CCM_NATS_PID_FILE']);
    assert.ok(problems.some((problem) => problem.includes('nats-agent') && problem.includes('not a valid configuration') && problem.includes('CCM_NATS_PID_FILE')), problems.join('\n'));
  });

  it('reports a NATS agent that writes another users file, reads another pid file or monitoring port, or is outside the server\'s namespaces', () => {
    const problems = problemsAfter((copy) => {
      const agent = copy['services']['nats-agent'];
      agent['environment']['CCM_NATS_USERS_FILE'] = '/broker/ccm-users.conf';
      agent['environment']['CCM_NATS_PID_FILE'] = '/broker/nats.pid';
      agent['environment']['CCM_NATS_MONITOR_URL'] = 'http://127.0.0.1:8223';
      delete agent['pid'];
      delete copy['services']['nats']['init'];
    });
    for (const expected of ['CCM_NATS_USERS_FILE', 'CCM_NATS_PID_FILE', 'CCM_NATS_MONITOR_URL', 'pid namespace', 'init: true']) {
      assert.ok(problems.some((problem) => problem.includes(expected)), `${expected}:\n${problems.join('\n')}`);
    }
  });

  it('reports RabbitMQ with the image\'s defaults file (guest from anywhere), an agent off its loopback, as another user, or for another management user', () => {
    const problems = problemsAfter((copy) => {
      const volumes: string[] = copy['services']['rabbitmq']['volumes'];
      volumes[volumes.findIndex((volume) => volume.startsWith('./deploy/rabbitmq/rabbitmq.conf:'))] = './deploy/rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro';
      delete copy['services']['rabbitmq-agent']['network_mode'];
      copy['services']['rabbitmq-agent']['user'] = '1000:1000';
      copy['services']['rabbitmq-agent']['environment']['CCM_RABBITMQ_USERNAME'] = 'admin';
    });
    for (const expected of ['10-defaults.conf', 'network namespace', 'runs as 1000:1000', 'logs in as admin']) {
      assert.ok(problems.some((problem) => problem.includes(expected)), `${expected}:\n${problems.join('\n')}`);
    }
  });

  it('reports two brokers sharing an event subscriber or a setup volume, a setup variable no script reads, and the stack needing a profile service', () => {
    const problems = problemsAfter((copy) => {
      copy['services']['nats-setup']['environment']['BROKER_SETUP_NAME'] = 'rabbitmq-compose';
      copy['services']['rabbitmq-setup']['volumes'][2] = 'broker:/broker';
      copy['services']['nats-setup']['environment']['BROKER_SETUP_NATS_USER_FILE'] = '/users/ccm-users.conf';
      delete copy['services']['nats']['profiles'];
      copy['services']['ccm']['depends_on']['rabbitmq'] = { condition: 'service_healthy' };
    });
    for (const expected of ['event subscriber "rabbitmq-compose"', 'the same volume broker', 'BROKER_SETUP_NATS_USER_FILE', 'service nats is not in profile', 'depends on rabbitmq, which only a profile starts']) {
      assert.ok(problems.some((problem) => problem.includes(expected)), `${expected}:\n${problems.join('\n')}`);
    }
  });
});

interface DefinitionsModule {
  rabbitMqPasswordHash(password: string, salt?: Buffer): string;
  isHashOf(hash: string, password: string): boolean;
  agentDefinitions(username: string, passwordHash: string): Json;
}

describe('deploy/rabbitmq/definitions.mjs and deploy/nats/users-file.mjs (the brokers profile\'s setup steps)', () => {
  const definitionsScript = join(REPOSITORY, 'deploy/rabbitmq/definitions.mjs');
  const owner = `${process.getuid!()}:${process.getgid!()}`;
  const runScript = (script: string, environment: Record<string, string>) => run(process.execPath, [script], { cwd: REPOSITORY, env: { PATH: process.env['PATH'] ?? '', ...environment } });

  it('hashes the agent\'s password as RabbitMQ 3.10 does (hashes made by rabbit_password:hash/2 of 3.10.8)', async () => {
    const definitions = (await import(pathToFileURL(definitionsScript).href)) as DefinitionsModule;
    assert.equal(definitions.isHashOf('wdoakeWUeSrY+xlSnzIDNtyo6fIFEyyJx5g2qA4+nbvfIsPN', 'compose-check-password'), true);
    assert.equal(definitions.isHashOf('GU5Yy3dYgDx6+i/Z/lXO+EvHqIOdmV3fQ88g+LeKtnYcf05+', 'Pässwört-✓'), true);
    assert.equal(definitions.isHashOf('wdoakeWUeSrY+xlSnzIDNtyo6fIFEyyJx5g2qA4+nbvfIsPN', 'compose-check-passwore'), false);
    const rabbitMqHash = 'wdoakeWUeSrY+xlSnzIDNtyo6fIFEyyJx5g2qA4+nbvfIsPN';
    assert.equal(definitions.rabbitMqPasswordHash('compose-check-password', Buffer.from(rabbitMqHash, 'base64').subarray(0, 4)), rabbitMqHash, 'the same salt gives the same hash');
  });

  it('writes definitions with the agent\'s user (administrator, no permissions) and the "/" vhost, keeps them for the same password, remakes them for another', async (t) => {
    const directory = await mkdtemp(join(tmpdir(), 'ccm-rabbitmq-definitions-'));
    t.after(() => rm(directory, { recursive: true, force: true }));
    const definitions = (await import(pathToFileURL(definitionsScript).href)) as DefinitionsModule;
    await writeFile(join(directory, 'agent-password'), 'first-password\n');
    const environment = { BROKER_SETUP_DIR: directory, BROKER_SETUP_OWNER: owner, BROKER_SETUP_RABBITMQ_USERNAME: 'ccm-agent' };
    await runScript(definitionsScript, environment);
    const path = join(directory, 'definitions.json');
    const first = await readFile(path, 'utf8');
    const written = JSON.parse(first) as Json;
    assert.deepEqual(written['vhosts'], [{ name: '/' }]);
    assert.deepEqual(written['permissions'], []);
    assert.equal(written['users'].length, 1);
    assert.deepEqual({ ...written['users'][0], password_hash: undefined }, { name: 'ccm-agent', password_hash: undefined, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: 'administrator' });
    assert.equal(definitions.isHashOf(written['users'][0]['password_hash'], 'first-password'), true, 'the trailing newline is not part of the password, as for the agent');
    assert.equal((await stat(path)).mode & 0o777, 0o600);

    assert.match((await runScript(definitionsScript, environment)).stdout, /kept/);
    assert.equal(await readFile(path, 'utf8'), first);
    await writeFile(join(directory, 'agent-password'), 'second-password\n');
    await runScript(definitionsScript, environment);
    assert.equal(definitions.isHashOf(JSON.parse(await readFile(path, 'utf8'))['users'][0]['password_hash'], 'second-password'), true);
  });

  it('writes the NATS users file the agent writes for no device (never users = []), once: the agent\'s file is kept', async (t) => {
    const directory = await mkdtemp(join(tmpdir(), 'ccm-nats-users-'));
    t.after(() => rm(directory, { recursive: true, force: true }));
    const path = join(directory, 'ccm-users.conf');
    const script = join(REPOSITORY, 'deploy/nats/users-file.mjs');
    await runScript(script, { BROKER_SETUP_NATS_USERS_FILE: path, BROKER_SETUP_OWNER: owner });
    const text = await readFile(path, 'utf8');
    assert.equal(text, renderUsersFile([], null));
    assert.deepEqual(parseUsersFile(text, path), []);
    assert.doesNotMatch(text, /users\s*=\s*\[\s*\]/);
    const agents = renderUsersFile(['CN=sensor-1'], null);
    await writeFile(path, agents);
    await runScript(script, { BROKER_SETUP_NATS_USERS_FILE: path, BROKER_SETUP_OWNER: owner });
    assert.equal(await readFile(path, 'utf8'), agents);
  });
});

describe('deploy/vault-policy.hcl', () => {
  it('is parsed into its path blocks', () => {
    const rules = parseVaultPolicy('# c\npath "transit/keys/ccm-*" {\n  capabilities = ["read", "update"] # x\n  allowed_parameters = {\n    "type" = []\n    "exportable" = [false]\n  }\n}\npath "sys/health" { capabilities = ["read"] }\n');
    assert.deepEqual(rules, [
      { path: 'transit/keys/ccm-*', capabilities: ['read', 'update'], allowedParameters: { type: [], exportable: [false] } },
      { path: 'sys/health', capabilities: ['read'], allowedParameters: null },
    ]);
  });

  it('reports grants beyond the prefix: export, sys/, delete, list, and unrestricted writes under keys/', () => {
    const policy = [
      'path "transit/keys/ccm-*" { capabilities = ["read", "update", "delete"] }',
      'path "transit/sign/ccm-*" { capabilities = ["update"] }',
      'path "transit/export/*" { capabilities = ["read"] }',
      'path "sys/mounts" { capabilities = ["read"] }',
      'path "transit/keys" { capabilities = ["list"] }',
      'path "transit/backup/*" { capabilities = ["deny"] }',
    ].join('\n');
    const problems = policyProblems(parseVaultPolicy(policy), 'transit', 'ccm-');
    for (const expected of ['"delete"', 'transit/export/*', 'sys/mounts', '"transit/keys"', 'any write under']) {
      assert.ok(problems.some((problem) => problem.includes(expected)), `${expected}:\n${problems.join('\n')}`);
    }
    assert.ok(!problems.some((problem) => problem.includes('backup')), 'a deny is never a problem');
  });

  it('reports a policy that lets a write make a key exportable or trim it', () => {
    const policy = 'path "transit/keys/ccm-*" { capabilities = ["read", "update"]\n allowed_parameters = { "exportable" = [] "min_available_version" = [] } }\npath "transit/sign/ccm-*" { capabilities = ["update"] }';
    const problems = policyProblems(parseVaultPolicy(policy), 'transit', 'ccm-');
    assert.ok(problems.some((problem) => problem.includes('exportable = false')), problems.join('\n'));
    assert.ok(problems.some((problem) => problem.includes('min_available_version')), problems.join('\n'));
  });
});
