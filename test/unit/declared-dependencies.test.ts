/**
 * The root package.json says what the service needs, no more and no less:
 * every package it declares is imported somewhere in src, test or bench (or
 * is on the short list below of packages used another way), and every
 * package imported there is declared (or is one of the root's workspaces).
 * Read with the TypeScript compiler's own parser, as
 * broker-packages.test.ts reads the agents' import graphs.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const root = resolve(dirname(new URL(import.meta.url).pathname), '../../..');
const SOURCE_DIRECTORIES = ['src', 'test', 'bench'];

/** Declared, never imported, and needed all the same: each says who loads it. */
const USED_OTHERWISE: Readonly<Record<string, string>> = {
  '@fastify/static': "@nestjs/swagger's SwaggerModule loads it to serve /docs on Fastify (an optional peer dependency of Swagger's)",
  autocannon: 'bench/support/http-load.ts runs its CLI file in a child process, so its CPU is not counted as ccm\'s',
  'better-sqlite3': 'the SQLite driver TypeORM loads when CCM_DATABASE_URL names a SQLite file',
  pg: 'the PostgreSQL driver TypeORM loads when CCM_DATABASE_URL names PostgreSQL',
  typescript: 'tsc, the build',
};

/** Imported, deliberately not declared: each says where it comes from instead. */
const IMPORTED_UNDECLARED: Readonly<Record<string, string>> = {
  fastify:
    "types only (FastifyRequest, FastifyReply, FastifyInstance) of the Fastify @nestjs/platform-fastify pins and runs; a declaration of ccm's own could install a second copy whose types are not the running server's",
};

interface Manifest {
  readonly name: string;
  readonly dependencies?: Record<string, string>;
  readonly devDependencies?: Record<string, string>;
  readonly workspaces?: readonly string[];
}

async function sourceFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(path)));
    else if (/\.[cm]?[jt]s$/.test(entry.name) && !/\.d\.[cm]?ts$/.test(entry.name)) files.push(path);
  }
  return files;
}

/** Every module specifier a file names: imports and re-exports, static or dynamic, and `import('x')` types. */
function specifiersOf(path: string, text: string): string[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) found.push(node.arguments[0].text);
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) found.push(node.argument.literal.text);
    if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) found.push(node.moduleReference.expression.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function packageNameOf(specifier: string): string {
  return specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
}

function isBare(specifier: string): boolean {
  return !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.startsWith('node:') && !builtinModules.includes(specifier);
}

/** The package whose types `@types/<name>` carries: `@types/scope__name` is `@scope/name`. */
function typedPackageOf(typesPackage: string): string {
  const name = typesPackage.slice('@types/'.length);
  return name.includes('__') ? `@${name.replace('__', '/')}` : name;
}

/** Package name → the files that import it, over src, test and bench. */
async function importedPackages(): Promise<Map<string, string[]>> {
  const importers = new Map<string, string[]>();
  for (const directory of SOURCE_DIRECTORIES) {
    for (const file of await sourceFiles(join(root, directory))) {
      for (const specifier of specifiersOf(file, await readFile(file, 'utf8'))) {
        if (!isBare(specifier)) continue;
        const name = packageNameOf(specifier);
        importers.set(name, [...(importers.get(name) ?? []), relative(root, file)]);
      }
    }
  }
  return importers;
}

/** `compilerOptions.types` of the root tsconfig: type packages the compiler loads without an import. */
function tsconfigTypes(): string[] {
  const read = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const types = (read.config as { compilerOptions?: { types?: unknown } }).compilerOptions?.types;
  return Array.isArray(types) ? types.filter((type): type is string => typeof type === 'string') : [];
}

async function workspaceNames(manifest: Manifest): Promise<Set<string>> {
  const names = new Set<string>();
  for (const workspace of manifest.workspaces ?? []) {
    const workspaceManifest = JSON.parse(await readFile(join(root, workspace, 'package.json'), 'utf8')) as Manifest;
    names.add(workspaceManifest.name);
  }
  return names;
}

const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Manifest;
const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})]);
const imported = await importedPackages();
const compilerTypes = new Set(tsconfigTypes());

describe('the root package.json', () => {
  it('finds the imports it checks', () => {
    // A walk that found nothing would pass every check below.
    for (const name of ['@nestjs/common', 'typeorm', 'supertest']) assert.ok(imported.has(name), `${name} is imported somewhere`);
  });

  it('declares no package that nothing imports, unless it is used another way', () => {
    const unused = [...declared].filter((name) => {
      if (imported.has(name) || name in USED_OTHERWISE) return false;
      if (name.startsWith('@types/')) return !imported.has(typedPackageOf(name)) && !compilerTypes.has(typedPackageOf(name));
      return true;
    });
    assert.deepEqual(unused, [], 'declared in package.json, imported nowhere in src, test or bench: remove it, or say in USED_OTHERWISE who uses it');
  });

  it('imports no package it does not declare', async () => {
    const workspaces = await workspaceNames(manifest);
    const undeclared = [...imported]
      .filter(([name]) => !declared.has(name) && !workspaces.has(name) && !(name in IMPORTED_UNDECLARED))
      .map(([name, files]) => `${name} (${files.join(', ')})`);
    assert.deepEqual(undeclared, [], 'imported but not in package.json: it works only while another package happens to bring it');
  });

  it('keeps its exception lists true', () => {
    // An entry outlives its reason silently otherwise.
    const stale = [
      ...Object.keys(USED_OTHERWISE).filter((name) => !declared.has(name)).map((name) => `${name} is in USED_OTHERWISE but no longer declared`),
      ...Object.keys(IMPORTED_UNDECLARED).filter((name) => declared.has(name)).map((name) => `${name} is in IMPORTED_UNDECLARED but declared`),
      ...Object.keys(IMPORTED_UNDECLARED).filter((name) => !imported.has(name)).map((name) => `${name} is in IMPORTED_UNDECLARED but imported nowhere`),
    ];
    assert.deepEqual(stale, []);
  });
});
