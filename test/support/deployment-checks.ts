/**
 * Checks of the deployment files against the code (no Docker engine or
 * cluster runs here): docker-compose.yml, deploy/kubernetes/*.yaml and the
 * Vault policy. Each check returns the problems it finds as sentences, so a
 * test can assert there are none for the real files and that a mutated copy
 * is reported.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CONFIGURATION_REFERENCE, parseConfiguration, type Configuration } from '../../src/config/configuration.js';
import { AGENT_CONFIGURATION_REFERENCE, parseAgentConfiguration } from '../../src/mosquitto-agent/configuration.js';

export const REPOSITORY = resolve(new URL('../../..', import.meta.url).pathname);
export const VAULT_POLICY_FILE = 'deploy/vault-policy.hcl';

const CCM_VARIABLES = new Set(CONFIGURATION_REFERENCE.map((variable) => variable.name));
const AGENT_VARIABLES = new Set(AGENT_CONFIGURATION_REFERENCE.map((variable) => variable.name));

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function readYamlDocuments(path: string): Json[] {
  const documents = parseAllDocuments(readFileSync(path, 'utf8'));
  for (const document of documents) if (document.errors.length > 0) throw new Error(`${path}: ${document.errors.map((error) => error.message).join('; ')}`);
  return documents.map((document) => document.toJS() as Json).filter((document) => document !== null);
}

/** Compose's interpolation for what the file uses: ${VAR:-default}, ${VAR-default}, ${VAR} (from `variables`) and $$. */
export function interpolate(value: string, variables: Record<string, string> = {}): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$';
    const given = variables[name!];
    if (given !== undefined && given !== '') return given;
    if (fallback !== undefined) return fallback;
    throw new Error(`\${${name}} has no default and is not given`);
  });
}

/** A service's environment as a map, whether written as a map or as KEY=value lines. */
export function environmentOf(service: Json): Record<string, string> {
  const environment = service['environment'] ?? {};
  const entries: Array<[string, string]> = Array.isArray(environment)
    ? environment.map((line: string) => {
        const at = line.indexOf('=');
        return [line.slice(0, at), line.slice(at + 1)] as [string, string];
      })
    : Object.entries(environment).map(([name, value]) => [name, value === null ? '' : String(value)] as [string, string]);
  return Object.fromEntries(entries.map(([name, value]) => [name, interpolate(value)]));
}

// ---------------------------------------------------------------- Vault policy

export interface PolicyRule {
  readonly path: string;
  readonly capabilities: readonly string[];
  /** allowed_parameters as written: parameter → allowed values (JSON-ish literals). */
  readonly allowedParameters: Readonly<Record<string, readonly unknown[]>> | null;
}

/** The `path "..." { capabilities = [...] allowed_parameters = {...} }` blocks of a policy; comments dropped. */
export function parseVaultPolicy(hcl: string): PolicyRule[] {
  const text = hcl.replace(/#[^\n]*/g, '').replace(/\/\/[^\n]*/g, '');
  const rules: PolicyRule[] = [];
  const opening = /path\s+"([^"]+)"\s*\{/g;
  let match: RegExpExecArray | null;
  while ((match = opening.exec(text)) !== null) {
    let depth = 1;
    let at = opening.lastIndex;
    while (depth > 0 && at < text.length) {
      if (text[at] === '{') depth++;
      if (text[at] === '}') depth--;
      at++;
    }
    if (depth !== 0) throw new Error(`policy: unterminated block for path "${match[1]}"`);
    const body = text.slice(opening.lastIndex, at - 1);
    opening.lastIndex = at;
    const capabilities = /capabilities\s*=\s*\[([^\]]*)\]/.exec(body);
    if (!capabilities) throw new Error(`policy: path "${match[1]}" has no capabilities`);
    const allowed = /allowed_parameters\s*=\s*\{([^}]*)\}/.exec(body);
    rules.push({
      path: match[1]!,
      capabilities: [...capabilities[1]!.matchAll(/"([^"]*)"/g)].map((capability) => capability[1]!),
      allowedParameters: allowed
        ? Object.fromEntries([...allowed[1]!.matchAll(/"([^"]+)"\s*=\s*\[([^\]]*)\]/g)].map((entry) => [entry[1]!, JSON.parse(`[${entry[2]!}]`) as unknown[]]))
        : null,
    });
  }
  return rules;
}

/**
 * What ccm may do, and nothing else: create/read keys under its prefix (writes
 * limited to type and exportable=false), sign and verify with them, read
 * sys/health. Deny rules are always fine.
 */
export function policyProblems(rules: readonly PolicyRule[], transitMount: string, keyPrefix: string): string[] {
  const grants: Record<string, readonly string[]> = {
    [`${transitMount}/keys/${keyPrefix}*`]: ['create', 'read', 'update'],
    [`${transitMount}/sign/${keyPrefix}*`]: ['update'],
    [`${transitMount}/verify/${keyPrefix}*`]: ['update'],
    'sys/health': ['read'],
  };
  const problems: string[] = [];
  for (const rule of rules) {
    if (rule.capabilities.length === 1 && rule.capabilities[0] === 'deny') continue;
    const allowed = grants[rule.path];
    if (!allowed) {
      problems.push(`policy grants ${rule.capabilities.join(', ')} on "${rule.path}", outside ccm's Transit key prefix "${transitMount}/*/${keyPrefix}"`);
      continue;
    }
    for (const capability of rule.capabilities) if (!allowed.includes(capability)) problems.push(`policy grants "${capability}" on "${rule.path}" (only ${allowed.join(', ')} there)`);
  }
  for (const needed of [`${transitMount}/keys/${keyPrefix}*`, `${transitMount}/sign/${keyPrefix}*`]) {
    if (!rules.some((rule) => rule.path === needed && !rule.capabilities.includes('deny'))) problems.push(`policy does not grant "${needed}", which ccm needs`);
  }
  const keys = rules.find((rule) => rule.path === `${transitMount}/keys/${keyPrefix}*`);
  if (keys && keys.capabilities.includes('update')) {
    // The glob also reaches .../config and .../trim: only these parameters keep those harmless.
    const parameters = keys.allowedParameters;
    if (!parameters) problems.push(`policy allows any write under "${keys.path}" (config, trim): restrict allowed_parameters`);
    else {
      for (const name of Object.keys(parameters)) if (name !== 'type' && name !== 'exportable') problems.push(`policy allows parameter "${name}" under "${keys.path}"`);
      if (JSON.stringify(parameters['exportable']) !== '[false]') problems.push(`policy must allow only exportable = false under "${keys.path}"`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------- docker-compose

export interface ComposeFacts {
  readonly ccm: Configuration | null;
  readonly ccmEnvironment: Record<string, string>;
}

const COMPOSE_CCM = 'ccm';
const COMPOSE_AGENT = 'mosquitto-agent';
const COMPOSE_BROKER_SETUP = 'broker-setup';
const COMPOSE_VAULT_INIT = 'vault-init';

/** Every problem of a parsed docker-compose.yml; an empty list is a stack `docker compose up` can start. */
export function composeProblems(compose: Json, root: string = REPOSITORY): string[] {
  const problems: string[] = [];
  const services: Json = compose['services'] ?? {};
  const declaredVolumes = new Set(Object.keys(compose['volumes'] ?? {}));

  for (const [name, service] of Object.entries(services) as Array<[string, Json]>) {
    if (!service['image'] && !service['build']) problems.push(`service ${name} has neither image nor build`);
    if (service['build'] !== undefined) {
      const context = typeof service['build'] === 'string' ? service['build'] : (service['build']['context'] ?? '.');
      const dockerfile = typeof service['build'] === 'string' ? 'Dockerfile' : (service['build']['dockerfile'] ?? 'Dockerfile');
      if (!existsSync(join(root, context, dockerfile))) problems.push(`service ${name} builds ${context} but there is no ${join(context, dockerfile)}`);
    }
    if (typeof service['image'] === 'string' && !service['build']) {
      // Either built by another service of the stack under that name, or pulled: then pinned to a tag.
      const built = Object.values(services).some((other: Json) => other['build'] && other['image'] === service['image']);
      if (!built && !/^[a-z0-9][\w./-]*:[\w.-]+$/.test(service['image'])) problems.push(`service ${name}: image "${service['image']}" is not built here and names no tag`);
    }
    const dependencies = Array.isArray(service['depends_on']) ? service['depends_on'] : Object.keys(service['depends_on'] ?? {});
    for (const dependency of dependencies) if (!(dependency in services)) problems.push(`service ${name} depends on ${dependency}, which is not a service`);
    for (const mode of [service['network_mode'], service['pid']]) {
      if (typeof mode === 'string' && mode.startsWith('service:') && !(mode.slice(8) in services)) problems.push(`service ${name}: ${mode} is not a service`);
      if (typeof mode === 'string' && mode.startsWith('container:')) {
        const target = Object.entries(services).find(([, other]: [string, Json]) => other['container_name'] === mode.slice(10));
        if (!target) problems.push(`service ${name}: ${mode} is no service's container_name`);
        else if (!dependencies.includes(target[0])) problems.push(`service ${name} joins ${mode} but does not depend on ${target[0]}`);
      }
    }
    for (const volume of service['volumes'] ?? []) {
      const source = typeof volume === 'string' ? volume.split(':')[0]! : String(volume['source']);
      if (source.startsWith('.') || source.startsWith('/')) {
        const path = join(root, source);
        if (!existsSync(path) || !statSync(path).isFile()) problems.push(`service ${name} mounts ${source}, which is not a file in the repository`);
      } else if (!declaredVolumes.has(source)) problems.push(`service ${name} mounts volume ${source}, which is not declared under volumes:`);
    }
  }

  const ccm = services[COMPOSE_CCM];
  if (!ccm) return [...problems, `no ${COMPOSE_CCM} service`];
  const environment = environmentOf(ccm);
  for (const name of Object.keys(environment)) if (!CCM_VARIABLES.has(name)) problems.push(`ccm service sets ${name}, which is not in CONFIGURATION_REFERENCE`);
  let configuration: Configuration | null = null;
  try {
    configuration = parseConfiguration(environment);
  } catch (error) {
    problems.push(`ccm service environment is not a valid configuration: ${(error as Error).message}`);
  }
  if (configuration) {
    if (configuration.custody.kind !== 'vault') problems.push('ccm service does not use vault custody');
    if (configuration.custody.kind === 'vault' && configuration.custody.auth.method === 'token') problems.push('ccm service logs in to Vault with a token: give it the AppRole vault-init creates');
    if (configuration.database.kind !== 'postgres') problems.push('ccm service does not use PostgreSQL');
    if (configuration.access.adminApiKey === null) problems.push('ccm service has no CCM_ADMIN_API_KEY: it would write a generated key to its read-only disk');
    if (configuration.http.host !== '0.0.0.0') problems.push('ccm service must bind 0.0.0.0 inside its container');
    if (configuration.metrics && configuration.metrics.host !== '0.0.0.0') problems.push('ccm metrics listener must bind 0.0.0.0 inside its container');
    const published = (ccm['ports'] ?? []).map((port: string | number) => Number(String(port).split(':').at(-1)!.split('/')[0]));
    const listening = [configuration.http.port, ...(configuration.metrics ? [configuration.metrics.port] : [])];
    for (const port of published) if (!listening.includes(port)) problems.push(`ccm service publishes container port ${port}, which is neither CCM_PORT nor CCM_METRICS_PORT`);
    for (const port of listening) if (!published.includes(port)) problems.push(`ccm service does not publish port ${port}`);
    const probe = JSON.stringify(ccm['healthcheck']?.['test'] ?? []);
    if (!probe.includes(`:${configuration.http.port}/health/ready`)) problems.push(`ccm healthcheck does not ask GET /health/ready on CCM_PORT ${configuration.http.port}`);
  }
  for (const [name, service] of Object.entries(services) as Array<[string, Json]>) {
    if (name !== COMPOSE_CCM && !service['healthcheck'] && !isOneShotOrSidecar(name)) problems.push(`service ${name} has no healthcheck`);
  }

  const vaultInit = services[COMPOSE_VAULT_INIT];
  const policyMount = (vaultInit?.['volumes'] ?? []).map(String).find((volume: string) => volume.includes('.hcl') && volume.includes('/policy/'));
  if (!policyMount || policyMount.split(':')[0] !== `./${VAULT_POLICY_FILE}`) problems.push(`vault-init must mount ./${VAULT_POLICY_FILE} as the policy it writes`);
  else if (configuration?.custody.kind === 'vault') {
    const rules = parseVaultPolicy(readFileSync(join(root, VAULT_POLICY_FILE), 'utf8'));
    problems.push(...policyProblems(rules, configuration.custody.transitMount, configuration.custody.keyPrefix));
  }
  const initEnvironment = vaultInit ? environmentOf(vaultInit) : {};
  for (const name of ['CCM_VAULT_ROLE_ID', 'CCM_VAULT_SECRET_ID']) {
    if (environment[name] !== undefined && initEnvironment[name] !== environment[name]) problems.push(`vault-init and ccm disagree on ${name}`);
  }

  problems.push(...agentProblems(services, root));
  return problems;
}

function isOneShotOrSidecar(name: string): boolean {
  return name === COMPOSE_VAULT_INIT || name === COMPOSE_BROKER_SETUP || name === COMPOSE_AGENT;
}

function agentProblems(services: Json, root: string): string[] {
  const problems: string[] = [];
  const agent = services[COMPOSE_AGENT];
  const setup = services[COMPOSE_BROKER_SETUP];
  const mosquitto = services['mosquitto'];
  if (!agent || !setup || !mosquitto) return [`the stack needs services ${COMPOSE_AGENT}, ${COMPOSE_BROKER_SETUP} and mosquitto`];

  const setupScript = readFileSync(join(root, 'deploy/mosquitto/setup.mjs'), 'utf8');
  const setupReads = new Set([...setupScript.matchAll(/setting\('([A-Z_]+)'/g)].map((match) => match[1]!));
  for (const name of Object.keys(environmentOf(setup))) if (!setupReads.has(name)) problems.push(`broker-setup sets ${name}, which deploy/mosquitto/setup.mjs does not read`);

  // agent.env, written by setup.mjs, completes the agent's environment.
  const written = [...setupScript.matchAll(/`(CCM_AGENT_[A-Z_]+)=/g)].map((match) => match[1]!);
  const environment = environmentOf(agent);
  for (const name of [...Object.keys(environment), ...written]) if (!AGENT_VARIABLES.has(name)) problems.push(`the agent is given ${name}, which is not in AGENT_CONFIGURATION_REFERENCE`);
  const scratch = mkdtempSync(join(tmpdir(), 'ccm-compose-check-'));
  try {
    const passwordFile = join(scratch, 'password');
    writeFileSync(passwordFile, 'password\n');
    const sample: Record<string, string> = { CCM_AGENT_TENANT_IDS: '0190f0c2-0000-7000-8000-000000000001', CCM_AGENT_SUBSCRIBER_ID: '0190f0c2-0000-7000-8000-000000000002', CCM_AGENT_CCM_AUTHORIZATION: 'Bearer x' };
    const complete = { ...environment, ...Object.fromEntries(written.map((name) => [name, sample[name] ?? 'x'])), CCM_AGENT_MQTT_PASSWORD_FILE: passwordFile };
    parseAgentConfiguration(complete);
  } catch (error) {
    problems.push(`the agent's environment (with agent.env) is not a valid configuration: ${(error as Error).message}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  if (!String(agent['command']).includes('/broker/agent.env') && !JSON.stringify(agent['command']).includes('/broker/agent.env')) problems.push('the agent command does not source /broker/agent.env');

  // mosquitto.conf and entrypoint.sh must agree with the agent's variables.
  const conf = readFileSync(join(root, 'deploy/mosquitto/mosquitto.conf'), 'utf8');
  const directive = (name: string): string[] => [...conf.matchAll(new RegExp(`^${name}\\s+(.+)$`, 'gm'))].map((match) => match[1]!.trim());
  if (directive('crlfile')[0] !== environment['CCM_AGENT_CRL_FILE']) problems.push(`mosquitto.conf crlfile ${directive('crlfile')[0]} is not the agent's CCM_AGENT_CRL_FILE ${environment['CCM_AGENT_CRL_FILE']}`);
  if (directive('pid_file')[0] !== environment['CCM_AGENT_MOSQUITTO_PID_FILE']) problems.push(`mosquitto.conf pid_file is not the agent's CCM_AGENT_MOSQUITTO_PID_FILE`);
  if (!directive('plugin').some((plugin) => plugin.endsWith('mosquitto_dynamic_security.so'))) problems.push('mosquitto.conf loads no dynamic-security plugin');
  const adminPort = new URL(environment['CCM_AGENT_MQTT_URL'] ?? 'mqtt://127.0.0.1:1883').port || '1883';
  if (!directive('listener').includes(`${adminPort} 127.0.0.1`)) problems.push(`mosquitto.conf has no loopback listener on the agent's port ${adminPort}`);
  for (const required of ['require_certificate true', 'use_identity_as_username true', 'use_username_as_clientid true']) if (!conf.includes(`\n${required}\n`)) problems.push(`mosquitto.conf lacks "${required}"`);
  const entrypoint = readFileSync(join(root, 'deploy/mosquitto/entrypoint.sh'), 'utf8');
  const dynsecUser = /dynsec init "\$dynsec" (\S+) /.exec(entrypoint)?.[1];
  if (dynsecUser !== environment['CCM_AGENT_MQTT_USERNAME']) problems.push(`entrypoint.sh makes dynsec user ${dynsecUser}, the agent logs in as ${environment['CCM_AGENT_MQTT_USERNAME']}`);
  if (agent['network_mode'] !== 'service:mosquitto') problems.push('the agent must share Mosquitto\'s network namespace (its admin listener is loopback only)');
  if (!String(agent['pid'] ?? '').startsWith('container:') || agent['pid'] !== `container:${mosquitto['container_name']}`) problems.push('the agent must share Mosquitto\'s pid namespace to signal it');
  if (mosquitto['init'] !== true) problems.push('mosquitto needs init: true (the agent refuses pid 1)');
  return problems;
}

// ---------------------------------------------------------------- Kubernetes

export const KUBERNETES_DIRECTORY = 'deploy/kubernetes';
/** Created by the operator, not applied: the Secret's name and keys are read from here. */
export const OPERATOR_SECRET_FILE = 'deploy/kubernetes/operator-secret.example.yaml';
export const VAULT_KUBERNETES_SETUP = 'deploy/vault/kubernetes-setup.sh';

export interface KubernetesFiles {
  /** Every document applied (kustomization resources), with the file it came from. */
  readonly applied: ReadonlyArray<{ readonly file: string; readonly document: Json }>;
  readonly operatorSecrets: readonly Json[];
  readonly kustomization: Json;
  readonly vaultSetup: string;
  readonly vaultPolicy: string;
}

export function readKubernetesFiles(root: string = REPOSITORY): KubernetesFiles {
  const directory = join(root, KUBERNETES_DIRECTORY);
  const kustomization = readYamlDocuments(join(directory, 'kustomization.yaml'))[0]!;
  const applied = (kustomization['resources'] as string[]).flatMap((file) => readYamlDocuments(join(directory, file)).map((document) => ({ file, document })));
  return {
    applied,
    operatorSecrets: readYamlDocuments(join(root, OPERATOR_SECRET_FILE)),
    kustomization,
    vaultSetup: readFileSync(join(root, VAULT_KUBERNETES_SETUP), 'utf8'),
    vaultPolicy: readFileSync(join(root, VAULT_POLICY_FILE), 'utf8'),
  };
}

/** YAML files of deploy/kubernetes that are neither applied nor the operator's example. */
export function unlistedKubernetesFiles(files: KubernetesFiles, root: string = REPOSITORY): string[] {
  const listed = new Set([...(files.kustomization['resources'] as string[]), 'kustomization.yaml', OPERATOR_SECRET_FILE.split('/').at(-1)!]);
  return readdirSync(join(root, KUBERNETES_DIRECTORY)).filter((file) => /\.ya?ml$/.test(file) && !listed.has(file));
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

/** The shell constants (NAME=value lines) of deploy/vault/kubernetes-setup.sh. */
export function shellConstants(script: string): Record<string, string> {
  return Object.fromEntries([...script.matchAll(/^([A-Z_]+)=([^\s$]+)$/gm)].map((match) => [match[1]!, match[2]!]));
}

export function kubernetesProblems(files: KubernetesFiles): string[] {
  const problems: string[] = [];
  const all = files.applied.map((entry) => entry.document);
  const ofKind = (kind: string): Json[] => all.filter((document) => document['kind'] === kind);
  const named = (kind: string, name: string): Json | undefined => ofKind(kind).find((document) => document['metadata']?.['name'] === name);
  const secrets = [...ofKind('Secret'), ...files.operatorSecrets.filter((document) => document['kind'] === 'Secret')];
  const namespaces = new Set(all.map((document) => document['metadata']?.['namespace']).filter(Boolean));

  const deployments = ofKind('Deployment');
  if (deployments.length !== 1) return [...problems, `expected one Deployment, found ${deployments.length}`];
  const deployment = deployments[0]!;
  const namespace = deployment['metadata']['namespace'] as string;
  if (namespaces.size !== 1) problems.push(`manifests span namespaces ${[...namespaces].join(', ')}`);
  if (!named('Namespace', namespace)) problems.push(`namespace ${namespace} is not created by the manifests`);

  const spec = deployment['spec'];
  if (!(spec['replicas'] >= 2)) problems.push(`Deployment runs ${spec['replicas']} replica(s); several are expected`);
  if (spec['strategy']?.['type'] !== 'RollingUpdate') problems.push('Deployment strategy is not RollingUpdate');
  const podLabels: Record<string, string> = spec['template']['metadata']['labels'];
  if (!matches(spec['selector']['matchLabels'], podLabels)) problems.push('Deployment selector does not match its pod labels');
  const pod = spec['template']['spec'];

  const accountName = pod['serviceAccountName'];
  if (!accountName || !named('ServiceAccount', accountName)) problems.push(`Deployment's service account ${accountName} is not defined`);

  const containers: Json[] = pod['containers'];
  const ccm = containers.find((container) => container['name'] === 'ccm');
  if (!ccm) return [...problems, 'no container named ccm'];
  const environment: Record<string, string> = {};
  for (const variable of ccm['env'] ?? []) {
    const name: string = variable['name'];
    if (!CCM_VARIABLES.has(name)) problems.push(`container env ${name} is not in CONFIGURATION_REFERENCE`);
    if ('value' in variable) environment[name] = String(variable['value']);
    const configRef = variable['valueFrom']?.['configMapKeyRef'];
    const secretRef = variable['valueFrom']?.['secretKeyRef'];
    if (configRef) {
      const map = named('ConfigMap', configRef['name']);
      if (!map) problems.push(`${name} reads ConfigMap ${configRef['name']}, which is not defined`);
      else if (!(configRef['key'] in (map['data'] ?? {}))) problems.push(`${name} reads key ${configRef['key']}, which ConfigMap ${configRef['name']} lacks`);
      else environment[name] = String(map['data'][configRef['key']]);
    }
    if (secretRef) {
      const secret = secrets.find((candidate) => candidate['metadata']?.['name'] === secretRef['name']);
      const keys = { ...(secret?.['stringData'] ?? {}), ...(secret?.['data'] ?? {}) };
      if (!secret) problems.push(`${name} reads Secret ${secretRef['name']}, which is neither defined nor in ${OPERATOR_SECRET_FILE}`);
      else if (!(secretRef['key'] in keys)) problems.push(`${name} reads key ${secretRef['key']}, which Secret ${secretRef['name']} lacks`);
      else environment[name] = String(keys[secretRef['key']]);
    }
  }
  for (const source of ccm['envFrom'] ?? []) {
    const reference = source['configMapRef'] ?? source['secretRef'];
    const document = source['configMapRef'] ? named('ConfigMap', reference['name']) : secrets.find((candidate) => candidate['metadata']?.['name'] === reference['name']);
    if (!document) problems.push(`envFrom ${reference['name']} is not defined`);
    for (const [key, value] of Object.entries({ ...(document?.['data'] ?? {}), ...(document?.['stringData'] ?? {}) })) {
      if (!CCM_VARIABLES.has(key)) problems.push(`envFrom ${reference['name']} sets ${key}, which is not in CONFIGURATION_REFERENCE`);
      environment[key] ??= String(value);
    }
  }

  let configuration: Configuration | null = null;
  try {
    configuration = parseConfiguration(environment);
  } catch (error) {
    problems.push(`container environment is not a valid configuration: ${(error as Error).message}`);
  }
  if (configuration) {
    if (configuration.custody.kind !== 'vault' || configuration.custody.auth.method !== 'kubernetes') problems.push('ccm must use vault custody with Kubernetes auth');
    if (configuration.database.kind !== 'postgres') problems.push('ccm must use PostgreSQL (replicas share it)');
    if (configuration.events.redisUrl === null) problems.push('ccm must use Redis (CCM_REDIS_URL)');
    if (configuration.access.adminApiKey === null) problems.push('CCM_ADMIN_API_KEY must be set: otherwise ccm writes a generated key to its read-only disk');
    if (!configuration.metrics || configuration.metrics.host !== '0.0.0.0') problems.push('the metrics listener must be on and bind 0.0.0.0');

    const ports: Json[] = ccm['ports'] ?? [];
    const portNumber = (port: string | number): number | undefined => (typeof port === 'number' ? port : ports.find((candidate) => candidate['name'] === port)?.['containerPort']);
    for (const [probeName, path] of [['startupProbe', null], ['livenessProbe', '/health/live'], ['readinessProbe', '/health/ready']] as const) {
      const probe = ccm[probeName]?.['httpGet'];
      if (!probe) {
        problems.push(`container has no ${probeName} (httpGet)`);
        continue;
      }
      if (path !== null && probe['path'] !== path) problems.push(`${probeName} asks ${probe['path']}, not ${path}`);
      if (path === null && !['/health/live', '/health/ready'].includes(probe['path'])) problems.push(`startupProbe asks ${probe['path']}`);
      if (portNumber(probe['port']) !== configuration.http.port) problems.push(`${probeName} port ${probe['port']} is not CCM_PORT ${configuration.http.port}`);
    }
    if (!ports.some((port) => port['containerPort'] === configuration!.http.port)) problems.push(`no container port is CCM_PORT ${configuration.http.port}`);
    const metricsPort = configuration.metrics?.port;
    if (metricsPort !== undefined && !ports.some((port) => port['containerPort'] === metricsPort)) problems.push(`no container port is CCM_METRICS_PORT ${metricsPort}`);
    const annotations = spec['template']['metadata']['annotations'] ?? {};
    if (annotations['prometheus.io/scrape'] !== 'true' || annotations['prometheus.io/port'] !== String(metricsPort) || annotations['prometheus.io/path'] !== '/metrics') problems.push('pod annotations do not point Prometheus at CCM_METRICS_PORT /metrics');

    // The Vault side: the role ccm logs in as binds this namespace and service account.
    if (configuration.custody.kind === 'vault' && configuration.custody.auth.method === 'kubernetes') {
      const vault = shellConstants(files.vaultSetup);
      const auth = configuration.custody.auth;
      if (vault['ROLE'] !== auth.role) problems.push(`CCM_VAULT_KUBERNETES_ROLE ${auth.role} is not the role ${VAULT_KUBERNETES_SETUP} writes (${vault['ROLE']})`);
      if (vault['MOUNT'] !== auth.mountPath) problems.push(`CCM_VAULT_KUBERNETES_MOUNT ${auth.mountPath} is not the mount ${VAULT_KUBERNETES_SETUP} enables (${vault['MOUNT']})`);
      if (vault['SERVICE_ACCOUNT'] !== accountName) problems.push(`Vault role binds service account ${vault['SERVICE_ACCOUNT']}, the Deployment runs as ${accountName}`);
      if (vault['NAMESPACE'] !== namespace) problems.push(`Vault role binds namespace ${vault['NAMESPACE']}, the Deployment is in ${namespace}`);
      const tokenVolume = (pod['volumes'] ?? []).find((volume: Json) => volume['projected']?.['sources']?.some((source: Json) => source['serviceAccountToken']));
      const token = tokenVolume?.['projected']['sources'].find((source: Json) => source['serviceAccountToken'])['serviceAccountToken'];
      const mount = (ccm['volumeMounts'] ?? []).find((candidate: Json) => candidate['name'] === tokenVolume?.['name']);
      if (!token || !mount || `${mount['mountPath']}/${token['path']}` !== auth.jwtFile) problems.push(`CCM_VAULT_KUBERNETES_TOKEN_FILE ${auth.jwtFile} is not a projected service account token`);
      else if (token['audience'] !== vault['AUDIENCE']) problems.push(`the projected token's audience ${token['audience']} is not the Vault role's ${vault['AUDIENCE']}`);
      problems.push(...policyProblems(parseVaultPolicy(files.vaultPolicy), configuration.custody.transitMount, configuration.custody.keyPrefix));
    }
  }

  const resources = ccm['resources'] ?? {};
  for (const kind of ['requests', 'limits']) for (const resource of ['cpu', 'memory']) if (!resources[kind]?.[resource]) problems.push(`container has no ${kind}.${resource}`);
  const podSecurity = pod['securityContext'] ?? {};
  const containerSecurity = ccm['securityContext'] ?? {};
  if (podSecurity['runAsNonRoot'] !== true && containerSecurity['runAsNonRoot'] !== true) problems.push('runAsNonRoot is not set');
  if (containerSecurity['readOnlyRootFilesystem'] !== true) problems.push('readOnlyRootFilesystem is not set');
  if (containerSecurity['allowPrivilegeEscalation'] !== false) problems.push('allowPrivilegeEscalation is not false');
  if (!(pod['terminationGracePeriodSeconds'] > 0)) problems.push('terminationGracePeriodSeconds is not set');

  const budgets = ofKind('PodDisruptionBudget');
  if (budgets.length === 0) problems.push('no PodDisruptionBudget');
  for (const budget of budgets) {
    if (!matches(budget['spec']['selector']?.['matchLabels'], podLabels)) problems.push(`PodDisruptionBudget ${budget['metadata']['name']} does not select the Deployment's pods`);
    const { minAvailable, maxUnavailable } = budget['spec'];
    if (minAvailable === undefined && maxUnavailable === undefined) problems.push('PodDisruptionBudget sets neither minAvailable nor maxUnavailable');
    if (typeof minAvailable === 'number' && minAvailable >= spec['replicas']) problems.push('PodDisruptionBudget minAvailable blocks every eviction');
  }
  const services = ofKind('Service');
  if (services.length === 0) problems.push('no Service');
  for (const service of services) {
    if (!matches(service['spec']['selector'], podLabels)) problems.push(`Service ${service['metadata']['name']} does not select the Deployment's pods`);
    for (const port of service['spec']['ports'] ?? []) {
      const target = port['targetPort'];
      const known = (ccm['ports'] ?? []).some((candidate: Json) => candidate['name'] === target || candidate['containerPort'] === target);
      if (!known) problems.push(`Service ${service['metadata']['name']} targets port ${target}, which the container does not expose`);
    }
  }
  for (const policy of ofKind('NetworkPolicy')) {
    if (!matches(policy['spec']['podSelector']?.['matchLabels'], podLabels)) problems.push(`NetworkPolicy ${policy['metadata']['name']} does not select the Deployment's pods`);
    for (const rule of policy['spec']['ingress'] ?? []) {
      for (const port of rule['ports'] ?? []) {
        const known = (ccm['ports'] ?? []).some((candidate: Json) => candidate['name'] === port['port'] || candidate['containerPort'] === port['port']);
        if (!known) problems.push(`NetworkPolicy ${policy['metadata']['name']} opens port ${port['port']}, which the container does not expose`);
      }
    }
  }
  return problems;
}
