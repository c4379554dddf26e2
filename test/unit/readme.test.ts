/** The README's configuration table is the code's configuration reference, row for row. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { CONFIGURATION_REFERENCE } from '../../src/config/configuration.js';
import { variableTableRows } from '../support/variable-table.js';

test('the README configuration table matches CONFIGURATION_REFERENCE', async () => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const rows = variableTableRows(readme, 'configuration');
  assert.deepEqual(rows, CONFIGURATION_REFERENCE.map((v) => ({ ...v })));
});
