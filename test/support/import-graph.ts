/**
 * The import graph of TypeScript sources, read with the compiler's own
 * parser so that no import can hide from a test that holds a layout to a
 * rule (test/unit/architecture.test.ts, test/unit/broker-packages.test.ts):
 * every import and export-from, static or dynamic, with the names it takes
 * and, for a relative specifier, the file it names.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** One import or export-from of one file. */
export interface ImportEdge {
  /** The importing file, relative to the root the graph was read from, with `/` separators. */
  readonly from: string;
  readonly specifier: string;
  /** The file a relative specifier names (`./x.js` is `x.ts`), relative to the root; null for a package or a builtin. */
  readonly target: string | null;
  /**
   * The exported names taken (`import { a as b }` takes `a`, a default
   * import `default`); `*` when the whole module is (`import * as`,
   * `export * from`, a dynamic `import()`); empty for a bare `import './x.js'`.
   */
  readonly names: readonly string[] | '*';
}

/** The `.ts` sources under `directory` (declaration files left out), depth first, sorted. */
export async function sourceFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

/** Every import and export-from of one source text, static or dynamic, as written. */
export function importsOf(path: string, text: string): Array<{ specifier: string; names: readonly string[] | '*' }> {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: Array<{ specifier: string; names: readonly string[] | '*' }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) found.push({ specifier: node.moduleSpecifier.text, names: importedNames(node.importClause) });
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) found.push({ specifier: node.moduleSpecifier.text, names: exportedNames(node.exportClause) });
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) found.push({ specifier: node.arguments[0].text, names: '*' });
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The module specifiers of one source text: what broker-packages.test.ts checks package by package. */
export function specifiersOf(path: string, text: string): string[] {
  return importsOf(path, text).map(({ specifier }) => specifier);
}

/** The import graph of every source under `root`/`directory`, paths relative to `root`. */
export async function readImportGraph(root: string, directory: string): Promise<ImportEdge[]> {
  const edges: ImportEdge[] = [];
  for (const file of await sourceFiles(join(root, directory))) {
    const from = portable(relative(root, file));
    for (const { specifier, names } of importsOf(file, await readFile(file, 'utf8'))) {
      // NodeNext resolution: a relative specifier names the emitted .js file of a .ts source.
      const target = specifier.startsWith('.') ? portable(relative(root, resolve(dirname(file), specifier))).replace(/\.js$/, '.ts') : null;
      edges.push({ from, specifier, target, names });
    }
  }
  return edges;
}

function importedNames(clause: ts.ImportClause | undefined): readonly string[] | '*' {
  if (!clause) return [];
  const names: string[] = clause.name ? ['default'] : [];
  const bindings = clause.namedBindings;
  if (bindings && ts.isNamespaceImport(bindings)) return '*';
  if (bindings) for (const element of bindings.elements) names.push((element.propertyName ?? element.name).text);
  return names;
}

function exportedNames(clause: ts.NamedExportBindings | undefined): readonly string[] | '*' {
  if (!clause || ts.isNamespaceExport(clause)) return '*';
  return clause.elements.map((element) => (element.propertyName ?? element.name).text);
}

function portable(path: string): string {
  return path.split(sep).join('/');
}
