/** Reads a README's table of environment variables (between two HTML-comment markers) back into reference rows. */
import assert from 'node:assert/strict';

export interface VariableRow {
  readonly name: string;
  readonly default: string | null;
  readonly description: string | undefined;
}

export function variableTableRows(markdown: string, marker: string): VariableRow[] {
  const table = markdown.split(`<!-- ${marker}:start -->`)[1]?.split(`<!-- ${marker}:end -->`)[0];
  assert.ok(table, `the README has the ${marker} markers`);
  return table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const [name, fallback, meaning] = line.split(' | ').map((cell) => cell.replace(/^\| /, '').replace(/ \|$/, ''));
      return { name: name!.replace(/`/g, ''), default: fallback === '—' ? null : fallback!.replace(/`/g, ''), description: meaning };
    });
}
