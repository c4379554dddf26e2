/**
 * The readiness port for the database: can ccm run a query now? Bound to its
 * TypeORM adapter in PersistenceModule, the only module that touches TypeORM.
 */
export abstract class DatabaseProbe {
  /** `SELECT 1` on the application's own connection pool; rejects when the database cannot answer. */
  abstract ping(): Promise<void>;
}
