/**
 * docker-compose.yml, parsed (no Docker engine here) and held against the
 * code: images and builds, ccm's and the agent's variables and their
 * configuration parsers, ports, mounted files, volumes, dependencies,
 * Mosquitto's configuration and the Vault policy. Each check is also shown to
 * catch a typo in a mutated copy.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { composeProblems, environmentOf, interpolate, parseVaultPolicy, policyProblems, readYamlDocuments, REPOSITORY } from '../support/deployment-checks.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

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

  it('reports an agent variable that is not in AGENT_CONFIGURATION_REFERENCE, and an agent environment that does not parse', () => {
    const typo = problemsAfter((copy) => (copy['services']['mosquitto-agent']['environment']['CCM_AGENT_CRL_FIEL'] = '/broker/crl.pem'));
    assert.ok(typo.some((problem) => problem.includes('CCM_AGENT_CRL_FIEL') && problem.includes('AGENT_CONFIGURATION_REFERENCE')), typo.join('\n'));
    const missing = problemsAfter((copy) => delete copy['services']['mosquitto-agent']['environment']['CCM_AGENT_MQTT_USERNAME']);
    assert.ok(missing.some((problem) => problem.includes('CCM_AGENT_MQTT_USERNAME')), missing.join('\n'));
  });

  it('reports a crlfile or pid file the agent does not write or read', () => {
    const problems = problemsAfter((copy) => {
      copy['services']['mosquitto-agent']['environment']['CCM_AGENT_CRL_FILE'] = '/broker/other.pem';
      copy['services']['mosquitto-agent']['environment']['CCM_AGENT_MOSQUITTO_PID_FILE'] = '/run/mosquitto.pid';
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
