/**
 * The README's variable table is the reference list, row for row: names,
 * defaults and meanings as --help prints them.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { RABBITMQ_AGENT_VARIABLES } from '../src/configuration.js';

test('the README lists every CCM_RABBITMQ_* variable with its default and meaning', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readme.split('<!-- rabbitmq-variables:start -->')[1]?.split('<!-- rabbitmq-variables:end -->')[0];
  assert.ok(table, 'the README has the rabbitmq-variables markers');
  const rows = table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [name, fallback, meaning] = line.slice(2, -2).split(' | ');
      const unquote = (cell: string) => cell.replace(/^`|`$/g, '').replace(/\\\|/g, '|');
      return { name: unquote(name!), default: fallback === '—' ? null : unquote(fallback!), description: meaning };
    });
  assert.deepEqual(rows, RABBITMQ_AGENT_VARIABLES.map((variable) => ({ ...variable })));
});
