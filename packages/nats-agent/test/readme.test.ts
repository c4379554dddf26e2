/**
 * The README says what the code does: its variable table is
 * NATS_AGENT_VARIABLES, and the users file it tells operators to create
 * is the agent's own list of no device.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { readmeVariableRows } from '@ccm/broker-agent/testing';
import { NATS_AGENT_VARIABLES, renderUsersFile } from '../src/index.js';

const README = new URL('../../README.md', import.meta.url);

function between(markdown: string, marker: string): string {
  const section = markdown.split(`<!-- ${marker}:start -->`)[1]?.split(`<!-- ${marker}:end -->`)[0];
  assert.ok(section, `README has the ${marker} markers`);
  return section;
}

test('the README\'s variable table lists every CCM_NATS_* variable with its default and meaning', async () => {
  const rows = readmeVariableRows(await readFile(README, 'utf8'), 'nats-variables');
  assert.deepEqual(rows, NATS_AGENT_VARIABLES.map(({ name, default: fallback, description }) => ({ name, default: fallback, description })));
});

test('the users file the README tells operators to create is the agent\'s own empty list', async () => {
  const block = between(await readFile(README, 'utf8'), 'empty-users-file');
  assert.equal(block.split('```\n')[1], renderUsersFile([], null));
});
