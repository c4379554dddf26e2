/**
 * The upgrade that makes CA names unique (migration 1764500000000), on real
 * PostgreSQL and SQLite databases left at the schema before it (the first
 * five migrations) and holding CAs recorded when names could still collide;
 * and `ccm authorities check-names`, run as an operator runs it
 * (`node dist/src/cli/main.js`, a child process), which lists those CAs
 * before the upgrade and after it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, test } from 'node:test';
import { DataSource } from 'typeorm';
import type { DatabaseConfiguration } from '../../src/config/configuration.js';
import { comparableSubject } from '../../src/codec/name-comparison.js';
import { connectDatabase, migrateDatabase } from '../../src/persistence/data-source.js';
import { MIGRATIONS } from '../../src/persistence/migrations/index.js';
import { createPostgresDatabase, createSqliteDatabase, type TestDatabase } from '../support/databases.js';
import { run, type CommandResult } from '../support/openssl.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const BEFORE_UNIQUE_NAMES = MIGRATIONS.slice(0, 5);
const NAMES_MIGRATION = 'AuthorityNames1764500000000';
/** What an upgrade from before unique names applies: that migration and every later one. */
const UPGRADE = MIGRATIONS.slice(5).map((migration) => new migration().name);
const AT = '2026-11-23T00:00:00.000Z';

/** The CLI with exactly `env` (and PATH). */
function ccm(args: readonly string[], env: Record<string, string>): Promise<CommandResult> {
  return run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
}

function configurationOf(database: TestDatabase): DatabaseConfiguration {
  return database.kind === 'postgres' ? { kind: 'postgres', url: database.env['DATABASE_URL']! } : { kind: 'sqlite', path: database.env['CCM_SQLITE_PATH']! };
}

/** A fresh database at the schema of the release before unique names, built by its own migrations as data-source.ts runs them. */
async function databaseBeforeUniqueNames(kind: TestDatabase['kind']): Promise<TestDatabase> {
  const database = kind === 'postgres' ? await createPostgresDatabase() : await createSqliteDatabase();
  const common = { migrations: BEFORE_UNIQUE_NAMES, synchronize: false, logging: false as const };
  const dataSource =
    kind === 'postgres'
      ? new DataSource({ ...common, type: 'postgres', url: database.env['DATABASE_URL']! })
      : new DataSource({ ...common, type: 'better-sqlite3', database: database.env['CCM_SQLITE_PATH']!, enableWAL: true, prepareDatabase: (db: { pragma(sql: string): unknown }) => void db.pragma('foreign_keys = ON') });
  await dataSource.initialize();
  try {
    assert.equal((await dataSource.runMigrations({ transaction: 'all' })).length, 5);
  } finally {
    await dataSource.destroy();
  }
  return database;
}

/** Writes with plain SQL from outside ccm (`?` placeholders, foreign keys enforced), all in one transaction. */
async function execute(database: TestDatabase, ...statements: Array<[sql: string, parameters: unknown[]]>): Promise<void> {
  if (database.kind === 'postgres') {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: database.env['DATABASE_URL']! });
    await client.connect();
    try {
      await client.query('BEGIN');
      for (const [sql, parameters] of statements) {
        let n = 0;
        await client.query(sql.replace(/\?/g, () => `$${++n}`), parameters);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      await client.end();
    }
    return;
  }
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(database.env['CCM_SQLITE_PATH']!);
  try {
    db.pragma('foreign_keys = ON');
    db.transaction(() => {
      for (const [sql, parameters] of statements) db.prepare(sql).run(...parameters);
    })();
  } finally {
    db.close();
  }
}

function tenant(id: string, name: string): [string, unknown[]] {
  return ['INSERT INTO tenants (id, name, max_ttl_seconds, created_at) VALUES (?, ?, NULL, ?)', [id, name, AT]];
}

interface AuthoritySeed {
  readonly id?: string;
  readonly tenantId: string | null;
  readonly kind: 'platform' | 'tenant-root' | 'ocsp-responder' | 'external' | 'intermediate';
  readonly status: 'pending' | 'active' | 'retiring' | 'revoked' | 'failed';
  readonly subject: string;
  /** Only at the new schema, which has the column. */
  readonly subjectKey?: string;
}

function authority(seed: AuthoritySeed): [string, unknown[]] {
  const columns = ['id', 'tenant_id', 'kind', 'singleton', 'status', 'custody_key_name', 'key_algorithm', 'subject', 'created_at', 'updated_at'];
  const id = seed.id ?? randomUUID();
  const values: unknown[] = [id, seed.tenantId, seed.kind, seed.kind === 'platform' ? 'platform' : null, seed.status, `key-${id}`, 'ecdsa-p256', seed.subject, AT, AT];
  if (seed.subjectKey !== undefined) {
    columns.push('subject_key');
    values.push(seed.subjectKey);
  }
  return [`INSERT INTO authorities (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, values];
}

function certificate(tenantId: string, authorityId: string): [string, unknown[]] {
  return [
    `INSERT INTO certificates (id, tenant_id, authority_id, serial_number, state, subject, common_name, subject_alt_names, not_before, not_after, key_algorithm, public_key_sha256, key_source, created_at, updated_at)
     VALUES (?, ?, ?, ?, 'active', 'CN=sensor-1', 'sensor-1', '[]', ?, ?, 'ecdsa-p256', ?, 'csr', ?, ?)`,
    [randomUUID(), tenantId, authorityId, '01', AT, '2027-11-23T00:00:00.000Z', 'a'.repeat(64), AT, AT],
  ];
}

/** The state before the upgrade: two tenants, each with its root CA; tenant A's external CA and tenant B's delegated one named alike, both in force. */
async function seedSharedName(database: TestDatabase) {
  const ids = { tenantA: randomUUID(), tenantB: randomUUID(), platform: randomUUID(), rootA: randomUUID(), rootB: randomUUID(), acmeA: randomUUID(), acmeB: randomUUID(), failed: randomUUID() };
  await execute(
    database,
    tenant(ids.tenantA, 'tenant-a'),
    tenant(ids.tenantB, 'tenant-b'),
    authority({ id: ids.platform, tenantId: null, kind: 'platform', status: 'active', subject: 'CN=ccm platform CA,O=Example' }),
    authority({ id: ids.rootA, tenantId: ids.tenantA, kind: 'tenant-root', status: 'active', subject: `CN=tenant-a root CA,OU=${ids.tenantA}` }),
    authority({ id: ids.rootB, tenantId: ids.tenantB, kind: 'tenant-root', status: 'active', subject: `CN=tenant-b root CA,OU=${ids.tenantB}` }),
    authority({ id: ids.acmeA, tenantId: ids.tenantA, kind: 'external', status: 'active', subject: 'CN=Acme Root,OU=x' }),
    authority({ id: ids.acmeB, tenantId: ids.tenantB, kind: 'intermediate', status: 'active', subject: 'CN=acme  root,OU=X' }),
    // A delegated CA whose signing failed holds no name.
    authority({ id: ids.failed, tenantId: ids.tenantB, kind: 'intermediate', status: 'failed', subject: 'CN=ACME ROOT,OU=x' }),
    certificate(ids.tenantA, ids.acmeA),
  );
  return ids;
}

async function columnsOfAuthorities(database: TestDatabase): Promise<string[]> {
  const rows =
    database.kind === 'postgres'
      ? await database.query<{ name: string }>("SELECT column_name AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'authorities'")
      : await database.query<{ name: string }>("SELECT name FROM pragma_table_info('authorities')");
  return rows.map((row) => row.name).sort();
}

async function indexesOfAuthorities(database: TestDatabase): Promise<string[]> {
  const rows =
    database.kind === 'postgres'
      ? await database.query<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'authorities'")
      : await database.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'authorities' AND sql IS NOT NULL");
  return rows.map((row) => row.name).sort();
}

async function appliedMigrations(database: TestDatabase): Promise<string[]> {
  return (await database.query<{ name: string }>('SELECT name FROM migrations ORDER BY id')).map((row) => row.name);
}

/** The upgrade as the service and `ccm migrate` run it. */
async function migrate(database: TestDatabase): Promise<string[]> {
  const dataSource = await connectDatabase(configurationOf(database));
  try {
    return await migrateDatabase(dataSource);
  } finally {
    await dataSource.destroy();
  }
}

async function subjectKeys(database: TestDatabase): Promise<Map<string, { subject: string; subject_key: string | null }>> {
  const rows = await database.query<{ id: string; subject: string; subject_key: string | null }>('SELECT id, subject, subject_key FROM authorities');
  return new Map(rows.map((row) => [row.id, row]));
}

const UNIQUE_VIOLATION = /uq_authorities_subject_key|UNIQUE constraint failed: authorities\.subject_key/;

for (const kind of ['postgres', 'sqlite'] as const) {
  describe(`migration to unique CA names on ${kind === 'postgres' ? 'PostgreSQL' : 'SQLite'}`, () => {
    let database: TestDatabase | undefined;

    afterEach(async () => {
      await database?.drop();
      database = undefined;
    });

    test('stops when two CAs in force of two tenants differ only in case and spacing, naming both, and leaves the schema as it was', async () => {
      database = await databaseBeforeUniqueNames(kind);
      const ids = await seedSharedName(database);
      const columnsBefore = await columnsOfAuthorities(database);
      const indexesBefore = await indexesOfAuthorities(database);
      const migrationsBefore = await appliedMigrations(database);
      assert.equal(migrationsBefore.length, 5);
      assert.ok(indexesBefore.includes('ix_authorities_subject'));

      const failure = await migrate(database).then(
        () => assert.fail('the migration ran over two CAs in force of one name'),
        (error: Error) => error,
      );
      assert.match(failure.message, /held by more than one CA in force/);
      assert.ok(failure.message.includes(ids.acmeA), `names ${ids.acmeA}: ${failure.message}`);
      assert.ok(failure.message.includes(ids.acmeB), `names ${ids.acmeB}: ${failure.message}`);
      assert.ok(failure.message.includes(`tenant ${ids.tenantA}`) && failure.message.includes(`tenant ${ids.tenantB}`), failure.message);
      for (const uninvolved of [ids.platform, ids.rootA, ids.rootB, ids.failed]) assert.ok(!failure.message.includes(uninvolved), `does not name ${uninvolved}`);

      assert.deepEqual(await columnsOfAuthorities(database), columnsBefore);
      assert.ok(!(await columnsOfAuthorities(database)).includes('subject_key'));
      assert.deepEqual(await indexesOfAuthorities(database), indexesBefore);
      assert.deepEqual(await appliedMigrations(database), migrationsBefore);
      assert.equal((await database.query('SELECT id FROM authorities')).length, 6);
      assert.equal((await database.query('SELECT id FROM certificates')).length, 1);
    });

    test('runs once one of the two is revoked: every CA gets its comparable subject, and the index refuses a third CA in force of that name but takes revoked ones and OCSP responders', async () => {
      database = await databaseBeforeUniqueNames(kind);
      const ids = await seedSharedName(database);
      await assert.rejects(migrate(database), /held by more than one CA in force/);

      await execute(database, ['UPDATE authorities SET status = ? WHERE id = ?', ['revoked', ids.acmeB]]);
      assert.deepEqual(await migrate(database), UPGRADE);
      assert.deepEqual(await migrate(database), [], 'nothing left to run');
      assert.ok((await appliedMigrations(database)).includes(NAMES_MIGRATION));

      const keys = await subjectKeys(database);
      assert.equal(keys.size, 6);
      for (const [id, row] of keys) assert.equal(row.subject_key, comparableSubject(row.subject), `subject_key of ${id}`);
      const acme = keys.get(ids.acmeA)!.subject_key;
      assert.equal(keys.get(ids.acmeB)!.subject_key, acme);
      assert.equal(keys.get(ids.failed)!.subject_key, acme);
      assert.equal(new Set([...keys.values()].map((row) => row.subject_key)).size, 4, 'the other CAs keep names of their own');
      const indexes = await indexesOfAuthorities(database);
      assert.ok(!indexes.includes('ix_authorities_subject'));
      for (const index of ['ix_authorities_subject_key', 'uq_authorities_subject_key']) assert.ok(indexes.includes(index), index);
      assert.equal((await database.query('SELECT id FROM certificates')).length, 1, 'the certificates under the CAs are kept');
      await assert.rejects(execute(database, certificate(ids.tenantA, randomUUID())), /foreign key|FOREIGN KEY/i, 'certificates still need a recorded CA');

      const name = 'CN=ACME   ROOT,OU=X';
      assert.equal(comparableSubject(name), acme);
      for (const status of ['active', 'pending'] as const) {
        await assert.rejects(execute(database, authority({ tenantId: ids.tenantB, kind: 'external', status, subject: name, subjectKey: acme! })), UNIQUE_VIOLATION, `a third CA ${status}`);
      }
      await assert.rejects(execute(database, authority({ tenantId: ids.tenantA, kind: 'tenant-root', status: 'retiring', subject: name, subjectKey: acme! })), UNIQUE_VIOLATION, 'a CA of the same tenant and another kind (a retiring root holds its name too)');
      await execute(
        database,
        authority({ tenantId: ids.tenantB, kind: 'external', status: 'revoked', subject: name, subjectKey: acme! }),
        authority({ tenantId: ids.tenantB, kind: 'intermediate', status: 'failed', subject: name, subjectKey: acme! }),
        authority({ tenantId: ids.tenantA, kind: 'ocsp-responder', status: 'active', subject: name, subjectKey: acme! }),
        authority({ tenantId: ids.tenantB, kind: 'ocsp-responder', status: 'pending', subject: name, subjectKey: acme! }),
      );
      // Once the CA in force leaves, its name is free for one CA again.
      await execute(database, ['UPDATE authorities SET status = ? WHERE id = ?', ['revoked', ids.acmeA]], authority({ tenantId: ids.tenantB, kind: 'external', status: 'active', subject: name, subjectKey: acme! }));
      assert.equal((await database.query(`SELECT id FROM authorities WHERE subject_key = '${acme!.replace(/'/g, "''")}'`)).length, 8);
    });

    test('the generations of one CA\'s OCSP responder, sharing one name, do not stop it, nor does a CA named like them', async () => {
      database = await databaseBeforeUniqueNames(kind);
      const tenantId = randomUUID();
      const rootId = randomUUID();
      const responderName = `CN=OCSP responder ${rootId}`;
      const responders = [randomUUID(), randomUUID(), randomUUID()];
      const lookalike = randomUUID();
      await execute(
        database,
        tenant(tenantId, 'tenant-c'),
        authority({ id: rootId, tenantId, kind: 'tenant-root', status: 'active', subject: `CN=tenant-c root CA,OU=${tenantId}` }),
        authority({ id: responders[0], tenantId, kind: 'ocsp-responder', status: 'revoked', subject: responderName }),
        authority({ id: responders[1], tenantId, kind: 'ocsp-responder', status: 'active', subject: responderName }),
        authority({ id: responders[2], tenantId, kind: 'ocsp-responder', status: 'pending', subject: responderName }),
        // Recorded before ccm kept names of its shape to itself.
        authority({ id: lookalike, tenantId, kind: 'external', status: 'active', subject: 'CN=ocsp Responder ' + rootId.toUpperCase() }),
      );

      assert.deepEqual(await migrate(database), UPGRADE);
      const keys = await subjectKeys(database);
      const key = comparableSubject(responderName);
      for (const id of [...responders, lookalike]) assert.equal(keys.get(id)!.subject_key, key);
      assert.equal(keys.get(rootId)!.subject_key, comparableSubject(`CN=tenant-c root CA,OU=${tenantId}`));
      // Later generations of the responder are recorded as before.
      await execute(database, authority({ tenantId, kind: 'ocsp-responder', status: 'active', subject: responderName, subjectKey: key }));
    });
  });

  describe(`ccm authorities check-names on ${kind === 'postgres' ? 'PostgreSQL' : 'SQLite'}`, () => {
    let database: TestDatabase | undefined;

    afterEach(async () => {
      await database?.drop();
      database = undefined;
    });

    test('exits 3 naming both CAs in force that share a name, as text and as JSON; ccm migrate then exits 4 and changes nothing', async () => {
      database = await databaseBeforeUniqueNames(kind);
      const ids = await seedSharedName(database);

      const text = await ccm(['authorities', 'check-names'], database.env);
      assert.equal(text.code, 3, text.stdout + text.stderr);
      assert.match(text.stdout, /: 1 name is shared \(1 by CAs in force\)\n/);
      assert.match(text.stdout, /^in force:$/m);
      for (const id of [ids.acmeA, ids.acmeB]) assert.ok(text.stdout.includes(id), `lists ${id}: ${text.stdout}`);
      for (const id of [ids.platform, ids.rootA, ids.rootB, ids.failed]) assert.ok(!text.stdout.includes(id), `does not list ${id}`);
      assert.match(text.stderr, /^ccm: 1 name is held by more than one CA in force/);

      const asJson = await ccm(['authorities', 'check-names', '--json'], database.env);
      assert.equal(asJson.code, 3, asJson.stderr);
      const outcome = JSON.parse(asJson.stdout) as { database: string; collisions: Array<{ comparableSubject: string; blocking: boolean; authorities: Array<{ id: string; tenantId: string | null; status: string }> }> };
      assert.match(outcome.database, kind === 'postgres' ? /^PostgreSQL 127\.0\.0\.1:5432\/ccm_test_\w+$/ : /^SQLite \//);
      assert.doesNotMatch(asJson.stdout, /postgres@/);
      assert.equal(outcome.collisions.length, 1);
      assert.equal(outcome.collisions[0]!.blocking, true);
      assert.equal(outcome.collisions[0]!.comparableSubject, comparableSubject('CN=Acme Root,OU=x'));
      assert.deepEqual(
        outcome.collisions[0]!.authorities.map((a) => [a.id, a.tenantId, a.status]).sort(),
        [[ids.acmeA, ids.tenantA, 'active'], [ids.acmeB, ids.tenantB, 'active']].sort(),
      );

      const migrated = await ccm(['migrate'], database.env);
      assert.equal(migrated.code, 4, migrated.stderr);
      assert.match(migrated.stderr, /nothing was changed/);
      for (const id of [ids.acmeA, ids.acmeB]) assert.ok(migrated.stderr.includes(id), `migrate names ${id}`);
      assert.equal((await appliedMigrations(database)).length, 5);
    });

    test('exits 0 listing a name a revoked CA shares with one in force as "revoked only", and one a CA shares with OCSP responders apart, before and after the upgrade', async () => {
      database = await databaseBeforeUniqueNames(kind);
      const ids = await seedSharedName(database);
      const responder = randomUUID();
      const lookalike = randomUUID();
      await execute(
        database,
        ['UPDATE authorities SET status = ? WHERE id = ?', ['revoked', ids.acmeB]],
        authority({ id: responder, tenantId: ids.tenantA, kind: 'ocsp-responder', status: 'active', subject: `CN=OCSP responder ${ids.rootA}` }),
        authority({ id: lookalike, tenantId: ids.tenantB, kind: 'external', status: 'active', subject: `CN=OCSP Responder ${ids.rootA}` }),
      );

      for (const stage of ['before', 'after'] as const) {
        if (stage === 'after') {
          const migrated = await ccm(['migrate', '--json'], database.env);
          assert.equal(migrated.code, 0, migrated.stderr);
          assert.deepEqual(JSON.parse(migrated.stdout).applied, UPGRADE);
        }
        const text = await ccm(['authorities', 'check-names'], database.env);
        assert.equal(text.code, 0, `${stage} the upgrade: ${text.stdout}${text.stderr}`);
        assert.equal(text.stderr, '');
        assert.match(text.stdout, /: 2 names are shared \(0 by CAs in force\)\n/);
        const sections = new Map(text.stdout.split(/^(?=\S.*:$)/m).slice(1).map((section) => [section.slice(0, section.indexOf(':\n')), section]));
        assert.deepEqual([...sections.keys()].sort(), ['revoked only', 'with OCSP responders'], text.stdout);
        const revoked = sections.get('revoked only')!;
        assert.ok(revoked.includes(`${ids.acmeA} (active) of tenant ${ids.tenantA}`), revoked);
        assert.ok(revoked.includes(`${ids.acmeB} (revoked) of tenant ${ids.tenantB}`), revoked);
        const responders = sections.get('with OCSP responders')!;
        assert.ok(responders.includes(`ocsp-responder ${responder} (active) of tenant ${ids.tenantA}`), responders);
        assert.ok(responders.includes(`external ${lookalike} (active) of tenant ${ids.tenantB}`), responders);

        const asJson = await ccm(['authorities', 'check-names', '--json'], database.env);
        assert.equal(asJson.code, 0, asJson.stderr);
        const outcome = JSON.parse(asJson.stdout) as { collisions: Array<{ blocking: boolean; authorities: unknown[] }> };
        assert.deepEqual(outcome.collisions.map((c) => [c.blocking, c.authorities.length]), [[false, 2], [false, 2]]);
      }
    });

    test('exits 0 saying every CA has a name of its own on a clean database, before and after the upgrade', async () => {
      database = await databaseBeforeUniqueNames(kind);
      const tenantId = randomUUID();
      const rootId = randomUUID();
      await execute(
        database,
        tenant(tenantId, 'tenant-d'),
        authority({ tenantId: null, kind: 'platform', status: 'active', subject: 'CN=ccm platform CA,O=Example' }),
        authority({ id: rootId, tenantId, kind: 'tenant-root', status: 'active', subject: `CN=tenant-d root CA,OU=${tenantId}` }),
        authority({ tenantId, kind: 'ocsp-responder', status: 'revoked', subject: `CN=OCSP responder ${rootId}` }),
        authority({ tenantId, kind: 'ocsp-responder', status: 'active', subject: `CN=OCSP responder ${rootId}` }),
      );

      for (const stage of ['before', 'after'] as const) {
        if (stage === 'after') assert.equal((await ccm(['migrate'], database.env)).code, 0);
        const text = await ccm(['authorities', 'check-names'], database.env);
        assert.equal(text.code, 0, `${stage} the upgrade: ${text.stdout}${text.stderr}`);
        assert.match(text.stdout, /^(PostgreSQL|SQLite) .+: every CA has a name of its own\n$/);
        const asJson = await ccm(['authorities', 'check-names', '--json'], database.env);
        assert.equal(asJson.code, 0, asJson.stderr);
        assert.deepEqual(JSON.parse(asJson.stdout).collisions, []);
      }
      assert.ok((await columnsOfAuthorities(database)).includes('subject_key'));
    });
  });
}
