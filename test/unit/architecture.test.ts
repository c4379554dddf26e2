/**
 * The layout of src, held over its import graph (test/support/import-graph.ts)
 * as Boulder's linter and Go's import rules hold their layers (STYLE.md 1,
 * 11, 13): the folders import each other without a cycle; only the CA role
 * holds the custody port and allocates serial numbers; domain folders know
 * nothing of HTTP or TypeORM. Each rule is a function over edges, run once
 * over src and once over a small graph that breaks it, so that each is shown
 * able to fail.
 */
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { readImportGraph, type ImportEdge } from '../support/import-graph.js';

const root = resolve(dirname(new URL(import.meta.url).pathname), '../../..');

/** The composition root wires every folder to every other: it may import anything, and it is no node of the folder graph. */
const COMPOSITION_ROOT = new Set(['src/app.module.ts', 'src/app.ts', 'src/main.ts', 'src/http-workers.ts', 'src/orderly-stop.ts']);

const KEY_CUSTODY = 'src/custody/key-custody.ts';
/**
 * Who may import the custody port, and why. Everything else hands the CA a
 * decided order and never sees custody: a new importer is a second door to
 * the keys, to be argued for here or rewritten to go through src/ca/.
 */
const CUSTODY_HOLDERS: ReadonlyArray<{ readonly path: string; readonly why: string }> = [
  { path: 'src/ca/', why: 'the CA role, the one signer (issue 14): it alone asks custody to create keys and sign' },
  { path: 'src/custody/', why: 'the port itself, its adapters (local, Vault Transit, the measuring wrapper) and the module that binds them' },
  { path: 'src/health/readiness-checks.ts', why: 'readiness asks custody whether it could sign (KeyCustody.readiness) and signs nothing' },
];

const SERIAL_NUMBER = 'src/codec/serial-number.ts';
/** The serial allocator; the other exports of serial-number.ts (its hex forms, its checks) are codec, for anyone. */
const SERIAL_ALLOCATION = 'newSerialNumber';
const SERIAL_ALLOCATOR = 'src/ca/';

const HTTP_EDGE = 'src/http/';
const PERSISTENCE = 'src/persistence/';
/**
 * Beyond the composition root, what may open the database itself: the CLI's
 * installation commands (`ccm migrate`, `ccm authorities check-names`) are
 * an entry point of their own, which works on the database without starting
 * the service. The health probes reach it through the DatabaseProbe port.
 * The HTTP edge has no such list: its health controller lives in
 * src/http/ with the other controllers, so nothing but the root imports it.
 */
const PERSISTENCE_ENTRY_POINTS = new Set(['src/cli/service-commands.ts']);

/** A source's folder: its first path segment under src (a file right under src is its own). */
function folderOf(path: string): string {
  return path.split('/')[1]!.replace(/\.ts$/, '');
}

function isUnder(path: string, prefix: string): boolean {
  return prefix.endsWith('/') ? path.startsWith(prefix) : path === prefix;
}

const describeEdge = (edge: ImportEdge): string => `${edge.from} imports ${edge.target}`;

/**
 * The cycles of the folder graph (the composition root left out), each as
 * `a → b → a` with one import per step; none when the folders form layers.
 * Each import between two folders that lies on a cycle has the shortest
 * cycle through it printed, so that a tangle of many folders shows every
 * import to be moved, not one loop at a time.
 */
function folderCycles(edges: readonly ImportEdge[]): string[] {
  const graph = new Map<string, Map<string, ImportEdge>>();
  for (const edge of edges) {
    if (edge.target === null || !edge.target.startsWith('src/') || COMPOSITION_ROOT.has(edge.from) || COMPOSITION_ROOT.has(edge.target)) continue;
    const [from, to] = [folderOf(edge.from), folderOf(edge.target)];
    if (from === to) continue;
    const out = graph.get(from) ?? new Map<string, ImportEdge>();
    if (!out.has(to)) out.set(to, edge);
    graph.set(from, out);
  }
  const cycles = new Map<string, string>();
  for (const from of [...graph.keys()].sort()) {
    for (const to of [...graph.get(from)!.keys()].sort()) {
      const back = shortestPath(graph, to, from);
      if (back === null) continue;
      // Found once from each of its steps: told once, from its least folder.
      const found = [from, ...back.slice(0, -1)];
      const least = found.indexOf([...found].sort()[0]!);
      const path = [...found.slice(least), ...found.slice(0, least)];
      const key = path.join(' → ');
      if (cycles.has(key)) continue;
      const steps = path.map((folder, index) => graph.get(folder)!.get(path[(index + 1) % path.length]!)!);
      cycles.set(key, `${[...path, path[0]].join(' → ')} (${steps.map(describeEdge).join('; ')})`);
    }
  }
  return [...cycles.values()];
}

/** Breadth first: the folders from `start` to `goal`, both included, or null when `goal` cannot be reached. */
function shortestPath(graph: ReadonlyMap<string, ReadonlyMap<string, ImportEdge>>, start: string, goal: string): string[] | null {
  const previous = new Map<string, string>([[start, start]]);
  const queue = [start];
  while (queue.length > 0) {
    const folder = queue.shift()!;
    if (folder === goal) {
      const path = [goal];
      while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
      return path;
    }
    for (const next of [...(graph.get(folder)?.keys() ?? [])].sort()) {
      if (previous.has(next)) continue;
      previous.set(next, folder);
      queue.push(next);
    }
  }
  return null;
}

/** Imports of the custody port by files the allow-list does not name. */
function custodyOutsideTheCa(edges: readonly ImportEdge[]): string[] {
  return edges
    .filter((edge) => edge.target === KEY_CUSTODY && !COMPOSITION_ROOT.has(edge.from) && !CUSTODY_HOLDERS.some(({ path }) => isUnder(edge.from, path)))
    .map(describeEdge);
}

/** Imports of the serial allocator (by name, or the whole module) outside the CA. */
function serialAllocationOutsideTheCa(edges: readonly ImportEdge[]): string[] {
  return edges
    .filter((edge) => edge.target === SERIAL_NUMBER && !isUnder(edge.from, SERIAL_ALLOCATOR) && (edge.names === '*' || edge.names.includes(SERIAL_ALLOCATION)))
    .map((edge) => `${edge.from} imports ${edge.names === '*' ? `all of ${edge.target}` : `${SERIAL_ALLOCATION} from ${edge.target}`}`);
}

/** Imports of the HTTP edge or of persistence from where domain logic lives. */
function edgesInTheDomain(edges: readonly ImportEdge[]): string[] {
  const problems: string[] = [];
  for (const edge of edges) {
    if (edge.target === null || COMPOSITION_ROOT.has(edge.from)) continue;
    if (isUnder(edge.target, HTTP_EDGE) && !isUnder(edge.from, HTTP_EDGE)) problems.push(`${describeEdge(edge)}: only the composition root wires the HTTP edge`);
    if (isUnder(edge.target, PERSISTENCE) && !isUnder(edge.from, PERSISTENCE) && !PERSISTENCE_ENTRY_POINTS.has(edge.from)) problems.push(`${describeEdge(edge)}: domain code reaches the database through its ports`);
  }
  return problems;
}

/** Entry points that start the whole application, and so its root: `ccm serve`, and the OpenAPI export, which builds the module graph to render it. */
const STARTERS_OF_THE_ROOT = new Set(['src/cli/service-commands.ts', 'src/http/openapi-export.ts']);

/** Imports of the composition root from below it: the root wires the folders, so a folder that needs it reaches round the graph. */
function importsOfTheRoot(edges: readonly ImportEdge[]): string[] {
  return edges
    .filter((edge) => edge.target !== null && COMPOSITION_ROOT.has(edge.target) && !COMPOSITION_ROOT.has(edge.from) && !STARTERS_OF_THE_ROOT.has(edge.from))
    .map(describeEdge);
}

/** A synthetic edge for the rules' own failing cases. */
function edge(from: string, target: string, names: readonly string[] | '*' = ['X']): ImportEdge {
  return { from, specifier: target, target, names };
}

describe('the layout of src', () => {
  const graph = readImportGraph(root, 'src');

  it('reads the import graph of src, relative imports resolved to their sources', async () => {
    const edges = await graph;
    assert.ok(edges.some(({ from, target }) => from === 'src/app.module.ts' && target === 'src/http/http.module.ts'));
  });

  it('has no cycle among its folders', async () => {
    assert.deepEqual(folderCycles(await graph), []);
  });

  it('lets only the CA role, custody and readiness import the custody port', async () => {
    assert.deepEqual(custodyOutsideTheCa(await graph), []);
  });

  it('lets only the CA role allocate serial numbers', async () => {
    assert.deepEqual(serialAllocationOutsideTheCa(await graph), []);
  });

  it('keeps HTTP and persistence out of the domain folders', async () => {
    assert.deepEqual(edgesInTheDomain(await graph), []);
  });

  it('lets only the composition root import the composition root', async () => {
    assert.deepEqual(importsOfTheRoot(await graph), []);
  });
});

describe('the layout rules, on graphs that break them', () => {
  it('prints a folder cycle with the imports that close it', () => {
    const cycles = folderCycles([
      edge('src/lifecycle/a.ts', 'src/trust/b.ts'),
      edge('src/trust/c.ts', 'src/lifecycle/d.ts'),
      edge('src/trust/c.ts', 'src/shared/e.ts'),
    ]);
    assert.deepEqual(cycles, ['lifecycle → trust → lifecycle (src/lifecycle/a.ts imports src/trust/b.ts; src/trust/c.ts imports src/lifecycle/d.ts)']);
  });

  it('finds a cycle through three folders, and each loop of a tangle once', () => {
    const cycles = folderCycles([
      edge('src/metrics/a.ts', 'src/lifecycle/b.ts'),
      edge('src/lifecycle/b.ts', 'src/certificates/c.ts'),
      edge('src/certificates/c.ts', 'src/metrics/d.ts'),
      edge('src/certificates/c.ts', 'src/lifecycle/e.ts'),
    ]);
    assert.deepEqual(cycles.map((cycle) => cycle.split(' (')[0]), ['certificates → lifecycle → certificates', 'certificates → metrics → lifecycle → certificates']);
  });

  it('leaves the composition root out of the folder graph, and layers alone', () => {
    assert.deepEqual(
      folderCycles([
        edge('src/app.module.ts', 'src/http/http.module.ts'),
        edge('src/metrics/metrics.module.ts', 'src/http-workers.ts'),
        edge('src/http/a.ts', 'src/lifecycle/b.ts'),
        edge('src/lifecycle/b.ts', 'src/shared/c.ts'),
      ]),
      [],
    );
  });

  it('names a folder\'s file that imports the composition root, and lets the root and what starts it do so', () => {
    assert.deepEqual(
      importsOfTheRoot([
        edge('src/metrics/metrics.module.ts', 'src/http-workers.ts'),
        edge('src/main.ts', 'src/http-workers.ts'),
        edge('src/main.ts', 'src/app.module.ts'),
        edge('src/cli/service-commands.ts', 'src/main.ts'),
        edge('src/cli/other-commands.ts', 'src/main.ts'),
        edge('src/metrics/metrics.module.ts', 'src/metrics/metrics.ts'),
      ]),
      ['src/metrics/metrics.module.ts imports src/http-workers.ts', 'src/cli/other-commands.ts imports src/main.ts'],
    );
  });

  it('names a file outside the CA that imports the custody port', () => {
    assert.deepEqual(
      custodyOutsideTheCa([
        edge('src/certificates/issue-client-certificate.ts', KEY_CUSTODY),
        edge('src/ca/certificate-authority.ts', KEY_CUSTODY),
        edge('src/custody/custody.module.ts', KEY_CUSTODY),
        edge('src/health/readiness-checks.ts', KEY_CUSTODY),
        edge('src/health/other-probe.ts', KEY_CUSTODY),
        edge('src/app.module.ts', KEY_CUSTODY),
      ]),
      ['src/certificates/issue-client-certificate.ts imports src/custody/key-custody.ts', 'src/health/other-probe.ts imports src/custody/key-custody.ts'],
    );
  });

  it('names an import of newSerialNumber outside the CA, and lets the codec\'s other exports be', () => {
    assert.deepEqual(
      serialAllocationOutsideTheCa([
        edge('src/trust/a.ts', SERIAL_NUMBER, ['serialNumberToHex', 'newSerialNumber']),
        edge('src/revocation/b.ts', SERIAL_NUMBER, '*'),
        edge('src/certificates/c.ts', SERIAL_NUMBER, ['serialNumberToHex']),
        edge('src/ca/serial-numbers.ts', SERIAL_NUMBER, ['newSerialNumber']),
      ]),
      ['src/trust/a.ts imports newSerialNumber from src/codec/serial-number.ts', 'src/revocation/b.ts imports all of src/codec/serial-number.ts'],
    );
  });

  it('names a domain file that imports the HTTP edge or persistence', () => {
    assert.deepEqual(
      edgesInTheDomain([
        edge('src/health/health.controller.ts', 'src/http/access.guard.ts'),
        edge('src/lifecycle/a.ts', 'src/persistence/transactions.ts'),
        edge('src/http/b.ts', 'src/http/c.ts'),
        edge('src/persistence/d.ts', 'src/persistence/e.ts'),
        edge('src/cli/service-commands.ts', 'src/persistence/data-source.ts'),
        edge('src/app.module.ts', 'src/persistence/persistence.module.ts'),
      ]),
      [
        'src/health/health.controller.ts imports src/http/access.guard.ts: only the composition root wires the HTTP edge',
        'src/lifecycle/a.ts imports src/persistence/transactions.ts: domain code reaches the database through its ports',
      ],
    );
  });
});
