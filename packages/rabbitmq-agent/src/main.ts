#!/usr/bin/env node
/**
 * ccm-rabbitmq-agent: the RabbitMQ broker agent's bin. Configured by
 * environment variables (CCM_AGENT_* of the core, CCM_RABBITMQ_* of this
 * adapter; --help lists them); runs until SIGTERM or SIGINT.
 */
import { runAgentMain } from '@ccm/broker-agent';
import { RABBITMQ_AGENT_VARIABLES, parseRabbitMqAgentSettings } from './configuration.js';
import { RabbitMqAdapter } from './rabbitmq-adapter.js';

runAgentMain({
  name: 'ccm-rabbitmq-agent',
  variables: RABBITMQ_AGENT_VARIABLES,
  parse: parseRabbitMqAgentSettings,
  adapter: (settings, context) => new RabbitMqAdapter(settings, context.log),
});
