/**
 * The README's variable table is the reference list, row for row: names,
 * defaults and meanings as --help prints them.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { readmeVariableRows } from '@ccm/broker-agent/testing';
import { RABBITMQ_AGENT_VARIABLES } from '../src/configuration.js';

test('the README lists every CCM_RABBITMQ_* variable with its default and meaning', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const rows = readmeVariableRows(readme, 'rabbitmq-variables');
  assert.deepEqual(rows, RABBITMQ_AGENT_VARIABLES.map((variable) => ({ ...variable })));
});
