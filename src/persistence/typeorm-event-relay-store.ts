/**
 * EventRelayStore on TypeORM. On PostgreSQL it holds one connection of the
 * pool for the relay alone, so a pass costs a few milliseconds however many
 * requests queue for the others. On SQLite (one connection, whose
 * transactions are queued by Transactions) it goes through the ordinary
 * repositories.
 */
import { Injectable } from '@nestjs/common';
import { DataSource, MoreThan, type EntityManager, type QueryRunner } from 'typeorm';
import type { CcmEvent } from '@ccm/event-consumer/contract';
import type { StoredEvent } from '../events/event-outbox.js';
import { EventOutbox } from '../events/event-outbox.js';
import { EventRelayStore } from '../events/event-relay-store.js';
import { EventSubscriberRepository, type EventSubscriber } from '../events/event-subscriber.js';
import { EventSubscriberRow, OutboxRow } from './entities.js';

@Injectable()
export class TypeormEventRelayStore extends EventRelayStore {
  private runner: QueryRunner | null = null;
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly outbox: EventOutbox,
    private readonly subscriberRepository: EventSubscriberRepository,
  ) {
    super();
  }

  subscribers(): Promise<EventSubscriber[]> {
    return this.onOwnConnection(
      async (manager) =>
        (await manager.getRepository(EventSubscriberRow).find({ order: { id: 'ASC' } })).map((row) => ({
          id: row.id,
          name: row.name,
          tenantIds: row.tenantIds,
          deliveredPosition: row.deliveredPosition,
          createdAt: row.createdAt,
          updatedAt: row.updatedAt,
        })),
      () => this.subscriberRepository.list(),
    );
  }

  readAfter(position: number, limit: number): Promise<StoredEvent[]> {
    return this.onOwnConnection(
      async (manager) =>
        (await manager.getRepository(OutboxRow).find({ where: { position: MoreThan(position) }, order: { position: 'ASC' }, take: limit })).map((row) => ({
          position: row.position,
          event: JSON.parse(row.payload) as CcmEvent,
        })),
      () => this.outbox.readAfter(position, limit),
    );
  }

  advance(subscriberId: string, from: number, to: number, at: Date): Promise<boolean> {
    return this.onOwnConnection(
      // One statement: atomic without a transaction around it.
      async (manager) => ((await manager.update(EventSubscriberRow, { id: subscriberId, deliveredPosition: from }, { deliveredPosition: to, updatedAt: at })).affected ?? 0) === 1,
      () => this.subscriberRepository.advance(subscriberId, from, to, at),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    const runner = this.runner;
    this.runner = null;
    if (runner && !runner.isReleased) await runner.release();
  }

  private async onOwnConnection<T>(work: (manager: EntityManager) => Promise<T>, shared: () => Promise<T>): Promise<T> {
    if (this.dataSource.options.type !== 'postgres' || this.closed) return shared();
    // The connection is taken from the pool at the first query and kept until close().
    this.runner ??= this.dataSource.createQueryRunner();
    const runner = this.runner;
    try {
      return await work(runner.manager);
    } catch (error) {
      // The connection may be broken (a database restart, a cut): give it back with the error, which makes
      // pg-pool destroy it rather than hand it to the next caller, and take another on the next call.
      if (this.runner === runner) this.runner = null;
      await releaseDiscarding(runner, error).catch(() => undefined);
      throw error;
    }
  }
}

/**
 * PostgresQueryRunner's releasePostgresConnection(error) passes the error to
 * pg-pool's release, so the connection is thrown away instead of reused; its
 * plain release() cannot say so. The method is TypeORM's, not in its types.
 */
function releaseDiscarding(runner: QueryRunner, error: unknown): Promise<void> {
  const postgres = runner as QueryRunner & { releasePostgresConnection?: (error: unknown) => Promise<void> };
  return postgres.releasePostgresConnection ? postgres.releasePostgresConnection(error instanceof Error ? error : new Error(String(error))) : runner.release();
}
