/**
 * Hand-written SQL for the writes on the issuance hot path, batched: the
 * certificates that concurrent requests record go to the database in one
 * statement (group commit), instead of one TypeORM round of query building,
 * transaction and commit each. Both dialects run the same statements; only
 * the parameter markers differ.
 */
import type { DataSource } from 'typeorm';
import { Coalescer } from '../shared/coalescer.js';
import { Transactions } from './transactions.js';
import { isUniqueViolation } from './unique-violation.js';

/** Rows per statement: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters at 24 columns a row. */
const MAXIMUM_BATCH = 200;
/** SQLite has one writer; PostgreSQL commits concurrent batches on several pooled connections. */
const BATCHES_IN_FLIGHT = { sqlite: 1, postgres: 4 } as const;

export type Dialect = 'sqlite' | 'postgres';

export function dialectOf(dataSource: DataSource): Dialect {
  return dataSource.options.type === 'postgres' ? 'postgres' : 'sqlite';
}

/** `(?, ?, ?)` rows for SQLite, `($1, $2, $3)` rows for PostgreSQL, numbered across all rows. */
export function valueRows(dialect: Dialect, rows: number, columns: number): string {
  const out: string[] = [];
  for (let row = 0; row < rows; row++) {
    const markers: string[] = [];
    for (let column = 0; column < columns; column++) markers.push(dialect === 'postgres' ? `$${row * columns + column + 1}` : '?');
    out.push(`(${markers.join(', ')})`);
  }
  return out.join(', ');
}

/**
 * A statement over many rows at once, each row given by `values`. When a
 * batch fails with a unique violation, its rows are written again one by one
 * so that only the offending row's caller gets the error.
 */
export class BatchedStatement<T> {
  private readonly coalescer: Coalescer<T, void>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
    private readonly statement: (dialect: Dialect, rows: number) => string,
    private readonly values: (item: T) => readonly unknown[],
  ) {
    const dialect = dialectOf(dataSource);
    this.coalescer = new Coalescer<T, void>({
      maxBatch: MAXIMUM_BATCH,
      maxInFlight: BATCHES_IN_FLIGHT[dialect],
      // Each SQLite commit is a synchronous fsync on the event loop (about 2 ms on this class of disk): one per turn, not per request.
      gatherTurn: true,
      run: (items) => this.write(items),
    });
  }

  submit(item: T): Promise<void> {
    return this.coalescer.submit(item);
  }

  drained(): Promise<void> {
    return this.coalescer.drained();
  }

  private async write(items: readonly T[]): Promise<readonly (void | Error)[]> {
    try {
      await this.executeAlone(items);
      return items.map(() => undefined);
    } catch (error) {
      if (items.length === 1 || !isUniqueViolation(error)) throw error;
      return Promise.all(
        items.map((item) =>
          this.executeAlone([item]).then(
            () => undefined,
            (failure: unknown) => (failure instanceof Error ? failure : new Error(String(failure))),
          ),
        ),
      );
    }
  }

  /**
   * One statement is atomic on its own. PostgreSQL runs it on any pooled
   * connection in one round trip; SQLite's single shared connection must wait
   * for a transaction in progress, or the statement would join it.
   */
  private async executeAlone(items: readonly T[]): Promise<void> {
    const dialect = dialectOf(this.dataSource);
    const sql = this.statement(dialect, items.length);
    const parameters = items.flatMap((item) => this.values(item));
    if (dialect === 'postgres') await this.dataSource.query(sql, parameters);
    else await this.transactions.run((manager) => manager.query(sql, parameters));
  }
}
