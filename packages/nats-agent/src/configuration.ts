/**
 * The NATS agent's own variables (CCM_NATS_*): the reference list shown by
 * --help and in the README, and their parser, which collects every problem
 * on the shared EnvironmentReader so that one failed start names them all.
 */
import type { AgentVariable, EnvironmentReader } from '@ccm/broker-agent';
import { DEFAULT_DEVICE_PERMISSIONS, parseDevicePermissionsJson, parseSubjectList, type DevicePermissions } from './device-permissions.js';
import type { NatsAdapterSettings } from './nats-adapter.js';

export const NATS_AGENT_VARIABLES: readonly AgentVariable[] = [
  { name: 'CCM_NATS_USERS_FILE', default: null, description: 'The users file nats-server includes (include "ccm-users.conf" inside its authorization { } or an account block; nats-server resolves the path against its configuration file\'s directory, even an absolute one). The agent owns it whole and replaces it atomically; its directory must be writable by the agent. Required.' },
  { name: 'CCM_NATS_PID_FILE', default: null, description: 'nats-server\'s pid_file: the agent sends SIGHUP to that pid to reload (so it runs on the server\'s host, as its user or root). Required.' },
  { name: 'CCM_NATS_MONITOR_URL', default: 'http://127.0.0.1:8222', description: 'nats-server\'s monitoring endpoint (http: 127.0.0.1:8222 in its configuration, on loopback): /varz confirms reloads, /connz?auth=true lists who is connected.' },
  { name: 'CCM_NATS_DEVICE_PERMISSIONS', default: JSON.stringify(DEFAULT_DEVICE_PERMISSIONS), description: 'Permissions of every device user, as JSON in nats-server\'s shape: {"publish": {"allow": [...], "deny": [...]}, "subscribe": {...}, "allow_responses": true}. "none" writes no permissions (the account\'s defaults). Not with CCM_NATS_DEVICE_PUBLISH/SUBSCRIBE.' },
  { name: 'CCM_NATS_DEVICE_PUBLISH', default: null, description: 'Instead of CCM_NATS_DEVICE_PERMISSIONS: comma-separated subjects devices may publish to (allow list). Needs CCM_NATS_DEVICE_SUBSCRIBE too.' },
  { name: 'CCM_NATS_DEVICE_SUBSCRIBE', default: null, description: 'Instead of CCM_NATS_DEVICE_PERMISSIONS: comma-separated subjects devices may subscribe to (allow list; "subject queue" for a queue group). Needs CCM_NATS_DEVICE_PUBLISH too.' },
  { name: 'CCM_NATS_RELOAD_TIMEOUT_MS', default: '5000', description: 'How long nats-server may take to confirm a reload (config_load_time in /varz) before the call fails and is retried, in milliseconds.' },
  { name: 'CCM_NATS_SESSION_CLOSE_TIMEOUT_MS', default: '5000', description: 'How long the connections of shut-out devices may stay open after the reload before the call fails and is retried, in milliseconds.' },
  { name: 'CCM_NATS_SYSTEM_URL', default: null, description: 'nats-server 2.10+: client URL (tls://127.0.0.1:4222) for a system-account user, to close lingering connections with $SYS.REQ.SERVER.<id>.KICK. Unset: the reload alone closes them (the only way on 2.9).' },
  { name: 'CCM_NATS_SYSTEM_CERT_FILE', default: null, description: 'With CCM_NATS_SYSTEM_URL: PEM client certificate mapped (verify_and_map) to a user of the system account.' },
  { name: 'CCM_NATS_SYSTEM_KEY_FILE', default: null, description: 'With CCM_NATS_SYSTEM_URL: its PEM private key.' },
  { name: 'CCM_NATS_SYSTEM_CA_FILE', default: null, description: 'With CCM_NATS_SYSTEM_URL: PEM CA certificate(s) that issued nats-server\'s own certificate.' },
];

export type NatsAgentSettings = NatsAdapterSettings;

export function parseNatsAgentSettings(read: EnvironmentReader): NatsAgentSettings {
  const usersFile = read.required('CCM_NATS_USERS_FILE', '(the file nats-server includes in its authorization block)');
  const pidFile = read.required('CCM_NATS_PID_FILE', '(nats-server\'s pid_file)');
  const monitorUrl = read.url('CCM_NATS_MONITOR_URL', read.string('CCM_NATS_MONITOR_URL', 'http://127.0.0.1:8222').replace(/\/+$/, ''), ['http:', 'https:']);
  const permissions = readPermissions(read);
  const reloadTimeoutMs = read.integer('CCM_NATS_RELOAD_TIMEOUT_MS', 5000, 100, 600_000);
  const sessionCloseTimeoutMs = read.integer('CCM_NATS_SESSION_CLOSE_TIMEOUT_MS', 5000, 100, 600_000);

  const systemUrl = read.optional('CCM_NATS_SYSTEM_URL');
  let systemAccount: NatsAdapterSettings['systemAccount'] = null;
  if (systemUrl !== undefined) {
    read.url('CCM_NATS_SYSTEM_URL', systemUrl, ['nats:', 'tls:']);
    const why = 'when CCM_NATS_SYSTEM_URL is set';
    systemAccount = {
      url: systemUrl,
      certFile: read.required('CCM_NATS_SYSTEM_CERT_FILE', why),
      keyFile: read.required('CCM_NATS_SYSTEM_KEY_FILE', why),
      caFile: read.required('CCM_NATS_SYSTEM_CA_FILE', why),
    };
  } else {
    for (const name of ['CCM_NATS_SYSTEM_CERT_FILE', 'CCM_NATS_SYSTEM_KEY_FILE', 'CCM_NATS_SYSTEM_CA_FILE']) {
      if (read.optional(name) !== undefined) read.problems.push(`${name} is set but CCM_NATS_SYSTEM_URL is not`);
    }
  }
  return Object.freeze({ usersFile, pidFile, monitorUrl, permissions, reloadTimeoutMs, sessionCloseTimeoutMs, systemAccount });
}

function readPermissions(read: EnvironmentReader): DevicePermissions | null {
  const json = read.optional('CCM_NATS_DEVICE_PERMISSIONS');
  const publish = read.optional('CCM_NATS_DEVICE_PUBLISH');
  const subscribe = read.optional('CCM_NATS_DEVICE_SUBSCRIBE');
  if (json !== undefined) {
    if (publish !== undefined || subscribe !== undefined) {
      read.problems.push('CCM_NATS_DEVICE_PERMISSIONS and CCM_NATS_DEVICE_PUBLISH/SUBSCRIBE are alternatives: set one');
      return DEFAULT_DEVICE_PERMISSIONS;
    }
    if (json === 'none') return null;
    const parsed = parseDevicePermissionsJson(json, 'CCM_NATS_DEVICE_PERMISSIONS');
    if ('problems' in parsed) {
      read.problems.push(...parsed.problems);
      return DEFAULT_DEVICE_PERMISSIONS;
    }
    return parsed.permissions;
  }
  if (publish === undefined && subscribe === undefined) return DEFAULT_DEVICE_PERMISSIONS;
  if (publish === undefined || subscribe === undefined) {
    read.problems.push('CCM_NATS_DEVICE_PUBLISH and CCM_NATS_DEVICE_SUBSCRIBE go together (an unset one would allow nothing)');
    return DEFAULT_DEVICE_PERMISSIONS;
  }
  const allowedPublish = parseSubjectList(publish, 'CCM_NATS_DEVICE_PUBLISH', false);
  const allowedSubscribe = parseSubjectList(subscribe, 'CCM_NATS_DEVICE_SUBSCRIBE', true);
  if ('problems' in allowedPublish) read.problems.push(...allowedPublish.problems);
  if ('problems' in allowedSubscribe) read.problems.push(...allowedSubscribe.problems);
  if ('problems' in allowedPublish || 'problems' in allowedSubscribe) return DEFAULT_DEVICE_PERMISSIONS;
  return { publish: { allow: allowedPublish.allow }, subscribe: { allow: allowedSubscribe.allow }, allow_responses: true };
}
