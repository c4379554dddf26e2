/**
 * The Mosquitto agent's configuration: every environment variable it reads,
 * parsed and validated once at start into a frozen, typed object. Every
 * problem is collected so one failed start names them all (main exits with
 * code 2). AGENT_CONFIGURATION_REFERENCE is the single list of variables;
 * a unit test holds the README against it.
 */
import { readFileSync } from 'node:fs';
import { EnvironmentReader, type Environment } from '../config/environment-reader.js';

export interface AgentVariable {
  readonly name: string;
  readonly default: string | null;
  readonly description: string;
}

export const AGENT_CONFIGURATION_REFERENCE: readonly AgentVariable[] = [
  { name: 'CCM_AGENT_CCM_URL', default: null, description: 'Base URL of ccm, e.g. http://ccm:8080. Required.' },
  { name: 'CCM_AGENT_CCM_AUTHORIZATION', default: null, description: 'Value of the Authorization header sent with every request to ccm (for an API key), e.g. "Bearer <key>". Not sent when unset.' },
  { name: 'CCM_AGENT_TENANT_IDS', default: null, description: 'Comma-separated ids of the tenants whose devices connect to this broker. Required. Their CRLs make up the crlfile; events of other tenants are ignored.' },
  { name: 'CCM_AGENT_CRL_FILE', default: null, description: 'The file named by `crlfile` in mosquitto.conf. Required. Replaced atomically (temp file + rename in the same directory), mode 0644.' },
  { name: 'CCM_AGENT_MOSQUITTO_PID_FILE', default: null, description: 'File holding the pid of Mosquitto (read at every reload, so a restarted broker is found). One of this or CCM_AGENT_MOSQUITTO_PID is required.' },
  { name: 'CCM_AGENT_MOSQUITTO_PID', default: null, description: 'The pid of Mosquitto, when it does not write a pid file.' },
  { name: 'CCM_AGENT_MQTT_URL', default: 'mqtt://127.0.0.1:1883', description: 'Mosquitto listener the agent connects to as the dynamic-security admin (a loopback listener without client certificates).' },
  { name: 'CCM_AGENT_MQTT_USERNAME', default: null, description: 'Dynamic-security user allowed to publish to $CONTROL/dynamic-security/v1 (the user made by `mosquitto_ctrl dynsec init`). Required.' },
  { name: 'CCM_AGENT_MQTT_PASSWORD', default: null, description: 'Its password. One of this or CCM_AGENT_MQTT_PASSWORD_FILE is required.' },
  { name: 'CCM_AGENT_MQTT_PASSWORD_FILE', default: null, description: 'File holding that password (trailing newline ignored).' },
  { name: 'CCM_AGENT_REDIS_URL', default: null, description: 'Redis URL of ccm\'s event queues (redis://host:6379/0). When set, events are read from the subscriber\'s BullMQ queue; when unset, from ccm\'s HTTP feed GET /v1/events.' },
  { name: 'CCM_AGENT_SUBSCRIBER_ID', default: null, description: 'The id returned by POST /v1/event-subscribers for this broker. Required with CCM_AGENT_REDIS_URL.' },
  { name: 'CCM_AGENT_CURSOR_FILE', default: null, description: 'HTTP feed only: file keeping the position of the last event handled, so a restart resumes there. Required without CCM_AGENT_REDIS_URL.' },
  { name: 'CCM_AGENT_POLL_INTERVAL_MS', default: '1000', description: 'HTTP feed only: wait between polls once the feed is drained, in milliseconds.' },
  { name: 'CCM_AGENT_EVENT_CONCURRENCY', default: '256', description: 'Events handled at once. Safe above 1: the agent acts on each certificate\'s current state and handles one certificate\'s events one at a time; CRL writes and dynsec commands of events in flight together are coalesced, so a burst costs a few reloads rather than one per device. Keep it above the largest burst you expect: events beyond it wait on the queue for a whole round of CRL read, reload and kick.' },
  { name: 'CCM_AGENT_CRL_REFRESH_SECONDS', default: '3600', description: 'How often every CRL is fetched again, in seconds. ccm sets nextUpdate 24 h ahead; keep this far below that.' },
  { name: 'CCM_AGENT_CRL_MIN_VALIDITY_SECONDS', default: '600', description: 'A CRL whose nextUpdate is closer than this (or past) is never installed: an expired CRL makes Mosquitto refuse every device of that CA.' },
  { name: 'CCM_AGENT_REKICK_DELAYS_MS', default: '250,1000', description: 'After a suspension or revocation the session is kicked at once and again after each of these delays (milliseconds after the first kick), in case the device got back in before Mosquitto applied the new CRL. Empty for none.' },
  { name: 'CCM_AGENT_HTTP_TIMEOUT_MS', default: '5000', description: 'Timeout of one request to ccm, in milliseconds.' },
  { name: 'CCM_AGENT_CONTROL_TIMEOUT_MS', default: '5000', description: 'How long to wait for Mosquitto to answer a dynamic-security command, in milliseconds.' },
  { name: 'CCM_AGENT_LOG_LEVEL', default: 'info', description: 'One of error, warn, info, debug. Logs are JSON lines on stderr.' },
];

export type AgentLogLevel = 'error' | 'warn' | 'info' | 'debug';

export type EventSourceConfiguration =
  | { readonly kind: 'redis'; readonly redisUrl: string; readonly subscriberId: string }
  | { readonly kind: 'http-feed'; readonly cursorFile: string; readonly pollIntervalMs: number };

export interface AgentConfiguration {
  readonly ccm: { readonly url: string; readonly authorization: string | null; readonly timeoutMs: number };
  readonly tenantIds: readonly string[];
  readonly crlFile: string;
  readonly mosquittoPid: { readonly kind: 'file'; readonly path: string } | { readonly kind: 'pid'; readonly pid: number };
  readonly mqtt: { readonly url: string; readonly username: string; readonly password: string; readonly controlTimeoutMs: number };
  readonly events: EventSourceConfiguration;
  readonly eventConcurrency: number;
  readonly crlRefreshMs: number;
  readonly crlMinimumValidityMs: number;
  readonly rekickDelaysMs: readonly number[];
  readonly logLevel: AgentLogLevel;
}

export class AgentConfigurationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'AgentConfigurationError';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseAgentConfiguration(env: Environment = process.env): AgentConfiguration {
  const read = new EnvironmentReader(env);

  const ccmUrl = read.url('CCM_AGENT_CCM_URL', read.required('CCM_AGENT_CCM_URL').replace(/\/+$/, ''), ['http:', 'https:']);
  const authorization = read.optional('CCM_AGENT_CCM_AUTHORIZATION') ?? null;

  const tenantIds = (read.required('CCM_AGENT_TENANT_IDS') || '')
    .split(',')
    .map((id) => id.trim().toLowerCase())
    .filter((id) => id !== '');
  for (const id of tenantIds) if (!UUID.test(id)) read.problems.push(`CCM_AGENT_TENANT_IDS must list tenant ids (UUIDs), got "${id}"`);
  if (new Set(tenantIds).size !== tenantIds.length) read.problems.push('CCM_AGENT_TENANT_IDS lists a tenant twice');

  const crlFile = read.required('CCM_AGENT_CRL_FILE', '(the crlfile named in mosquitto.conf)');

  const pidFile = read.optional('CCM_AGENT_MOSQUITTO_PID_FILE');
  const pidValue = read.optional('CCM_AGENT_MOSQUITTO_PID');
  let mosquittoPid: AgentConfiguration['mosquittoPid'] = { kind: 'file', path: '' };
  if (pidFile && pidValue) read.problems.push('set only one of CCM_AGENT_MOSQUITTO_PID_FILE and CCM_AGENT_MOSQUITTO_PID');
  else if (pidFile) mosquittoPid = { kind: 'file', path: pidFile };
  else if (pidValue) mosquittoPid = { kind: 'pid', pid: read.integer('CCM_AGENT_MOSQUITTO_PID', 0, 2, 4_194_304) };
  else read.problems.push('CCM_AGENT_MOSQUITTO_PID_FILE or CCM_AGENT_MOSQUITTO_PID is required (the agent signals Mosquitto to reload its CRL)');

  const mqttUrl = read.url('CCM_AGENT_MQTT_URL', read.optional('CCM_AGENT_MQTT_URL') ?? 'mqtt://127.0.0.1:1883', ['mqtt:', 'mqtts:', 'ws:', 'wss:']);
  const username = read.required('CCM_AGENT_MQTT_USERNAME', '(the dynamic-security admin user)');
  const password = readPassword(read);

  const redisUrl = read.optional('CCM_AGENT_REDIS_URL');
  let events: EventSourceConfiguration;
  if (redisUrl) {
    read.url('CCM_AGENT_REDIS_URL', redisUrl, ['redis:', 'rediss:']);
    const subscriberId = read.required('CCM_AGENT_SUBSCRIBER_ID', 'when CCM_AGENT_REDIS_URL is set (POST /v1/event-subscribers returns it)');
    if (subscriberId && !UUID.test(subscriberId)) read.problems.push(`CCM_AGENT_SUBSCRIBER_ID must be a subscriber id (UUID), got "${subscriberId}"`);
    events = { kind: 'redis', redisUrl, subscriberId };
  } else {
    events = {
      kind: 'http-feed',
      cursorFile: read.required('CCM_AGENT_CURSOR_FILE', 'when CCM_AGENT_REDIS_URL is unset (the HTTP feed position is kept there)'),
      pollIntervalMs: read.integer('CCM_AGENT_POLL_INTERVAL_MS', 1000, 50, 3_600_000),
    };
  }

  const crlRefreshSeconds = read.integer('CCM_AGENT_CRL_REFRESH_SECONDS', 3600, 10, 43_200);
  const minimumValiditySeconds = read.integer('CCM_AGENT_CRL_MIN_VALIDITY_SECONDS', 600, 0, 86_400);

  const rekickRaw = env['CCM_AGENT_REKICK_DELAYS_MS'];
  const rekickDelaysMs: number[] = [];
  for (const part of (rekickRaw ?? '250,1000').split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    if (!/^\d+$/.test(part) || Number(part) > 60_000) read.problems.push(`CCM_AGENT_REKICK_DELAYS_MS must be comma-separated milliseconds up to 60000, got "${rekickRaw}"`);
    else rekickDelaysMs.push(Number(part));
  }

  const logLevel = read.oneOf<AgentLogLevel>('CCM_AGENT_LOG_LEVEL', ['error', 'warn', 'info', 'debug'], 'info');

  const configuration: AgentConfiguration = {
    ccm: { url: ccmUrl, authorization, timeoutMs: read.integer('CCM_AGENT_HTTP_TIMEOUT_MS', 5000, 100, 120_000) },
    tenantIds,
    crlFile,
    mosquittoPid,
    mqtt: { url: mqttUrl, username, password, controlTimeoutMs: read.integer('CCM_AGENT_CONTROL_TIMEOUT_MS', 5000, 100, 120_000) },
    events,
    eventConcurrency: read.integer('CCM_AGENT_EVENT_CONCURRENCY', 256, 1, 4096),
    crlRefreshMs: crlRefreshSeconds * 1000,
    crlMinimumValidityMs: minimumValiditySeconds * 1000,
    rekickDelaysMs: rekickDelaysMs.sort((a, b) => a - b),
    logLevel,
  };
  if (read.problems.length > 0) throw new AgentConfigurationError(read.problems);
  return deepFreeze(configuration);
}

function readPassword(read: EnvironmentReader): string {
  const inline = read.optional('CCM_AGENT_MQTT_PASSWORD');
  const file = read.optional('CCM_AGENT_MQTT_PASSWORD_FILE');
  if (inline && file) {
    read.problems.push('set only one of CCM_AGENT_MQTT_PASSWORD and CCM_AGENT_MQTT_PASSWORD_FILE');
    return '';
  }
  if (inline) return inline;
  if (file) {
    try {
      const password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      if (password === '') read.problems.push(`CCM_AGENT_MQTT_PASSWORD_FILE ${file} is empty`);
      return password;
    } catch (error) {
      read.problems.push(`CCM_AGENT_MQTT_PASSWORD_FILE ${file} cannot be read: ${(error as Error).message}`);
      return '';
    }
  }
  read.problems.push('CCM_AGENT_MQTT_PASSWORD or CCM_AGENT_MQTT_PASSWORD_FILE is required');
  return '';
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
