/**
 * The broker-side packages install without the service: the import graph of
 * every package under packages/ stays inside the package, names only the
 * packages its package.json depends on, and never NestJS, TypeORM, a
 * database driver or the service's code. Read from the sources with the
 * TypeScript compiler's own parser (test/support/import-graph.ts), so an
 * import cannot hide from it.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { sourceFiles, specifiersOf } from '../support/import-graph.js';

const root = resolve(dirname(new URL(import.meta.url).pathname), '../../..');
const FORBIDDEN = [/^@nestjs\//, /^typeorm$/, /^better-sqlite3$/, /^pg$/, /^class-validator$/, /^class-transformer$/, /^reflect-metadata$/, /^node-vault$/, /^ccm$/];
const BROKER_SIDE = ['event-consumer', 'broker-agent', 'mosquitto-agent', 'rabbitmq-agent', 'nats-agent'];

function packageNameOf(specifier: string): string {
  return specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
}

describe('broker-side packages', () => {
  for (const name of ['configuration', ...BROKER_SIDE]) {
    it(`packages/${name} imports only its own files and its declared dependencies`, async () => {
      const directory = join(root, 'packages', name);
      const manifest = JSON.parse(await readFile(join(directory, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
      const runtime = new Set(Object.keys(manifest.dependencies ?? {}));
      const problems: string[] = [];
      const files = await sourceFiles(join(directory, 'src'));
      assert.ok(files.length > 0, `packages/${name}/src has sources`);
      for (const file of files) {
        for (const specifier of specifiersOf(file, await readFile(file, 'utf8'))) {
          const where = `${relative(root, file)} imports ${specifier}`;
          if (specifier.startsWith('.')) {
            const target = resolve(dirname(file), specifier);
            if (!target.startsWith(join(directory, 'src') + '/')) problems.push(`${where}, outside the package's src`);
            continue;
          }
          if (specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
          const dependency = packageNameOf(specifier);
          if (FORBIDDEN.some((pattern) => pattern.test(dependency))) problems.push(`${where}: the service's stack, which a broker host does not install`);
          else if (!runtime.has(dependency)) problems.push(`${where}, which ${manifest.name}'s package.json does not list in dependencies`);
        }
      }
      for (const dependency of runtime) if (FORBIDDEN.some((pattern) => pattern.test(dependency))) problems.push(`${manifest.name} depends on ${dependency}`);
      assert.deepEqual(problems, []);
    });
  }

  it('the service reaches the packages by their names, never by a path into them', async () => {
    const problems: string[] = [];
    for (const file of [...(await sourceFiles(join(root, 'src'))), ...(await sourceFiles(join(root, 'test'))), ...(await sourceFiles(join(root, 'bench')))]) {
      for (const specifier of specifiersOf(file, await readFile(file, 'utf8'))) {
        if (specifier.startsWith('.') && resolve(dirname(file), specifier).startsWith(join(root, 'packages') + '/')) problems.push(`${relative(root, file)} imports ${specifier}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('every agent package has a bin, a README and tests of its own', async () => {
    for (const name of ['mosquitto-agent', 'rabbitmq-agent', 'nats-agent']) {
      const directory = join(root, 'packages', name);
      const manifest = JSON.parse(await readFile(join(directory, 'package.json'), 'utf8')) as { bin?: Record<string, string>; scripts?: Record<string, string> };
      assert.deepEqual(Object.keys(manifest.bin ?? {}), [`ccm-${name}`]);
      assert.ok(manifest.scripts?.['test'], `${name} has a test script`);
      assert.ok((await sourceFiles(join(directory, 'test'))).some((file) => file.endsWith('.test.ts')), `${name} has tests`);
      assert.match(await readFile(join(directory, 'README.md'), 'utf8'), /CCM_AGENT_CCM_URL/);
    }
  });
});
