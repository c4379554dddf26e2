/**
 * Reads on the hot paths (device authentication) as hand-written,
 * parameterised SQL, without TypeORM's query building: in a profile of the
 * authentication path, building and hydrating `findOneBy`/`find` queries cost
 * more CPU than PostgreSQL took to answer them. On PostgreSQL each text is a
 * named prepared statement, parsed once per pooled connection and planned
 * once PostgreSQL settles on a generic plan; on SQLite, better-sqlite3 keeps
 * the prepared statement (TypeORM's statement cache). Rows come back as entity objects through the entities'
 * own column metadata and transformers, so they read exactly as TypeORM's.
 */
import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';

type ColumnMetadata = ReturnType<DataSource['getMetadata']>['columns'][number];

interface PostgresPool {
  query(config: { name: string; text: string; values: readonly unknown[] }): Promise<{ rows: Record<string, unknown>[] }>;
}

/** One SQL text written with PostgreSQL's `$1…$n` markers; SQLite gets `?` markers and the values in the order they appear. */
export class PreparedQuery {
  private readonly name: string;
  private readonly sqliteText: string;
  private readonly sqliteOrder: number[] = [];

  constructor(
    private readonly dataSource: DataSource,
    private readonly text: string,
  ) {
    // The name is per text: PostgreSQL refuses a second text under a name already prepared on a connection.
    this.name = `ccm_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    this.sqliteText = text.replace(/\$(\d+)/g, (_marker, position: string) => {
      this.sqliteOrder.push(Number(position) - 1);
      return '?';
    });
  }

  async rows(values: readonly unknown[]): Promise<Record<string, unknown>[]> {
    if (this.dataSource.options.type === 'postgres') {
      const pool = (this.dataSource.driver as unknown as { master: PostgresPool }).master;
      return (await pool.query({ name: this.name, text: this.text, values })).rows;
    }
    return (await this.dataSource.query(this.sqliteText, this.sqliteOrder.map((index) => values[index]))) as Record<string, unknown>[];
  }
}

/**
 * The columns of one entity under a table alias, for a hand-written SELECT
 * (joins included), and the entity back from a result row. Follows the
 * entity's metadata, so a column added to the entity is read here too.
 */
export class EntityColumns<E extends object> {
  /** `alias.column AS "alias_column", …`: for the SELECT list. */
  readonly select: string;
  private readonly columns: readonly { readonly metadata: ColumnMetadata; readonly key: string }[];
  private readonly primaryKey: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly entity: new () => E,
    alias: string,
  ) {
    const metadata = dataSource.getMetadata(entity);
    this.columns = metadata.columns.map((column) => ({ metadata: column, key: `${alias}_${column.databaseName}` }));
    this.select = this.columns.map(({ metadata: column, key }) => `${alias}."${column.databaseName}" AS "${key}"`).join(', ');
    this.primaryKey = `${alias}_${metadata.primaryColumns[0]!.databaseName}`;
  }

  /** The entity in `row`; null when the row has none (the outer side of a LEFT JOIN that found nothing). */
  read(row: Record<string, unknown>): E | null {
    if (row[this.primaryKey] === null || row[this.primaryKey] === undefined) return null;
    return this.hydrate((column, key) => row[key]);
  }

  /**
   * The entity from a whole row as one JSON object keyed by column name
   * (PostgreSQL's `to_json(alias)`); null for SQL NULL. One field instead
   * of one per column: node-postgres' per-field work on each result was a
   * visible share of the authentication profile.
   */
  readJson(value: unknown): E | null {
    if (value === null || value === undefined) return null;
    const record = value as Record<string, unknown>;
    return this.hydrate((column) => record[column.databaseName]);
  }

  private hydrate(valueOf: (column: ColumnMetadata, key: string) => unknown): E {
    const entity = new this.entity() as Record<string, unknown>;
    const driver = this.dataSource.driver;
    for (const { metadata: column, key } of this.columns) entity[column.propertyName] = driver.prepareHydratedValue(valueOf(column, key) ?? null, column);
    return entity as E;
  }
}
