/**
 * Opens the database named by the configuration (PostgreSQL, or the embedded
 * SQLite file) and brings its schema up to date with the committed migrations.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource } from 'typeorm';
import type { DatabaseConfiguration } from '../config/configuration.js';
import { ENTITIES } from './entities.js';
import { MIGRATIONS } from './migrations/index.js';

/** Arbitrary constant naming ccm's migration lock among PostgreSQL advisory locks. */
const MIGRATION_LOCK = 7263341;

export async function openDatabase(config: DatabaseConfiguration): Promise<DataSource> {
  const dataSource = await connectDatabase(config);
  await migrateDatabase(dataSource);
  return dataSource;
}

/** Connects without touching the schema. */
export async function connectDatabase(config: DatabaseConfiguration): Promise<DataSource> {
  const common = { entities: ENTITIES, migrations: MIGRATIONS, synchronize: false, logging: false as const };
  let dataSource: DataSource;
  if (config.kind === 'postgres') {
    dataSource = new DataSource({ ...common, type: 'postgres', url: config.url, extra: { max: 20 } });
  } else {
    if (config.path !== ':memory:') mkdirSync(dirname(config.path), { recursive: true });
    dataSource = new DataSource({
      ...common,
      type: 'better-sqlite3',
      database: config.path,
      enableWAL: true,
      // Writers from another process (a second replica on the same file) wait instead of failing at once.
      timeout: 10000,
      prepareDatabase: (db: { pragma(sql: string): unknown }) => {
        db.pragma('foreign_keys = ON');
      },
    });
  }
  await dataSource.initialize();
  return dataSource;
}

/** Runs the committed migrations not yet applied, all in one transaction; the names of those it ran. */
export async function migrateDatabase(dataSource: DataSource): Promise<string[]> {
  if (dataSource.options.type === 'postgres') {
    // Replicas starting together take turns: the lock is held on its own
    // connection while the migrations run in one transaction on another.
    const lock = dataSource.createQueryRunner();
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      return (await dataSource.runMigrations({ transaction: 'all' })).map((migration) => migration.name);
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      await lock.release();
    }
  }
  return (await dataSource.runMigrations({ transaction: 'all' })).map((migration) => migration.name);
}
