/**
 * The unit-of-work port: runs work in one database transaction.
 *
 * PostgreSQL gives each unit a pooled connection and a transaction of its own.
 * SQLite (TypeORM's better-sqlite3 driver) has one shared connection, and each
 * commit there is a synchronous fsync on the event loop (about 2 ms on this
 * class of disk), so units may neither overlap nor each pay for a commit: the
 * units submitted within one event-loop turn run one after the other inside
 * a single transaction, each in a savepoint of its own (group commit). A unit
 * that fails is rolled back to its savepoint and fails alone; the others'
 * callers hear of their success only once the shared COMMIT is durable.
 */
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

export abstract class Transactions {
  abstract run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T>;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

interface Unit {
  readonly work: (manager: EntityManager) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

export class DatabaseTransactions extends Transactions {
  private waiting: Unit[] = [];
  private gathering: NodeJS.Immediate | null = null;
  private groups: Promise<void> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {
    super();
  }

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.dataSource.options.type !== 'better-sqlite3') return this.dataSource.transaction(work);
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.gathering ??= setImmediate(() => {
        this.gathering = null;
        const group = this.waiting.splice(0);
        // commitGroup settles every unit itself; the chain must survive anything it throws, or later groups would never run.
        this.groups = this.groups.then(() => this.commitGroup(group)).catch((error: unknown) => {
          for (const unit of group) unit.reject(error);
        });
      });
    });
  }

  private async commitGroup(group: readonly Unit[]): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    const outcomes: Outcome[] = [];
    try {
      await runner.connect();
      await runner.startTransaction();
      for (const unit of group) outcomes.push(group.length === 1 ? await alone(unit, runner) : await inSavepoint(unit, runner));
      await runner.commitTransaction();
    } catch (error) {
      // The group as a whole failed (BEGIN or COMMIT): nothing of it is stored, so every caller hears so.
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      await runner.release().catch(() => undefined);
      for (const unit of group) unit.reject(error);
      return;
    }
    await runner.release().catch(() => undefined);
    group.forEach((unit, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    });
  }
}

/** A group of one needs no savepoint: its failure rolls back the whole transaction, which holds nothing else. */
async function alone(unit: Unit, runner: QueryRunner): Promise<Outcome> {
  try {
    return { ok: true, value: await unit.work(runner.manager) };
  } catch (error) {
    await runner.rollbackTransaction();
    await runner.startTransaction();
    return { ok: false, error };
  }
}

async function inSavepoint(unit: Unit, runner: QueryRunner): Promise<Outcome> {
  await runner.query('SAVEPOINT unit');
  try {
    const value = await unit.work(runner.manager);
    await runner.query('RELEASE unit');
    return { ok: true, value };
  } catch (error) {
    await runner.query('ROLLBACK TO unit');
    await runner.query('RELEASE unit');
    return { ok: false, error };
  }
}
