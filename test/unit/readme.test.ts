/** The README's configuration table is the code's configuration reference, row for row. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { CONFIGURATION_REFERENCE } from '../../src/config/configuration.js';

test('the README configuration table matches CONFIGURATION_REFERENCE', async () => {
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const table = readme.split('<!-- configuration:start -->')[1]?.split('<!-- configuration:end -->')[0];
  assert.ok(table, 'README has the configuration markers');
  const rows = table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [name, fallback, meaning] = line.split(' | ').map((cell) => cell.replace(/^\| /, '').replace(/ \|$/, ''));
      return { name: name!.replace(/`/g, ''), default: fallback === '—' ? null : fallback!.replace(/`/g, ''), description: meaning };
    });
  assert.deepEqual(rows, CONFIGURATION_REFERENCE.map((v) => ({ ...v })));
});
