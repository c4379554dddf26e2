/**
 * The Mosquitto adapter's own variables (CCM_MOSQUITTO_*): where the crlfile
 * and the broker's pid are, how to reach the dynamic-security admin
 * listener, and the CRL and re-kick timings. Parsed once at start by
 * runAgentMain together with the core's CCM_AGENT_* ones, every problem
 * collected so one failed start names them all. MOSQUITTO_AGENT_VARIABLES is
 * the single list; a unit test holds the README's table against it.
 */
import type { AgentVariable, EnvironmentReader } from '@ccm/broker-agent';
import type { PidLocation } from './process-signaller.js';

export const MOSQUITTO_AGENT_VARIABLES: readonly AgentVariable[] = [
  { name: 'CCM_MOSQUITTO_CRL_FILE', default: null, description: 'The file named by `crlfile` in mosquitto.conf. Required. Replaced atomically (temp file + rename in the same directory), mode 0644; the agent keeps a note of what Mosquitto was last told to read beside it (`.<name>.reloaded`), so the directory must be writable.' },
  { name: 'CCM_MOSQUITTO_PID_FILE', default: null, description: 'File holding the pid of Mosquitto (`pid_file` in mosquitto.conf; read at every reload, so a restarted broker is found). One of this or CCM_MOSQUITTO_PID is required.' },
  { name: 'CCM_MOSQUITTO_PID', default: null, description: 'The pid of Mosquitto, when it does not write a pid file.' },
  { name: 'CCM_MOSQUITTO_MQTT_URL', default: 'mqtt://127.0.0.1:1883', description: 'Mosquitto listener the agent connects to as the dynamic-security admin (a loopback listener without client certificates).' },
  { name: 'CCM_MOSQUITTO_USERNAME', default: null, description: 'Dynamic-security user allowed to publish to $CONTROL/dynamic-security/v1 (the user made by `mosquitto_ctrl dynsec init`). Required.' },
  { name: 'CCM_MOSQUITTO_PASSWORD', default: null, description: 'Its password. One of this or CCM_MOSQUITTO_PASSWORD_FILE is required.' },
  { name: 'CCM_MOSQUITTO_PASSWORD_FILE', default: null, description: 'File holding that password (trailing newline ignored).' },
  { name: 'CCM_MOSQUITTO_CRL_REFRESH_SECONDS', default: '3600', description: 'How often every CRL is fetched again, in seconds. ccm sets nextUpdate 24 h ahead; keep this far below that.' },
  { name: 'CCM_MOSQUITTO_CRL_MIN_VALIDITY_SECONDS', default: '600', description: 'A CRL whose nextUpdate is closer than this (or past) is never installed: an expired CRL makes Mosquitto refuse every device of that CA.' },
  { name: 'CCM_MOSQUITTO_REKICK_DELAYS_MS', default: '250,1000', description: 'After a device is shut out its session is kicked at once and again after each of these delays (milliseconds after the first kick), in case it got back in before Mosquitto applied the new CRL. "none" for no re-kicks.' },
  { name: 'CCM_MOSQUITTO_CONTROL_TIMEOUT_MS', default: '5000', description: 'How long to wait for Mosquitto to answer a dynamic-security command, in milliseconds.' },
];

export interface MosquittoSettings {
  readonly crlFile: string;
  readonly mosquittoPid: PidLocation;
  readonly mqtt: { readonly url: string; readonly username: string; readonly password: string; readonly controlTimeoutMs: number };
  readonly crlRefreshMs: number;
  readonly crlMinimumValidityMs: number;
  /** Sorted, ascending. */
  readonly rekickDelaysMs: readonly number[];
}

/** The adapter's settings; problems go on read.problems (runAgentMain reports them with the core's, and exits 2). */
export function parseMosquittoSettings(read: EnvironmentReader): MosquittoSettings {
  const crlFile = read.required('CCM_MOSQUITTO_CRL_FILE', '(the crlfile named in mosquitto.conf)');

  const pidFile = read.optional('CCM_MOSQUITTO_PID_FILE');
  const pidValue = read.optional('CCM_MOSQUITTO_PID');
  let mosquittoPid: PidLocation = { kind: 'file', path: '' };
  if (pidFile && pidValue) read.problems.push('set only one of CCM_MOSQUITTO_PID_FILE and CCM_MOSQUITTO_PID');
  else if (pidFile) mosquittoPid = { kind: 'file', path: pidFile };
  else if (pidValue) mosquittoPid = { kind: 'pid', pid: read.integer('CCM_MOSQUITTO_PID', 0, 2, 4_194_304) };
  else read.problems.push('CCM_MOSQUITTO_PID_FILE or CCM_MOSQUITTO_PID is required (the agent signals Mosquitto to reload its CRL)');

  const url = read.url('CCM_MOSQUITTO_MQTT_URL', read.string('CCM_MOSQUITTO_MQTT_URL', 'mqtt://127.0.0.1:1883'), ['mqtt:', 'mqtts:', 'ws:', 'wss:']);
  const username = read.required('CCM_MOSQUITTO_USERNAME', '(the dynamic-security admin user)');
  const password = read.secret('CCM_MOSQUITTO_PASSWORD');
  const controlTimeoutMs = read.integer('CCM_MOSQUITTO_CONTROL_TIMEOUT_MS', 5000, 100, 120_000);

  const crlRefreshSeconds = read.integer('CCM_MOSQUITTO_CRL_REFRESH_SECONDS', 3600, 10, 43_200);
  const minimumValiditySeconds = read.integer('CCM_MOSQUITTO_CRL_MIN_VALIDITY_SECONDS', 600, 0, 86_400);

  const rekickRaw = read.string('CCM_MOSQUITTO_REKICK_DELAYS_MS', '250,1000');
  const rekickDelaysMs: number[] = [];
  if (rekickRaw !== 'none') {
    for (const part of rekickRaw.split(',').map((p) => p.trim())) {
      if (!/^\d+$/.test(part) || Number(part) > 60_000) {
        read.problems.push(`CCM_MOSQUITTO_REKICK_DELAYS_MS must be comma-separated milliseconds up to 60000, or none, got "${rekickRaw}"`);
        break;
      }
      rekickDelaysMs.push(Number(part));
    }
  }

  return {
    crlFile,
    mosquittoPid,
    mqtt: { url, username, password, controlTimeoutMs },
    crlRefreshMs: crlRefreshSeconds * 1000,
    crlMinimumValidityMs: minimumValiditySeconds * 1000,
    rekickDelaysMs: rekickDelaysMs.sort((a, b) => a - b),
  };
}

