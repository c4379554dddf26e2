/**
 * Real databases for tests: a fresh PostgreSQL database per test (dropped
 * afterwards) on the machine's server, or an SQLite file in a temp directory.
 * A PostgreSQL that cannot be reached fails the test loudly; it never skips.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const POSTGRES_ADMIN_URL = process.env.CCM_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly kind: 'postgres' | 'sqlite';
  /** Environment for ccm: DATABASE_URL or CCM_SQLITE_PATH. */
  readonly env: Record<string, string>;
  /** Runs SQL against the database from outside ccm (what an auditor would see). */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Runs a statement that returns no rows (a change made behind ccm's back, as a restore or an older version would). */
  execute(sql: string): Promise<void>;
  drop(): Promise<void>;
}

export async function createPostgresDatabase(): Promise<TestDatabase> {
  const name = `ccm_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`PostgreSQL is required for this test and is not reachable at ${POSTGRES_ADMIN_URL}: ${(error as Error).message}`);
  }
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    env: { DATABASE_URL: url.toString() },
    async query<T>(sql: string): Promise<T[]> {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        return (await client.query(sql)).rows as T[];
      } finally {
        await client.end();
      }
    },
    async execute(sql: string): Promise<void> {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    },
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export async function createSqliteDatabase(): Promise<TestDatabase> {
  const directory = await mkdtemp(join(tmpdir(), 'ccm-sqlite-'));
  const path = join(directory, 'ccm.sqlite');
  return {
    kind: 'sqlite',
    env: { CCM_SQLITE_PATH: path },
    async query<T>(sql: string): Promise<T[]> {
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare(sql).all() as T[];
      } finally {
        db.close();
      }
    },
    async execute(sql: string): Promise<void> {
      const { default: Database } = await import('better-sqlite3');
      // ccm has the file open in WAL mode; a writer waits for its lock rather than failing.
      const db = new Database(path, { timeout: 10_000 });
      try {
        db.prepare(sql).run();
      } finally {
        db.close();
      }
    },
    async drop() {
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Every row of every ccm table, as text: for proving what is (not) stored. */
export async function dumpAllRows(database: TestDatabase): Promise<{ table: string; rows: Record<string, unknown>[] }[]> {
  const tables =
    database.kind === 'postgres'
      ? await database.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
      : await database.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'");
  const dump = [];
  for (const { name } of tables) dump.push({ table: name, rows: await database.query(`SELECT * FROM "${name}"`) });
  return dump;
}

/**
 * The database's content as text, for "a refused request stores nothing":
 * rows sorted (an UPDATE moves a row in PostgreSQL's heap), minus what any
 * authenticated call touches (a key's last use) and the audit trail, which
 * records refusals by design.
 */
export async function storedContent(database: TestDatabase): Promise<string> {
  const tables = await dumpAllRows(database);
  return JSON.stringify(
    tables
      .filter((t) => t.table !== 'audit_log' && t.table !== 'migrations' && t.table !== 'sqlite_sequence')
      .map((t) => ({ table: t.table, rows: t.rows.map((row) => JSON.stringify({ ...row, last_used_at: undefined })).sort() }))
      .sort((a, b) => a.table.localeCompare(b.table)),
  );
}
