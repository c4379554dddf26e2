/**
 * @ccm/rabbitmq-agent: ccm's broker agent for RabbitMQ's MQTT plugin with
 * certificate login. The adapter drives the management API; the bin
 * (main.ts) runs it on the @ccm/broker-agent core.
 */
export { RabbitMqAdapter, type RabbitMqAdapterSettings } from './rabbitmq-adapter.js';
export { RABBITMQ_AGENT_VARIABLES, DEFAULT_DEVICE_PERMISSIONS, parseRabbitMqAgentSettings, type RabbitMqAgentSettings } from './configuration.js';
export { rabbitMqUsernameOf } from './rabbitmq-identity.js';
export { ManagementApi, type ManagementApiOptions, type ManagedUser, type Permissions, type UserPermissions } from './management-api.js';
export { RabbitMqAdapterError, RabbitMqRequestError, RabbitMqPermissionError, type RabbitMqFailure } from './errors.js';
export { RabbitMqBatchError } from './bounded.js';
