/**
 * The unit-of-work port: runs work in one database transaction. SQLite (via
 * TypeORM's better-sqlite3 driver) shares a single connection, so two
 * transactions may not overlap there; they are queued instead.
 */
import type { DataSource, EntityManager } from 'typeorm';

export abstract class Transactions {
  abstract run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T>;
}

export class DatabaseTransactions extends Transactions {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly dataSource: DataSource) {
    super();
  }

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.dataSource.options.type !== 'better-sqlite3') return this.dataSource.transaction(work);
    const result = this.queue.then(() => this.dataSource.transaction(work));
    this.queue = result.catch(() => undefined);
    return result;
  }
}
