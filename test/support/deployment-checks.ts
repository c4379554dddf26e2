/**
 * Checks of the deployment files against the code (no Docker engine or
 * cluster runs here): docker-compose.yml (its brokers profile's RabbitMQ and
 * NATS too), deploy/kubernetes/*.yaml and the Vault policy. Each check returns the problems it finds as sentences, so a
 * test can assert there are none for the real files and that a mutated copy
 * is reported.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CONFIGURATION_REFERENCE, parseConfiguration, type Configuration } from '../../src/config/configuration.js';
import { AgentConfigurationError, COMMON_AGENT_VARIABLES, parseAgentConfiguration } from '@ccm/broker-agent';
import { MOSQUITTO_AGENT_VARIABLES, parseMosquittoSettings } from '@ccm/mosquitto-agent';
import type { AgentConfiguration, EnvironmentReader } from '@ccm/broker-agent';
import { NATS_AGENT_VARIABLES, parseNatsAgentSettings } from '@ccm/nats-agent';
import { RABBITMQ_AGENT_VARIABLES, parseRabbitMqAgentSettings, type RabbitMqAgentSettings } from '@ccm/rabbitmq-agent';

export const REPOSITORY = resolve(new URL('../../..', import.meta.url).pathname);
export const VAULT_POLICY_FILE = 'deploy/vault-policy.hcl';

const CCM_VARIABLES = new Set(CONFIGURATION_REFERENCE.map((variable) => variable.name));
/** What the Mosquitto agent reads: the core's CCM_AGENT_* variables and its own CCM_MOSQUITTO_* ones. */
const AGENT_VARIABLES = new Set([...COMMON_AGENT_VARIABLES, ...MOSQUITTO_AGENT_VARIABLES].map((variable) => variable.name));

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
  problems.push(...brokersProfileProblems(services, root));
  return problems;
}

function isOneShotOrSidecar(name: string): boolean {
  return name === COMPOSE_VAULT_INIT || name === COMPOSE_BROKER_SETUP || name === COMPOSE_AGENT || BROKERS_PROFILE_UNPROBED.has(name);
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
  for (const name of [...Object.keys(environment), ...written]) if (!AGENT_VARIABLES.has(name)) problems.push(`the agent is given ${name}, which is in neither COMMON_AGENT_VARIABLES nor MOSQUITTO_AGENT_VARIABLES`);
  const scratch = mkdtempSync(join(tmpdir(), 'ccm-compose-check-'));
  try {
    const passwordFile = join(scratch, 'password');
    writeFileSync(passwordFile, 'password\n');
    const sample: Record<string, string> = { CCM_AGENT_TENANT_IDS: '0190f0c2-0000-7000-8000-000000000001', CCM_AGENT_SUBSCRIBER_ID: '0190f0c2-0000-7000-8000-000000000002', CCM_AGENT_CCM_AUTHORIZATION: 'Bearer x' };
    const complete = { ...environment, ...Object.fromEntries(written.map((name) => [name, sample[name] ?? 'x'])), CCM_MOSQUITTO_PASSWORD_FILE: passwordFile };
    parseAgentConfiguration(complete, parseMosquittoSettings);
  } catch (error) {
    if (!(error instanceof AgentConfigurationError)) throw error;
    problems.push(`the agent's environment (with agent.env) is not a valid configuration: ${error.message}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  if (!String(agent['command']).includes('/broker/agent.env') && !JSON.stringify(agent['command']).includes('/broker/agent.env')) problems.push('the agent command does not source /broker/agent.env');

  // mosquitto.conf and entrypoint.sh must agree with the agent's variables.
  const conf = readFileSync(join(root, 'deploy/mosquitto/mosquitto.conf'), 'utf8');
  const directive = (name: string): string[] => [...conf.matchAll(new RegExp(`^${name}\\s+(.+)$`, 'gm'))].map((match) => match[1]!.trim());
  if (directive('crlfile')[0] !== environment['CCM_MOSQUITTO_CRL_FILE']) problems.push(`mosquitto.conf crlfile ${directive('crlfile')[0]} is not the agent's CCM_MOSQUITTO_CRL_FILE ${environment['CCM_MOSQUITTO_CRL_FILE']}`);
  if (directive('pid_file')[0] !== environment['CCM_MOSQUITTO_PID_FILE']) problems.push(`mosquitto.conf pid_file is not the agent's CCM_MOSQUITTO_PID_FILE`);
  if (!directive('plugin').some((plugin) => plugin.endsWith('mosquitto_dynamic_security.so'))) problems.push('mosquitto.conf loads no dynamic-security plugin');
  const adminPort = new URL(environment['CCM_MOSQUITTO_MQTT_URL'] ?? 'mqtt://127.0.0.1:1883').port || '1883';
  if (!directive('listener').includes(`${adminPort} 127.0.0.1`)) problems.push(`mosquitto.conf has no loopback listener on the agent's port ${adminPort}`);
  for (const required of ['require_certificate true', 'use_identity_as_username true', 'use_username_as_clientid true']) if (!conf.includes(`\n${required}\n`)) problems.push(`mosquitto.conf lacks "${required}"`);
  const entrypoint = readFileSync(join(root, 'deploy/mosquitto/entrypoint.sh'), 'utf8');
  const dynsecUser = /dynsec init "\$dynsec" (\S+) /.exec(entrypoint)?.[1];
  if (dynsecUser !== environment['CCM_MOSQUITTO_USERNAME']) problems.push(`entrypoint.sh makes dynsec user ${dynsecUser}, the agent logs in as ${environment['CCM_MOSQUITTO_USERNAME']}`);
  if (agent['network_mode'] !== 'service:mosquitto') problems.push('the agent must share Mosquitto\'s network namespace (its admin listener is loopback only)');
  if (!String(agent['pid'] ?? '').startsWith('container:') || agent['pid'] !== `container:${mosquitto['container_name']}`) problems.push('the agent must share Mosquitto\'s pid namespace to signal it');
  if (mosquitto['init'] !== true) problems.push('mosquitto needs init: true (the agent refuses pid 1)');
  return problems;
}

// ---------------------------------------------------------------- docker-compose: profile "brokers" (RabbitMQ, NATS)

/** The opt-in profile of RabbitMQ and NATS with their agents: `docker compose --profile brokers up`. */
export const BROKERS_PROFILE = 'brokers';
const BROKERS_PROFILE_SERVICES = ['rabbitmq-setup', 'rabbitmq', 'rabbitmq-agent', 'nats-setup', 'nats', 'nats-agent'];
/** One-shot setups, and nats: a scratch image with nothing to probe with (nats-agent's /readyz asks its /varz and checks its pid). */
const BROKERS_PROFILE_UNPROBED = new Set(['rabbitmq-setup', 'nats-setup', 'nats']);
const BROKER_SETUP_SCRIPT = 'deploy/mosquitto/setup.mjs';
const RABBITMQ_DEFINITIONS_SCRIPT = 'deploy/rabbitmq/definitions.mjs';
const NATS_USERS_FILE_SCRIPT = 'deploy/nats/users-file.mjs';
/** The ccm image's WORKDIR, where the setup services' relative script paths resolve. */
const IMAGE_WORKDIR = '/app';
/** The rabbitmq image's user (docker-library/rabbitmq: useradd --uid 999, groupadd --gid 999): it reads the key and the definitions. */
const RABBITMQ_IMAGE_USER = '999:999';
/** The image's defaults file, which sets loopback_users.guest = false: rabbitmq.conf goes in its place. */
const RABBITMQ_DEFAULTS_FILE = '/etc/rabbitmq/conf.d/10-defaults.conf';
const RABBITMQ_VARIABLES = new Set([...COMMON_AGENT_VARIABLES, ...RABBITMQ_AGENT_VARIABLES].map((variable) => variable.name));
const NATS_VARIABLES = new Set([...COMMON_AGENT_VARIABLES, ...NATS_AGENT_VARIABLES].map((variable) => variable.name));
/** What agent.env supplies, for parsing an agent's environment without it. */
const AGENT_ENV_PLACEHOLDERS: Record<string, string> = { CCM_AGENT_TENANT_IDS: '0190f0c2-0000-7000-8000-000000000001', CCM_AGENT_SUBSCRIBER_ID: '0190f0c2-0000-7000-8000-000000000002', CCM_AGENT_CCM_AUTHORIZATION: 'Bearer x' };

interface Mount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

function mountsOf(service: Json): Mount[] {
  return (service['volumes'] ?? []).map((volume: string | Json) => {
    if (typeof volume !== 'string') return { source: String(volume['source']), target: String(volume['target']), readOnly: volume['read_only'] === true };
    const [source, target, mode] = volume.split(':');
    return { source: source!, target: target ?? source!, readOnly: (mode ?? '').split(',').includes('ro') };
  });
}

/** Which mount a container path lies on (the deepest), and the path below it: "volume:sub/path", so paths in two containers can be compared. */
function placeOf(service: Json, path: string): { readonly mount: Mount; readonly where: string } | null {
  const mount = mountsOf(service)
    .filter((candidate) => path === candidate.target || path.startsWith(`${candidate.target.replace(/\/$/, '')}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
  return mount ? { mount, where: `${mount.source}:${path.slice(mount.target.length).replace(/^\//, '')}` } : null;
}

function settingsRead(script: string): Map<string, string | null> {
  return new Map([...script.matchAll(/setting\('([A-Z_]+)'(?:, '([^']*)')?\)/g)].map((match) => [match[1]!, match[2] ?? null]));
}

/** The KEY = value lines of a rabbitmq.conf (sysctl format), comments dropped. */
export function parseRabbitMqConf(text: string): Record<string, string> {
  const entries = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '')
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at).trim(), line.slice(at + 1).trim()] as [string, string];
    });
  return Object.fromEntries(entries);
}

/** What docker-compose.yml's RabbitMQ and NATS need of nats-server.conf: top-level settings, the tls block's, the authorization block's include. */
export function parseNatsServerConf(text: string): { readonly top: Record<string, string>; readonly tls: Record<string, string>; readonly authorizationIncludes: readonly string[] } {
  const lines = text.split('\n').map((line) => line.replace(/#.*$/, '').trim()).filter((line) => line !== '');
  const top: Record<string, string> = {};
  const tls: Record<string, string> = {};
  const authorizationIncludes: string[] = [];
  const blocks: string[] = [];
  for (const line of lines) {
    const opening = /^([A-Za-z_]+)\s*[:=]?\s*\{$/.exec(line);
    if (opening) blocks.push(opening[1]!);
    else if (line === '}') blocks.pop();
    else {
      const include = /^include\s+"([^"]+)"$/.exec(line);
      const setting = /^([A-Za-z_]+)\s*[:=]\s*(.+)$/.exec(line);
      const value = setting?.[2]!.trim().replace(/^"(.*)"$/, '$1');
      if (include && blocks.join('.') === 'authorization') authorizationIncludes.push(include[1]!);
      else if (setting && blocks.length === 0) top[setting[1]!] = value!;
      else if (setting && blocks.join('.') === 'tls') tls[setting[1]!] = value!;
    }
  }
  return { top, tls, authorizationIncludes };
}

/** A service's command as one line, whether written as a list or a string. */
function commandText(service: Json): string {
  const command = service['command'] ?? '';
  return Array.isArray(command) ? command.map(String).join(' ') : String(command);
}

function publishedContainerPorts(service: Json): number[] {
  return (service['ports'] ?? []).map((port: string | number) => Number(String(port).split(':').at(-1)!.split('/')[0]));
}

function dependsOn(service: Json, name: string, condition: string): boolean {
  const dependencies = service['depends_on'] ?? {};
  return Array.isArray(dependencies) ? condition === 'service_started' && dependencies.includes(name) : dependencies[name]?.['condition'] === condition;
}

/** A profile service and the stack: a service outside the profile may not need one inside it (compose refuses `up` without the profile). */
function profileProblems(services: Json): string[] {
  const problems: string[] = [];
  for (const name of BROKERS_PROFILE_SERVICES) {
    if (services[name] && !(services[name]['profiles'] ?? []).includes(BROKERS_PROFILE)) problems.push(`service ${name} is not in profile "${BROKERS_PROFILE}": a plain \`docker compose up\` would start it`);
  }
  for (const [name, service] of Object.entries(services) as Array<[string, Json]>) {
    if ((service['profiles'] ?? []).length > 0) continue;
    const dependencies = Array.isArray(service['depends_on']) ? service['depends_on'] : Object.keys(service['depends_on'] ?? {});
    for (const dependency of dependencies) if ((services[dependency]?.['profiles'] ?? []).length > 0) problems.push(`service ${name} (no profile) depends on ${dependency}, which only a profile starts`);
  }
  return problems;
}

interface BrokerSetup {
  readonly name: string;
  readonly service: Json;
  readonly environment: Record<string, string>;
  /** The volume BROKER_SETUP_DIR is. */
  readonly volume: string | null;
  /** The files setup.mjs writes into it. */
  readonly writes: ReadonlySet<string>;
}

/** A setup service of the profile: deploy/mosquitto/setup.mjs, then the broker's own script, both mounted where the command runs them. */
function brokerSetupProblems(name: string, setup: Json, ownScript: string, root: string): { problems: string[]; setup: BrokerSetup } {
  const problems: string[] = [];
  const environment = environmentOf(setup);
  const setupScript = readFileSync(join(root, BROKER_SETUP_SCRIPT), 'utf8');
  const reads = new Set([...settingsRead(setupScript).keys(), ...settingsRead(readFileSync(join(root, ownScript), 'utf8')).keys()]);
  for (const variable of Object.keys(environment)) if (!reads.has(variable)) problems.push(`${name} sets ${variable}, which neither ${BROKER_SETUP_SCRIPT} nor ${ownScript} reads`);
  const command = commandText(setup);
  for (const script of [BROKER_SETUP_SCRIPT, ownScript]) {
    if (!command.includes(`node ${script}`)) problems.push(`${name} does not run ${script}`);
    if (!mountsOf(setup).some((mount) => mount.source === `./${script}` && mount.target === `${IMAGE_WORKDIR}/${script}`)) problems.push(`${name} does not mount ./${script} at ${IMAGE_WORKDIR}/${script}, where its command runs it`);
  }
  const directory = environment['BROKER_SETUP_DIR'];
  const place = directory ? placeOf(setup, directory) : null;
  const volume = place && !place.mount.source.startsWith('.') && place.where === `${place.mount.source}:` ? place.mount.source : null;
  if (!volume) problems.push(`${name}: BROKER_SETUP_DIR ${directory} is not a volume it mounts`);
  const writes = new Set([...setupScript.matchAll(/put\('([^']+)'/g)].map((match) => match[1]!));
  return { problems, setup: { name, service: setup, environment, volume, writes } };
}

/** Each broker its own directory and event subscriber: agents sharing a subscriber would split its events. */
function setupsApartProblems(setups: ReadonlyArray<readonly [string, Json]>, root: string): string[] {
  const problems: string[] = [];
  const defaults = settingsRead(readFileSync(join(root, BROKER_SETUP_SCRIPT), 'utf8'));
  const seen = { names: new Map<string, string>(), volumes: new Map<string, string>() };
  for (const [service, setup] of setups) {
    const environment = environmentOf(setup);
    const subscriber = environment['BROKER_SETUP_NAME'] ?? defaults.get('BROKER_SETUP_NAME') ?? '';
    const directory = environment['BROKER_SETUP_DIR'];
    const volume = directory ? placeOf(setup, directory)?.mount.source : undefined;
    if (seen.names.has(subscriber)) problems.push(`${service} and ${seen.names.get(subscriber)} share the broker key and event subscriber "${subscriber}" (BROKER_SETUP_NAME)`);
    seen.names.set(subscriber, service);
    if (volume && seen.volumes.has(volume)) problems.push(`${service} and ${seen.volumes.get(volume)} write the same volume ${volume}`);
    if (volume) seen.volumes.set(volume, service);
  }
  return problems;
}

interface AgentCheck<S> {
  readonly problems: string[];
  readonly environment: Record<string, string>;
  /** null when the environment does not parse (a problem says why). */
  readonly parsed: { readonly configuration: AgentConfiguration; readonly settings: S } | null;
}

/**
 * An agent of the profile: its variables are the core's or its own, its
 * environment with agent.env parses with its parser, it runs its package's
 * bin as the owner of setup's files, sourcing the agent.env setup writes.
 */
function brokerAgentProblems<S>(
  name: string,
  agent: Json,
  setup: BrokerSetup,
  services: Json,
  own: { readonly package: string; readonly variables: ReadonlySet<string>; readonly listName: string; readonly parse: (read: EnvironmentReader) => S; readonly substitutes?: Record<string, string> },
  root: string,
): AgentCheck<S> {
  const problems: string[] = [];
  const environment = environmentOf(agent);
  const setupScript = readFileSync(join(root, BROKER_SETUP_SCRIPT), 'utf8');
  const written = [...setupScript.matchAll(/`(CCM_AGENT_[A-Z_]+)=/g)].map((match) => match[1]!);
  for (const variable of [...Object.keys(environment), ...written]) if (!own.variables.has(variable)) problems.push(`${name} is given ${variable}, which is in neither COMMON_AGENT_VARIABLES nor ${own.listName}`);
  let parsed: { configuration: AgentConfiguration; settings: S } | null = null;
  try {
    parsed = parseAgentConfiguration({ ...environment, ...Object.fromEntries(written.map((variable) => [variable, AGENT_ENV_PLACEHOLDERS[variable] ?? 'x'])), ...own.substitutes }, own.parse);
  } catch (error) {
    if (!(error instanceof AgentConfigurationError)) throw error;
    problems.push(`${name}'s environment (with agent.env) is not a valid configuration: ${error.message}`);
  }

  const setupMount = mountsOf(agent).find((mount) => mount.source === setup.volume);
  if (!setupMount) problems.push(`${name} does not mount its setup's volume ${setup.volume}`);
  const command = commandText(agent);
  if (setupMount && !command.includes(`. ${setupMount.target}/agent.env`)) problems.push(`${name}'s command does not source ${setupMount.target}/agent.env`);
  const bin = JSON.parse(readFileSync(join(root, 'packages', own.package, 'package.json'), 'utf8'))['bin']?.[`ccm-${own.package}`];
  if (!bin || !command.includes(`exec node packages/${own.package}/${bin}`)) problems.push(`${name} does not run the bin of @ccm/${own.package} (packages/${own.package}/${bin})`);
  if (agent['user'] !== setup.environment['BROKER_SETUP_OWNER']) problems.push(`${name} runs as ${agent['user']}, but its setup's files belong to BROKER_SETUP_OWNER ${setup.environment['BROKER_SETUP_OWNER']} (secrets mode 0600)`);
  if (!dependsOn(agent, setup.name, 'service_completed_successfully')) problems.push(`${name} does not wait for ${setup.name} to complete`);
  if (parsed) {
    for (const [variable, url] of [['CCM_AGENT_CCM_URL', parsed.configuration.ccm.url], ['CCM_AGENT_REDIS_URL', parsed.configuration.events.kind === 'redis' ? parsed.configuration.events.redisUrl : null]] as const) {
      if (url !== null && !(new URL(url).hostname in services)) problems.push(`${name}: ${variable} ${url} names no service of the stack`);
    }
    const health = parsed.configuration.health;
    if (!health) problems.push(`${name} has no health endpoint (CCM_AGENT_HEALTH_LISTEN=off) for its healthcheck`);
    else if (!JSON.stringify(agent['healthcheck']?.['test'] ?? []).includes(`127.0.0.1:${health.port}/readyz`)) problems.push(`${name}'s healthcheck does not ask /readyz on its CCM_AGENT_HEALTH_LISTEN port ${health.port}`);
  }
  return { problems, environment, parsed };
}

/** setup.mjs writes this file into the setup volume, and `service` reads it there at `path`. */
function setupFileProblem(label: string, service: Json, path: string | undefined, setup: BrokerSetup, file: string): string | null {
  const place = path ? placeOf(service, path) : null;
  return place?.where === `${setup.volume}:${file}` ? null : `${label} ${path} is not the ${file} its setup writes (volume ${setup.volume})`;
}

function rabbitMqProblems(services: Json, root: string): string[] {
  const names = { setup: 'rabbitmq-setup', broker: 'rabbitmq', agent: 'rabbitmq-agent' };
  if (!services[names.setup] || !services[names.broker] || !services[names.agent]) return [`profile "${BROKERS_PROFILE}" needs services ${Object.values(names).join(', ')}`];
  const broker = services[names.broker];
  const { problems, setup } = brokerSetupProblems(names.setup, services[names.setup], RABBITMQ_DEFINITIONS_SCRIPT, root);
  const scratch = mkdtempSync(join(tmpdir(), 'ccm-compose-check-'));
  let agent: AgentCheck<RabbitMqAgentSettings>;
  try {
    // The password file is setup's; the parser reads it, so it reads a stand-in (the path is checked below).
    const passwordFile = join(scratch, 'agent-password');
    writeFileSync(passwordFile, 'password\n');
    agent = brokerAgentProblems(names.agent, services[names.agent], setup, services, { package: 'rabbitmq-agent', variables: RABBITMQ_VARIABLES, listName: 'RABBITMQ_AGENT_VARIABLES', parse: parseRabbitMqAgentSettings, substitutes: { CCM_RABBITMQ_PASSWORD_FILE: passwordFile } }, root);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  problems.push(...agent.problems);

  if (!/^rabbitmq:3\.10[\w.-]*$/.test(String(broker['image']))) problems.push(`rabbitmq runs ${broker['image']}; packages/rabbitmq-agent is checked on RabbitMQ 3.10`);
  if (!broker['hostname']) problems.push('rabbitmq needs a fixed hostname: the node name (and so its data directory) follows it');
  if (!dependsOn(broker, names.setup, 'service_completed_successfully')) problems.push('rabbitmq does not wait for rabbitmq-setup to complete');
  if (setup.environment['BROKER_SETUP_OWNER'] !== RABBITMQ_IMAGE_USER) problems.push(`rabbitmq-setup's BROKER_SETUP_OWNER ${setup.environment['BROKER_SETUP_OWNER']} is not the rabbitmq image's user ${RABBITMQ_IMAGE_USER}`);
  if (setup.environment['BROKER_SETUP_AGENT_PASSWORD'] === 'no') problems.push('rabbitmq-setup makes no agent password, which definitions.mjs and the agent read');

  const confMount = mountsOf(broker).find((mount) => mount.source === './deploy/rabbitmq/rabbitmq.conf');
  if (confMount?.target !== RABBITMQ_DEFAULTS_FILE) problems.push(`rabbitmq must mount ./deploy/rabbitmq/rabbitmq.conf at ${RABBITMQ_DEFAULTS_FILE}, in place of the image's defaults (loopback_users.guest = false)`);
  const pluginsMount = mountsOf(broker).find((mount) => mount.source === './deploy/rabbitmq/enabled_plugins');
  if (pluginsMount?.target !== '/etc/rabbitmq/enabled_plugins') problems.push('rabbitmq must mount ./deploy/rabbitmq/enabled_plugins at /etc/rabbitmq/enabled_plugins');
  else {
    const plugins = readFileSync(join(root, pluginsMount.source), 'utf8').replace(/[[\].\s]/g, '').split(',');
    for (const plugin of ['rabbitmq_management', 'rabbitmq_mqtt']) if (!plugins.includes(plugin)) problems.push(`enabled_plugins does not enable ${plugin}`);
  }
  const conf = parseRabbitMqConf(readFileSync(join(root, 'deploy/rabbitmq/rabbitmq.conf'), 'utf8'));
  const required: Record<string, string> = {
    'mqtt.listeners.tcp': 'none',
    'mqtt.allow_anonymous': 'false',
    'mqtt.ssl_cert_login': 'true',
    ssl_cert_login_from: 'distinguished_name',
    'ssl_options.verify': 'verify_peer',
    'ssl_options.fail_if_no_peer_cert': 'true',
    'management.tcp.ip': '127.0.0.1',
    'default_permissions.configure': '^$',
    'default_permissions.write': '^$',
    'default_permissions.read': '^$',
  };
  for (const [key, value] of Object.entries(required)) if (conf[key] !== value) problems.push(`rabbitmq.conf ${key} is ${conf[key] ?? 'unset'}, not ${value}`);
  const tlsPort = Number(conf['mqtt.listeners.ssl.default']?.split(':').at(-1));
  const published = publishedContainerPorts(broker);
  if (!published.includes(tlsPort)) problems.push(`rabbitmq does not publish its MQTT TLS listener ${tlsPort}`);
  for (const port of published) if (port !== tlsPort) problems.push(`rabbitmq publishes container port ${port}, which is not its MQTT TLS listener ${tlsPort}`);
  for (const [key, file] of [['ssl_options.cacertfile', 'clients-ca.pem'], ['ssl_options.certfile', 'server.pem'], ['ssl_options.keyfile', 'server.key']] as const) {
    if (!setup.writes.has(file)) problems.push(`${BROKER_SETUP_SCRIPT} does not write ${file}`);
    const problem = setupFileProblem(`rabbitmq.conf ${key}`, broker, conf[key], setup, file);
    if (problem) problems.push(problem);
  }
  const definitions = setupFileProblem('rabbitmq.conf load_definitions', broker, conf['load_definitions'], setup, 'definitions.json');
  if (definitions) problems.push(definitions);
  if (!readFileSync(join(root, RABBITMQ_DEFINITIONS_SCRIPT), 'utf8').includes("join(directory, 'definitions.json')")) problems.push(`${RABBITMQ_DEFINITIONS_SCRIPT} does not write definitions.json`);

  if (services[names.agent]['network_mode'] !== `service:${names.broker}`) problems.push('rabbitmq-agent must share rabbitmq\'s network namespace (the management API is on its loopback)');
  if (agent.parsed) {
    const { settings } = agent.parsed;
    const management = new URL(settings.managementUrl);
    if (management.hostname !== '127.0.0.1' || Number(management.port || 80) !== Number(conf['management.tcp.port'] ?? 15672)) problems.push(`CCM_RABBITMQ_MANAGEMENT_URL ${settings.managementUrl} is not rabbitmq's management listener 127.0.0.1:${conf['management.tcp.port'] ?? 15672}`);
    const passwordProblem = setupFileProblem('CCM_RABBITMQ_PASSWORD_FILE', services[names.agent], agent.environment['CCM_RABBITMQ_PASSWORD_FILE'], setup, 'agent-password');
    if (passwordProblem) problems.push(passwordProblem);
    const definitionsUser = setup.environment['BROKER_SETUP_RABBITMQ_USERNAME'] ?? settingsRead(readFileSync(join(root, RABBITMQ_DEFINITIONS_SCRIPT), 'utf8')).get('BROKER_SETUP_RABBITMQ_USERNAME');
    if (definitionsUser !== settings.username) problems.push(`definitions.json makes management user ${definitionsUser}, the agent logs in as ${settings.username} (CCM_RABBITMQ_USERNAME)`);
    // definitions.mjs makes the vhost "/" only.
    const mqttVhost = conf['mqtt.vhost'] ?? '/';
    if (mqttVhost !== '/' || settings.vhost !== mqttVhost) problems.push(`the agent's CCM_RABBITMQ_VHOST ${settings.vhost} and rabbitmq.conf mqtt.vhost ${mqttVhost} must both be "/", the vhost definitions.json makes`);
  }
  return problems;
}

function natsProblems(services: Json, root: string): string[] {
  const names = { setup: 'nats-setup', broker: 'nats', agent: 'nats-agent' };
  if (!services[names.setup] || !services[names.broker] || !services[names.agent]) return [`profile "${BROKERS_PROFILE}" needs services ${Object.values(names).join(', ')}`];
  const broker = services[names.broker];
  const agentService = services[names.agent];
  const { problems, setup } = brokerSetupProblems(names.setup, services[names.setup], NATS_USERS_FILE_SCRIPT, root);
  const agent = brokerAgentProblems(names.agent, agentService, setup, services, { package: 'nats-agent', variables: NATS_VARIABLES, listName: 'NATS_AGENT_VARIABLES', parse: parseNatsAgentSettings }, root);
  problems.push(...agent.problems);

  if (!/^nats:2\.9[\w.-]*$/.test(String(broker['image']))) problems.push(`nats runs ${broker['image']}; packages/nats-agent is checked on nats-server 2.9`);
  if (!dependsOn(broker, names.setup, 'service_completed_successfully')) problems.push('nats does not wait for nats-setup (the users file must exist before nats-server starts)');
  if (broker['init'] !== true) problems.push('nats needs init: true (the agent refuses pid 1)');
  if (!broker['container_name'] || agentService['pid'] !== `container:${broker['container_name']}`) problems.push('nats-agent must share nats\'s pid namespace (pid: container:<its container_name>) to signal it');
  if (agentService['network_mode'] !== `service:${names.broker}`) problems.push('nats-agent must share nats\'s network namespace (monitoring is on its loopback)');
  for (const [label, user] of [['nats', broker['user']], ['nats-agent', agentService['user']]]) {
    if (user !== setup.environment['BROKER_SETUP_OWNER']) problems.push(`${label} runs as ${user}, not nats-setup's BROKER_SETUP_OWNER ${setup.environment['BROKER_SETUP_OWNER']} (nats-server reads the key, the agent signals nats-server and writes the users file)`);
  }

  const confMount = mountsOf(broker).find((mount) => mount.source === './deploy/nats/nats-server.conf');
  if (!confMount) return [...problems, 'nats does not mount ./deploy/nats/nats-server.conf'];
  const command: string[] = Array.isArray(broker['command']) ? broker['command'].map(String) : String(broker['command'] ?? '').split(/\s+/);
  const configFlag = command.findIndex((part) => part === '--config' || part === '-c');
  if (configFlag < 0 || command[configFlag + 1] !== confMount.target) problems.push(`nats's command does not run nats-server --config ${confMount.target}`);
  const conf = parseNatsServerConf(readFileSync(join(root, confMount.source), 'utf8'));
  if (conf.tls['verify_and_map'] !== 'true') problems.push('nats-server.conf tls has no verify_and_map: true');
  const listenPort = Number(conf.top['listen']?.split(':').at(-1));
  const published = publishedContainerPorts(broker);
  if (!published.includes(listenPort)) problems.push(`nats does not publish its client port ${listenPort}`);
  for (const port of published) if (port !== listenPort) problems.push(`nats publishes container port ${port}, which is not its client port ${listenPort}`);
  for (const [key, file] of [['ca_file', 'clients-ca.pem'], ['cert_file', 'server.pem'], ['key_file', 'server.key']] as const) {
    const problem = setupFileProblem(`nats-server.conf tls ${key}`, broker, conf.tls[key], setup, file);
    if (problem) problems.push(problem);
  }
  if (agent.parsed) {
    const { settings } = agent.parsed;
    const monitor = new URL(settings.monitorUrl);
    const http = conf.top['http'] ?? '';
    if (!http.startsWith('127.0.0.1:')) problems.push(`nats-server.conf http ${http} is not on loopback (monitoring has no authentication)`);
    if (monitor.hostname !== '127.0.0.1' || `127.0.0.1:${monitor.port || 80}` !== http) problems.push(`CCM_NATS_MONITOR_URL ${settings.monitorUrl} is not nats-server's monitoring listener ${http}`);

    const pidFile = conf.top['pid_file'];
    const serverPid = pidFile ? placeOf(broker, pidFile) : null;
    const agentPid = placeOf(agentService, settings.pidFile);
    if (!serverPid || serverPid.mount.readOnly || serverPid.mount.source.startsWith('.')) problems.push(`nats-server.conf pid_file ${pidFile} is not on a volume nats may write`);
    else if (serverPid.where !== agentPid?.where) problems.push(`CCM_NATS_PID_FILE ${settings.pidFile} is not the pid_file nats-server writes (${pidFile})`);

    if (conf.authorizationIncludes.length !== 1) problems.push(`nats-server.conf's authorization block must include the agent's users file, once (found ${conf.authorizationIncludes.length})`);
    else {
      // nats-server 2.9 joins even an absolute include path onto the configuration file's directory.
      const included = posix.join(posix.dirname(confMount.target), conf.authorizationIncludes[0]!);
      const serverUsers = placeOf(broker, included);
      const agentUsers = placeOf(agentService, settings.usersFile);
      const setupUsersPath = setup.environment['BROKER_SETUP_NATS_USERS_FILE'];
      const setupUsers = setupUsersPath ? placeOf(setup.service, setupUsersPath) : null;
      if (!agentUsers || agentUsers.mount.source.startsWith('.') || agentUsers.where !== serverUsers?.where) problems.push(`CCM_NATS_USERS_FILE ${settings.usersFile} is not the file nats-server includes (${included}) on a shared volume`);
      else if (agentUsers.mount.readOnly) problems.push(`nats-agent mounts the users file's volume ${agentUsers.mount.source} read-only`);
      if (setupUsers?.where !== serverUsers?.where) problems.push(`nats-setup's BROKER_SETUP_NATS_USERS_FILE ${setupUsersPath} is not the users file nats-server includes (${included})`);
    }
  }
  return problems;
}

function brokersProfileProblems(services: Json, root: string): string[] {
  const setups = [COMPOSE_BROKER_SETUP, 'rabbitmq-setup', 'nats-setup'].filter((name) => services[name]).map((name) => [name, services[name]] as const);
  return [...profileProblems(services), ...setupsApartProblems(setups, root), ...rabbitMqProblems(services, root), ...natsProblems(services, root)];
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
