/**
 * `ccm serve`, `ccm migrate` and `ccm authorities check-names`: the commands that act on the installation
 * itself (its configuration from the environment, its database), not on a
 * running ccm over HTTP.
 */
import type { DataSource } from 'typeorm';
import type { NameCollision } from '../authorities/authority-names.js';
import { ConfigurationError, parseConfiguration, type DatabaseConfiguration } from '../config/configuration.js';
import { defineCommand, json, type Command } from './command.js';
import { CliError, DatabaseUnavailable, EXIT_CODES, UsageError } from './outcome.js';

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
    const { dataSource, target } = await openConfiguredDatabase(env);
    const { migrateDatabase } = await import('../persistence/data-source.js');
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

export const CHECK_AUTHORITY_NAMES: Command = defineCommand({
  name: 'check-names',
  summary: 'list CAs that share a subject (run before upgrading past 0.1)',
  usage: `Usage: ccm authorities check-names [--json]

Reads the CAs in the database the environment names (DATABASE_URL, else
CCM_SQLITE_PATH) and lists every subject that more than one CA holds, compared
as RFC 5280 §7.1 compares names (case and spacing do not count). ccm refuses
such names for new CAs; ones recorded before that rule must be resolved by
the operator: remove (DELETE /v1/tenants/{tenantId}/authorities/{id}) the CA
that should not be there. Works on a database of any schema version, so it
can run before the upgrade whose migration would stop on them.
With --json, {"database": ..., "collisions": [{comparableSubject, blocking, authorities}]}.

Options:
  --json                  print the outcome as JSON

Exit codes: 0 no CAs in force share a name (revoked CAs or OCSP responders
that share one are listed), 3 some do (the migration to this version stops
until they are resolved), 2 bad configuration, 4 database unreachable.
`,
  options: { json: { type: 'boolean' } },
  async run(values, { env, out }) {
    const { dataSource, target } = await openConfiguredDatabase(env);
    const { authorityNameCollisions, describeCollision } = await import('../authorities/authority-names.js');
    const { readNamedAuthorities } = await import('../persistence/named-authorities.js');
    let authorities: Awaited<ReturnType<typeof readNamedAuthorities>>;
    try {
      authorities = await readNamedAuthorities((sql) => dataSource.query(sql));
    } catch (error) {
      throw new DatabaseUnavailable(`reading the CAs of ${target} failed: ${(error as Error).message}`);
    } finally {
      await dataSource.destroy();
    }
    const collisions = authorityNameCollisions(authorities);
    const blocking = collisions.filter((collision) => collision.blocking);
    if (values.json) out(json({ database: target, collisions }));
    else if (collisions.length === 0) out(`${target}: every CA has a name of its own\n`);
    else out(`${target}: ${collisions.length} name${collisions.length === 1 ? ' is' : 's are'} shared (${blocking.length} by CAs in force)\n${collisions.map((c) => `${collisionLabel(c)}:\n${describeCollision(c)}\n`).join('')}`);
    if (blocking.length > 0) throw new SharedAuthorityNames(`${blocking.length} name${blocking.length === 1 ? ' is' : 's are'} held by more than one CA in force; remove all but one CA of each`);
  },
});

/** Why a shared name does (not) stop the upgrade: a non-blocking one holds at most one CA in force, beside revoked CAs or OCSP responders (which the unique index leaves out). */
function collisionLabel(collision: NameCollision): string {
  if (collision.blocking) return 'in force';
  return collision.authorities.some((authority) => authority.kind === 'ocsp-responder') ? 'with OCSP responders' : 'revoked only';
}

/** CAs in force share a name: exit 3, as a refusal. */
class SharedAuthorityNames extends CliError {
  readonly exitCode = EXIT_CODES.refused;
}

/** The database of the environment's configuration, connected without touching its schema. */
async function openConfiguredDatabase(env: NodeJS.ProcessEnv): Promise<{ dataSource: DataSource; target: string }> {
  let database: DatabaseConfiguration;
  try {
    database = parseConfiguration(env).database;
  } catch (error) {
    if (error instanceof ConfigurationError) throw new UsageError(error.message);
    throw error;
  }
  const target = describe(database);
  // Loaded here, not at the top: TypeORM and the entities would slow every other command's start.
  const { connectDatabase } = await import('../persistence/data-source.js');
  try {
    return { dataSource: await connectDatabase(database), target };
  } catch (error) {
    throw new DatabaseUnavailable(`cannot open the database ${target}: ${(error as Error).message}`);
  }
}

/** The database without its credentials, for messages. */
function describe(database: DatabaseConfiguration): string {
  if (database.kind === 'sqlite') return `SQLite ${database.path}`;
  const url = new URL(database.url);
  return `PostgreSQL ${url.host}${url.pathname}`;
}
