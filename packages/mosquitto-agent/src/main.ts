#!/usr/bin/env node
/**
 * The bin of the Mosquitto agent (`ccm-mosquitto-agent`, or
 * `node dist/src/main.js`): the core's CCM_AGENT_* variables and the
 * adapter's CCM_MOSQUITTO_* ones (README.md), read once; a bad or missing one
 * stops it with exit code 2 and a message naming every one.
 *
 *   main.js          run: install CRLs, keep them fresh, enforce every device's state
 *   main.js --once   install the CRLs and exit (before Mosquitto first starts:
 *                    it refuses to start without its crlfile)
 *   main.js --help   list the variables
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT or --once done, 1 failure, 2 configuration.
 */
import { runAgentMain } from '@ccm/broker-agent';
import { MOSQUITTO_AGENT_VARIABLES, parseMosquittoSettings } from './configuration.js';
import { createMosquittoAdapter, installCrlsOnce } from './mosquitto-agent.js';

runAgentMain({
  name: 'ccm-mosquitto-agent',
  variables: MOSQUITTO_AGENT_VARIABLES,
  parse: parseMosquittoSettings,
  adapter: (settings, context) => createMosquittoAdapter(settings, context),
  commands: { '--once': installCrlsOnce },
});
