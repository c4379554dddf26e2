/** The README's table of common variables is COMMON_AGENT_VARIABLES, row for row. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { COMMON_AGENT_VARIABLES } from '../src/configuration.js';
import { readmeVariableRows } from '../src/testing.js';

test('the README lists exactly the common variables, with their defaults and meanings', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const rows = readmeVariableRows(readme, 'agent-variables');
  assert.deepEqual(rows, COMMON_AGENT_VARIABLES.map((variable) => ({ ...variable })));
});
