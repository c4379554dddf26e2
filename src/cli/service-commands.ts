/**
 * `ccm serve` and `ccm migrate`: the commands that act on the installation
 * itself (its configuration from the environment, its database), not on a
 * running ccm over HTTP.
 */
import type { DataSource } from 'typeorm';
import { ConfigurationError, parseConfiguration, type DatabaseConfiguration } from '../config/configuration.js';
import { defineCommand, json, type Command } from './command.js';
import { DatabaseUnavailable, UsageError } from './outcome.js';

export const SERVE: Command = defineCommand({
  name: 'serve',
  summary: 'run the ccm service (as `node dist/src/main.js` does)',
  usage: `Usage: ccm serve

Runs the ccm service in the foreground, configured by the environment
(README, "Configuration"); the same as \`node dist/src/main.js\`. Stops on
SIGTERM or SIGINT. Exits 2 on a bad setting, naming the variable.
`,
  options: {},
  async run() {
    // The service entry point starts the service when loaded: one start-up path for both (and for cluster workers, which re-run this command).
    await import('../main.js');
  },
});

export const MIGRATE: Command = defineCommand({
  name: 'migrate',
  summary: 'bring the database schema up to date, then exit',
  usage: `Usage: ccm migrate [--json]

Runs the committed database migrations that have not run yet against the
database the environment names (DATABASE_URL, else CCM_SQLITE_PATH), in one
transaction, and exits. Safe to repeat and to run while replicas start: on
PostgreSQL it takes the same lock as the service. The service also migrates
when it starts; run this to do it ahead of a rollout.
Prints the migrations it ran, or that there were none; with --json,
{"database": ..., "applied": [names]}.

Options:
  --json                  print the outcome as JSON

Exit codes: 2 bad configuration, 4 database unreachable or a migration failed.
`,
  options: { json: { type: 'boolean' } },
  async run(values, { env, out }) {
    let database: DatabaseConfiguration;
    try {
      database = parseConfiguration(env).database;
    } catch (error) {
      if (error instanceof ConfigurationError) throw new UsageError(error.message);
      throw error;
    }
    const target = describe(database);
    // Loaded here, not at the top: TypeORM and the entities would slow every other command's start.
    const { connectDatabase, migrateDatabase } = await import('../persistence/data-source.js');
    let dataSource: DataSource;
    try {
      dataSource = await connectDatabase(database);
    } catch (error) {
      throw new DatabaseUnavailable(`cannot open the database ${target}: ${(error as Error).message}`);
    }
    let applied: string[];
    try {
      applied = await migrateDatabase(dataSource);
    } catch (error) {
      throw new DatabaseUnavailable(`migrating ${target} failed, nothing was changed: ${(error as Error).message}`);
    } finally {
      await dataSource.destroy();
    }
    if (values.json) out(json({ database: target, applied }));
    else if (applied.length === 0) out(`${target}: schema up to date, no migration to run\n`);
    else out(`${target}: applied ${applied.length} migration${applied.length === 1 ? '' : 's'}\n${applied.map((name) => `  ${name}\n`).join('')}`);
  },
});

/** The database without its credentials, for messages. */
function describe(database: DatabaseConfiguration): string {
  if (database.kind === 'sqlite') return `SQLite ${database.path}`;
  const url = new URL(database.url);
  return `PostgreSQL ${url.host}${url.pathname}`;
}
