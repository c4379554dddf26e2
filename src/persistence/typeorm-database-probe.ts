/**
 * DatabaseProbe on the application's DataSource, PostgreSQL or SQLite alike.
 * One ping at a time: while a ping hangs (a PostgreSQL that accepts
 * connections and never answers), later probes wait for the same one instead
 * of taking another pooled connection each; the probe's own timeout decides
 * how long a caller waits.
 */
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DatabaseProbe } from '../health/database-probe.js';

@Injectable()
export class TypeormDatabaseProbe extends DatabaseProbe {
  private pending: Promise<void> | null = null;

  constructor(private readonly dataSource: DataSource) {
    super();
  }

  ping(): Promise<void> {
    this.pending ??= this.dataSource
      .query('SELECT 1')
      .then(() => undefined)
      .finally(() => {
        this.pending = null;
      });
    return this.pending;
  }
}
