/**
 * OutboxBacklog on TypeORM: one aggregate over the outbox rows past the least
 * advanced subscriber, a range scan of the outbox's primary key. On
 * PostgreSQL the statement carries its own timeout, so a scrape during a
 * slow spell gives up instead of holding a pooled connection.
 */
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { OutboxBacklog, type OutboxBacklogReading } from '../metrics/outbox-backlog.js';

const BACKLOG = 'SELECT COUNT(*) AS pending, MIN(o.occurred_at) AS oldest FROM outbox o WHERE o.position > (SELECT MIN(s.delivered_position) FROM event_subscribers s)';

@Injectable()
export class TypeormOutboxBacklog extends OutboxBacklog {
  constructor(private readonly dataSource: DataSource) {
    super();
  }

  async read(timeoutMs: number): Promise<OutboxBacklogReading> {
    let timer: NodeJS.Timeout | undefined;
    // Waiting for a pooled connection is not bounded by statement_timeout: the race bounds that too.
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the outbox backlog query took longer than ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const [row] = await Promise.race([this.query(timeoutMs), timeout]);
      const oldest = row?.oldest ?? null;
      return { pendingEvents: Number(row?.pending ?? 0), oldestOccurredAt: oldest === null ? null : new Date(oldest) };
    } finally {
      clearTimeout(timer);
    }
  }

  private query(timeoutMs: number): Promise<{ pending: string | number; oldest: string | null }[]> {
    if (this.dataSource.options.type !== 'postgres') return this.dataSource.query(BACKLOG);
    return this.dataSource.transaction(async (manager) => {
      await manager.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
      return manager.query(BACKLOG);
    });
  }
}
