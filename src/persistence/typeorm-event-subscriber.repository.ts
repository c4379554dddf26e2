/** EventSubscriberRepository on TypeORM. */
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EventSubscriberRepository, type EventSubscriber } from '../events/event-subscriber.js';
import { DomainError } from '../shared/errors.js';
import { EventSubscriberRow, OutboxRow } from './entities.js';
import { Transactions } from './transactions.js';
import { isUniqueViolation } from './unique-violation.js';

function toSubscriber(row: EventSubscriberRow): EventSubscriber {
  return { id: row.id, name: row.name, tenantIds: row.tenantIds, deliveredPosition: row.deliveredPosition, createdAt: row.createdAt, updatedAt: row.updatedAt };
}

@Injectable()
export class TypeormEventSubscriberRepository extends EventSubscriberRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly transactions: Transactions,
  ) {
    super();
  }

  async create(subscriber: Omit<EventSubscriber, 'deliveredPosition'>): Promise<EventSubscriber> {
    try {
      return await this.transactions.run(async (manager) => {
        const latest = await manager.getRepository(OutboxRow).createQueryBuilder('o').select('MAX(o.position)', 'max').getRawOne<{ max: string | number | null }>();
        const row = Object.assign(new EventSubscriberRow(), { ...subscriber, tenantIds: subscriber.tenantIds ? [...subscriber.tenantIds] : null, deliveredPosition: Number(latest?.max ?? 0) });
        await manager.insert(EventSubscriberRow, row);
        return toSubscriber(row);
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new DomainError('conflict', `a subscriber named "${subscriber.name}" exists already`, { field: 'name' });
      throw error;
    }
  }

  async findById(id: string): Promise<EventSubscriber | null> {
    const row = await this.dataSource.getRepository(EventSubscriberRow).findOneBy({ id });
    return row ? toSubscriber(row) : null;
  }

  async list(): Promise<EventSubscriber[]> {
    return (await this.dataSource.getRepository(EventSubscriberRow).find({ order: { id: 'ASC' } })).map(toSubscriber);
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.transactions.run((manager) => manager.delete(EventSubscriberRow, { id }));
    return (result.affected ?? 0) === 1;
  }

  async advance(id: string, from: number, to: number, at: Date): Promise<boolean> {
    const result = await this.transactions.run((manager) => manager.update(EventSubscriberRow, { id, deliveredPosition: from }, { deliveredPosition: to, updatedAt: at }));
    return (result.affected ?? 0) === 1;
  }
}
