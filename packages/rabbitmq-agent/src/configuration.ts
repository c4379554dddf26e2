/**
 * The RabbitMQ agent's own variables (CCM_RABBITMQ_*): the reference list
 * shown by --help and in the README, and their parser, which collects every
 * problem on the shared EnvironmentReader so that one failed start names
 * them all.
 */
import type { AgentVariable, EnvironmentReader } from '@ccm/broker-agent';
import type { Permissions } from './management-api.js';
import type { RabbitMqAdapterSettings } from './rabbitmq-adapter.js';

/**
 * What an MQTT client needs on the vhost with the plugin's defaults
 * (exchange amq.topic, queues mqtt-subscription-<client id>qos<n>):
 * declare its own queues, bind and publish through amq.topic, read its
 * queues. Checked by publishing and subscribing at QoS 0 and 1.
 */
export const DEFAULT_DEVICE_PERMISSIONS: Permissions = {
  configure: '^mqtt-subscription-.*$',
  write: '^(amq\\.topic|mqtt-subscription-.*)$',
  read: '^(amq\\.topic|mqtt-subscription-.*)$',
};

/** Tags RabbitMQ gives meaning to: a device user must carry none of them. */
const RABBITMQ_TAGS = ['administrator', 'monitoring', 'policymaker', 'management', 'impersonator'];

export const RABBITMQ_AGENT_VARIABLES: readonly AgentVariable[] = [
  { name: 'CCM_RABBITMQ_MANAGEMENT_URL', default: null, description: 'Base URL of the node\'s management API (rabbitmq_management), e.g. http://127.0.0.1:15672. Required. For https with a private CA, point NODE_EXTRA_CA_CERTS at it.' },
  { name: 'CCM_RABBITMQ_USERNAME', default: 'ccm-agent', description: 'The agent\'s management user: tag administrator (RabbitMQ 3.10 has no narrower tag for managing users), no permissions on any vhost.' },
  { name: 'CCM_RABBITMQ_PASSWORD', default: null, description: 'Its password. This or CCM_RABBITMQ_PASSWORD_FILE is required.' },
  { name: 'CCM_RABBITMQ_PASSWORD_FILE', default: null, description: 'A file holding its password (a trailing newline is ignored), instead of CCM_RABBITMQ_PASSWORD.' },
  { name: 'CCM_RABBITMQ_VHOST', default: '/', description: 'The vhost the MQTT plugin logs devices into (mqtt.vhost): device users get permissions there.' },
  { name: 'CCM_RABBITMQ_DEVICE_CONFIGURE', default: DEFAULT_DEVICE_PERMISSIONS.configure, description: 'Configure permission (a regular expression over resource names) of every device user on the vhost.' },
  { name: 'CCM_RABBITMQ_DEVICE_WRITE', default: DEFAULT_DEVICE_PERMISSIONS.write, description: 'Write permission of every device user on the vhost.' },
  { name: 'CCM_RABBITMQ_DEVICE_READ', default: DEFAULT_DEVICE_PERMISSIONS.read, description: 'Read permission of every device user on the vhost.' },
  { name: 'CCM_RABBITMQ_DEVICE_TAG', default: 'ccm-device', description: 'The tag that marks the users the agent manages; it never touches a user without it.' },
  { name: 'CCM_RABBITMQ_TIMEOUT_MS', default: '5000', description: 'Timeout of one management API request, in milliseconds.' },
  { name: 'CCM_RABBITMQ_CONCURRENCY', default: '8', description: 'Management API requests in flight at once.' },
];

export type RabbitMqAgentSettings = RabbitMqAdapterSettings;

export function parseRabbitMqAgentSettings(read: EnvironmentReader): RabbitMqAgentSettings {
  const managementUrl = read.url('CCM_RABBITMQ_MANAGEMENT_URL', read.required('CCM_RABBITMQ_MANAGEMENT_URL', '(the management API, e.g. http://127.0.0.1:15672)').replace(/\/+$/, ''), ['http:', 'https:']);
  const username = read.string('CCM_RABBITMQ_USERNAME', 'ccm-agent');
  const password = read.secret('CCM_RABBITMQ_PASSWORD', '(the password of CCM_RABBITMQ_USERNAME)');
  const vhost = read.string('CCM_RABBITMQ_VHOST', '/');
  const devicePermissions: Permissions = {
    configure: permission(read, 'CCM_RABBITMQ_DEVICE_CONFIGURE', DEFAULT_DEVICE_PERMISSIONS.configure),
    write: permission(read, 'CCM_RABBITMQ_DEVICE_WRITE', DEFAULT_DEVICE_PERMISSIONS.write),
    read: permission(read, 'CCM_RABBITMQ_DEVICE_READ', DEFAULT_DEVICE_PERMISSIONS.read),
  };
  const deviceTag = read.string('CCM_RABBITMQ_DEVICE_TAG', 'ccm-device');
  if (!/^[A-Za-z0-9_.-]+$/.test(deviceTag)) read.problems.push(`CCM_RABBITMQ_DEVICE_TAG must be one tag (letters, digits, "_", ".", "-"), got "${deviceTag}"`);
  else if (RABBITMQ_TAGS.includes(deviceTag.toLowerCase())) read.problems.push(`CCM_RABBITMQ_DEVICE_TAG must not be one of RabbitMQ's own tags (${RABBITMQ_TAGS.join(', ')}), got "${deviceTag}"`);
  return {
    managementUrl,
    username,
    password,
    vhost,
    devicePermissions,
    deviceTag,
    timeoutMs: read.integer('CCM_RABBITMQ_TIMEOUT_MS', 5000, 100, 120_000),
    concurrency: read.integer('CCM_RABBITMQ_CONCURRENCY', 8, 1, 64),
  };
}


/** RabbitMQ matches permissions with Erlang's re (PCRE); JavaScript's RegExp catches the same syntax errors in practice. */
function permission(read: EnvironmentReader, name: string, fallback: string): string {
  const value = read.string(name, fallback);
  try {
    new RegExp(value);
  } catch (error) {
    read.problems.push(`${name} must be a regular expression, got "${value}" (${(error as Error).message})`);
  }
  return value;
}
