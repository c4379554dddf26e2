/**
 * The variables every broker agent reads (CCM_AGENT_*), parsed and
 * validated once at start into a frozen object, together with the
 * adapter's own (CCM_<BROKER>_*): every problem of both is collected, so
 * one failed start names them all. COMMON_AGENT_VARIABLES is the single
 * list; each agent's README table is checked against it.
 */
import { EnvironmentReader, type Environment } from '@ccm/configuration';
import { AGENT_LOG_LEVELS, type AgentLogLevel } from './agent-log.js';

export interface AgentVariable {
  readonly name: string;
  readonly default: string | null;
  readonly description: string;
}

export const COMMON_AGENT_VARIABLES: readonly AgentVariable[] = [
  { name: 'CCM_AGENT_CCM_URL', default: null, description: 'Base URL of ccm, e.g. http://ccm:8080. Required.' },
  { name: 'CCM_AGENT_CCM_AUTHORIZATION', default: null, description: 'Value of the Authorization header sent with every request to ccm (an API key that may read the served tenants\' certificates), e.g. "Bearer <key>". Not sent when unset.' },
  { name: 'CCM_AGENT_TENANT_IDS', default: null, description: 'Comma-separated ids of the tenants whose devices connect to this broker. Required. Events of other tenants are ignored.' },
  { name: 'CCM_AGENT_REDIS_URL', default: null, description: 'Redis URL of ccm\'s event queues (redis://host:6379/0). When set, events are read from the subscriber\'s BullMQ queue; when unset, from ccm\'s HTTP feed GET /v1/events.' },
  { name: 'CCM_AGENT_SUBSCRIBER_ID', default: null, description: 'The id returned by POST /v1/event-subscribers for this broker. Required with CCM_AGENT_REDIS_URL.' },
  { name: 'CCM_AGENT_QUEUE_READ_AHEAD', default: '256', description: 'BullMQ queue only: events still waiting in the queue that the agent starts handling before BullMQ hands them out, read in one round trip each time it takes one (BullMQ hands out one job per Redis round trip, so a burst would otherwise arrive over a few hundred milliseconds). Each event is still acknowledged only once handled. 0 turns it off.' },
  { name: 'CCM_AGENT_CURSOR_FILE', default: null, description: 'HTTP feed only: file keeping the position of the last event handled, so a restart resumes there. Required without CCM_AGENT_REDIS_URL.' },
  { name: 'CCM_AGENT_FEED_WAIT_MS', default: '20000', description: 'HTTP feed only: how long ccm holds a feed request open waiting for the next event (long polling), in milliseconds, at most 30000; an event is handled within a round trip of its commit. 0 polls every CCM_AGENT_POLL_INTERVAL_MS instead.' },
  { name: 'CCM_AGENT_POLL_INTERVAL_MS', default: '1000', description: 'HTTP feed only: wait between polls once the feed is drained, in milliseconds, when CCM_AGENT_FEED_WAIT_MS is 0 (or ccm answers without waiting).' },
  { name: 'CCM_AGENT_EVENT_CONCURRENCY', default: '256', description: 'Events handled at once. Safe above 1: the agent acts on each certificate\'s current state, one certificate\'s events one at a time, and batches the broker calls of events in flight together. Keep it above the largest burst you expect.' },
  { name: 'CCM_AGENT_HTTP_TIMEOUT_MS', default: '5000', description: 'Timeout of one request to ccm, in milliseconds.' },
  { name: 'CCM_AGENT_RECONCILE_SECONDS', default: '300', description: 'How often the agent reads every certificate of the served tenants from ccm and enforces their state on the broker (also at start, and when the broker or the event source comes back after an outage).' },
  { name: 'CCM_AGENT_DISCOVERY_SECONDS', default: '5', description: 'How often the agent asks ccm for certificates issued since the last it saw, so that brokers that admit only known identities (RabbitMQ, NATS) let a new device in.' },
  { name: 'CCM_AGENT_BROKER_RETRY_MS', default: '100,250,500,1000,2000,5000', description: 'Waits between attempts of a failed broker call, in milliseconds; after the last, the event fails and its queue retries it.' },
  { name: 'CCM_AGENT_HEALTH_LISTEN', default: '127.0.0.1:9464', description: 'host:port of the agent\'s HTTP endpoint: GET /healthz (alive), /readyz (reconciled, broker and event source reachable), /metrics (Prometheus). "off" for none.' },
  { name: 'CCM_AGENT_LOG_LEVEL', default: 'info', description: 'One of error, warn, info, debug. Logs are JSON lines on stderr.' },
];

export type EventSourceConfiguration =
  | { readonly kind: 'redis'; readonly redisUrl: string; readonly subscriberId: string; readonly readAhead: number }
  | { readonly kind: 'http-feed'; readonly cursorFile: string; readonly waitMs: number; readonly pollIntervalMs: number };

export interface AgentConfiguration {
  readonly ccm: { readonly url: string; readonly authorization: string | null; readonly timeoutMs: number };
  readonly tenantIds: readonly string[];
  readonly events: EventSourceConfiguration;
  readonly eventConcurrency: number;
  readonly reconcileMs: number;
  readonly discoveryMs: number;
  readonly brokerRetryDelaysMs: readonly number[];
  /** null: no health endpoint. */
  readonly health: { readonly host: string; readonly port: number } | null;
  readonly logLevel: AgentLogLevel;
}

export class AgentConfigurationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'AgentConfigurationError';
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The common configuration and the adapter's settings, or an AgentConfigurationError naming every bad variable of both. */
export function parseAgentConfiguration<S>(env: Environment, parseAdapter: (read: EnvironmentReader) => S): { configuration: AgentConfiguration; settings: S } {
  const read = new EnvironmentReader(env);
  const ccmUrl = read.url('CCM_AGENT_CCM_URL', read.required('CCM_AGENT_CCM_URL').replace(/\/+$/, ''), ['http:', 'https:']);
  const tenantIds = read
    .required('CCM_AGENT_TENANT_IDS')
    .split(',')
    .map((id) => id.trim().toLowerCase())
    .filter((id) => id !== '');
  for (const id of tenantIds) if (!UUID.test(id)) read.problems.push(`CCM_AGENT_TENANT_IDS must list tenant ids (UUIDs), got "${id}"`);
  if (new Set(tenantIds).size !== tenantIds.length) read.problems.push('CCM_AGENT_TENANT_IDS lists a tenant twice');

  const redisUrl = read.optional('CCM_AGENT_REDIS_URL');
  let events: EventSourceConfiguration;
  if (redisUrl) {
    read.url('CCM_AGENT_REDIS_URL', redisUrl, ['redis:', 'rediss:']);
    const subscriberId = read.required('CCM_AGENT_SUBSCRIBER_ID', 'when CCM_AGENT_REDIS_URL is set (POST /v1/event-subscribers returns it)');
    if (subscriberId && !UUID.test(subscriberId)) read.problems.push(`CCM_AGENT_SUBSCRIBER_ID must be a subscriber id (UUID), got "${subscriberId}"`);
    events = { kind: 'redis', redisUrl, subscriberId, readAhead: read.integer('CCM_AGENT_QUEUE_READ_AHEAD', 256, 0, 4096) };
  } else {
    events = {
      kind: 'http-feed',
      cursorFile: read.required('CCM_AGENT_CURSOR_FILE', 'when CCM_AGENT_REDIS_URL is unset (the HTTP feed position is kept there)'),
      waitMs: read.integer('CCM_AGENT_FEED_WAIT_MS', 20_000, 0, 30_000),
      pollIntervalMs: read.integer('CCM_AGENT_POLL_INTERVAL_MS', 1000, 50, 3_600_000),
    };
  }

  const retryRaw = read.string('CCM_AGENT_BROKER_RETRY_MS', '100,250,500,1000,2000,5000');
  const brokerRetryDelaysMs = retryRaw.split(',').map((part) => part.trim());
  if (brokerRetryDelaysMs.some((part) => !/^\d+$/.test(part) || Number(part) > 600_000)) read.problems.push(`CCM_AGENT_BROKER_RETRY_MS must be comma-separated milliseconds up to 600000, got "${retryRaw}"`);

  const listen = read.string('CCM_AGENT_HEALTH_LISTEN', '127.0.0.1:9464');
  let health: AgentConfiguration['health'] = null;
  if (listen !== 'off') {
    const match = /^(.+):(\d{1,5})$/.exec(listen);
    if (!match || Number(match[2]) > 65535) read.problems.push(`CCM_AGENT_HEALTH_LISTEN must be host:port or off, got "${listen}"`);
    else health = { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]) };
  }

  const configuration: AgentConfiguration = {
    ccm: { url: ccmUrl, authorization: read.optional('CCM_AGENT_CCM_AUTHORIZATION') ?? null, timeoutMs: read.integer('CCM_AGENT_HTTP_TIMEOUT_MS', 5000, 100, 120_000) },
    tenantIds,
    events,
    eventConcurrency: read.integer('CCM_AGENT_EVENT_CONCURRENCY', 256, 1, 4096),
    reconcileMs: read.integer('CCM_AGENT_RECONCILE_SECONDS', 300, 5, 86_400) * 1000,
    discoveryMs: read.integer('CCM_AGENT_DISCOVERY_SECONDS', 5, 1, 3600) * 1000,
    brokerRetryDelaysMs: brokerRetryDelaysMs.map(Number),
    health,
    logLevel: read.oneOf<AgentLogLevel>('CCM_AGENT_LOG_LEVEL', AGENT_LOG_LEVELS, 'info'),
  };
  const settings = parseAdapter(read);
  if (read.problems.length > 0) throw new AgentConfigurationError(read.problems);
  return { configuration: deepFreeze(configuration), settings };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
