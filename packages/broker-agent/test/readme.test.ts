/** The README's table of common variables is COMMON_AGENT_VARIABLES, row for row. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { COMMON_AGENT_VARIABLES } from '../src/configuration.js';

test('the README lists exactly the common variables, with their defaults and meanings', async () => {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  const table = readme.split('<!-- agent-variables:start -->')[1]?.split('<!-- agent-variables:end -->')[0] ?? '';
  const rows = table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [name, fallback, description] = line.slice(2, -2).split(' | ');
      return { name: name!.replace(/`/g, ''), default: fallback === '—' ? null : fallback!.replace(/`/g, ''), description };
    });
  assert.deepEqual(rows, COMMON_AGENT_VARIABLES.map((variable) => ({ ...variable })));
});
