#!/usr/bin/env node
/**
 * ccm-nats-agent: the NATS broker agent's bin. Configured by environment
 * variables (CCM_AGENT_* of the core, CCM_NATS_* of this adapter; --help
 * lists them); runs until SIGTERM or SIGINT.
 */
import { runAgentMain } from '@ccm/broker-agent';
import { NATS_AGENT_VARIABLES, parseNatsAgentSettings } from './configuration.js';
import { NatsAdapter } from './nats-adapter.js';

runAgentMain({
  name: 'ccm-nats-agent',
  variables: NATS_AGENT_VARIABLES,
  parse: parseNatsAgentSettings,
  adapter: (settings, context) => NatsAdapter.create(settings, context.log),
});
