/**
 * The event side of persistence on real PostgreSQL and SQLite: subscribers
 * (TypeormEventSubscriberRepository), the outbox (appendToOutbox,
 * TypeormEventOutbox), the delivery backlog (TypeormOutboxBacklog) and the
 * relay's own view of them (TypeormEventRelayStore). Outbox positions and
 * subscribers are installation-wide, so each test starts from empty tables
 * (one database per kind: creating one per test cost seconds under load).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { CcmEvent } from '@ccm/event-consumer/contract';
import pg from 'pg';
import type { QueryRunner } from 'typeorm';
import type { Authority } from '../../src/authorities/authority.js';
import type { EventSubscriber } from '../../src/events/event-subscriber.js';
import { TypeormEventRelayStore } from '../../src/persistence/typeorm-event-relay-store.js';
import { TypeormEventSubscriberRepository } from '../../src/persistence/typeorm-event-subscriber.repository.js';
import { appendToOutbox, TypeormEventOutbox } from '../../src/persistence/typeorm-outbox.js';
import { TypeormOutboxBacklog } from '../../src/persistence/typeorm-outbox-backlog.js';
import { DomainError } from '../../src/shared/errors.js';
import { newId } from '../../src/shared/identifiers.js';
import { AT, DATABASE_KINDS, certificateEvent, certificateUnder, later, openTestDatabase, type OpenedDatabase } from '../support/persistence-fixtures.js';

const MINUTE = 60_000;

/** A CA as far as an event names it: the outbox has no foreign keys, so no row is needed. */
function authorityOf(tenantId: string): Authority {
  return { id: newId(), tenantId } as Authority;
}

function activatedEvent(tenantId: string, at: Date = AT): CcmEvent {
  const certificate = certificateUnder(authorityOf(tenantId));
  return certificateEvent(certificate, 'certificate.activated', 'active', null, at);
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function subscriberOf(overrides: Partial<Omit<EventSubscriber, 'deliveredPosition'>> = {}): Omit<EventSubscriber, 'deliveredPosition'> {
  const id = newId();
  return { id, name: `broker-${id}`, tenantIds: null, createdAt: AT, updatedAt: AT, ...overrides };
}

for (const kind of DATABASE_KINDS) {
  describe(`event persistence on ${kind}`, () => {
    let db: OpenedDatabase;
    let subscribers: TypeormEventSubscriberRepository;
    let outbox: TypeormEventOutbox;
    let backlog: TypeormOutboxBacklog;
    let relay: TypeormEventRelayStore;

    before(async () => {
      db = await openTestDatabase(kind);
      subscribers = new TypeormEventSubscriberRepository(db.dataSource, db.transactions);
      outbox = new TypeormEventOutbox(db.dataSource);
      backlog = new TypeormOutboxBacklog(db.dataSource);
    });
    after(() => db.close());
    beforeEach(async () => {
      await db.dataSource.query('DELETE FROM event_subscribers');
      await db.dataSource.query('DELETE FROM outbox');
      relay = new TypeormEventRelayStore(db.dataSource, outbox, subscribers);
    });
    // Its own connection goes back before the pool closes, as at shutdown.
    afterEach(() => relay.close());

    /** Each event in a transaction of its own, as the life-cycle store appends them. */
    async function append(...events: CcmEvent[]): Promise<void> {
      for (const event of events) await db.transactions.run((manager) => appendToOutbox(manager, event));
    }

    describe('subscribers', () => {
      it('creates a subscriber at position 0 on an empty outbox, and reads it back', async () => {
        const created = await subscribers.create(subscriberOf({ tenantIds: [newId(), newId()] }));
        assert.equal(created.deliveredPosition, 0);
        assert.deepEqual(await subscribers.findById(created.id), created);
        assert.equal(await subscribers.findById(newId()), null);
      });

      it('positions a new subscriber at the latest committed event, so it receives only what commits after', async () => {
        await append(activatedEvent(newId()), activatedEvent(newId()), activatedEvent(newId()));
        const latest = await outbox.latestPosition();
        const created = await subscribers.create(subscriberOf());
        assert.equal(created.deliveredPosition, latest);
        assert.deepEqual(await outbox.readAfter(created.deliveredPosition, 10), []);
        const next = activatedEvent(newId());
        await append(next);
        assert.deepEqual(
          (await outbox.readAfter(created.deliveredPosition, 10)).map((stored) => stored.event),
          [next],
        );
      });

      it('refuses a taken name as a conflict and stores nothing for it', async () => {
        const first = await subscribers.create(subscriberOf({ name: 'edge-brokers' }));
        const second = subscriberOf({ name: 'edge-brokers' });
        await assert.rejects(subscribers.create(second), (error: unknown) => {
          assert.ok(error instanceof DomainError);
          assert.equal(error.kind, 'conflict');
          assert.deepEqual(error.details, { field: 'name' });
          return true;
        });
        assert.equal(await subscribers.findById(second.id), null);
        assert.deepEqual(await subscribers.list(), [first]);
      });

      it('lists subscribers in id order and deletes each once', async () => {
        const made = [subscriberOf(), subscriberOf(), subscriberOf()];
        for (const subscriber of [...made].reverse()) await subscribers.create(subscriber);
        assert.deepEqual(
          (await subscribers.list()).map((subscriber) => subscriber.id),
          made.map((subscriber) => subscriber.id),
        );
        assert.equal(await subscribers.delete(made[1]!.id), true);
        assert.equal(await subscribers.delete(made[1]!.id), false);
        assert.equal(await subscribers.delete(newId()), false);
        assert.deepEqual(
          (await subscribers.list()).map((subscriber) => subscriber.id),
          [made[0]!.id, made[2]!.id],
        );
      });

      it('advances from the position it holds, and answers false to a relay that read an older one', async () => {
        const created = await subscribers.create(subscriberOf());
        assert.equal(await subscribers.advance(created.id, 0, 5, later(MINUTE)), true);
        assert.equal(await subscribers.advance(created.id, 0, 3, later(2 * MINUTE)), false);
        assert.deepEqual(await subscribers.findById(created.id), { ...created, deliveredPosition: 5, updatedAt: later(MINUTE) });
        assert.equal(await subscribers.advance(newId(), 0, 1, later(MINUTE)), false);
      });
    });

    describe('outbox', () => {
      it('hands out increasing positions in commit order and reads them oldest first, at most limit', async () => {
        const events = Array.from({ length: 5 }, (_, i) => activatedEvent(newId(), later(i)));
        await append(...events);
        const all = await outbox.readAfter(0, 100);
        assert.deepEqual(
          all.map((stored) => stored.event),
          events,
        );
        assert.ok(all.every((stored, i) => i === 0 || stored.position > all[i - 1]!.position));
        assert.equal(await outbox.latestPosition(), all.at(-1)!.position);
        const page = await outbox.readAfter(all[1]!.position, 2);
        assert.deepEqual(
          page.map((stored) => stored.event.id),
          [events[2]!.id, events[3]!.id],
        );
        assert.deepEqual(await outbox.readAfter(all.at(-1)!.position, 10), []);
      });

      it('answers 0 for the latest position of an empty outbox', async () => {
        assert.equal(await outbox.latestPosition(), 0);
        assert.deepEqual(await outbox.readAfter(0, 10), []);
      });

      it("reads only one tenant's events when asked for a tenant", async () => {
        const [mine, theirs] = [newId(), newId()];
        const events = [activatedEvent(mine), activatedEvent(theirs), activatedEvent(mine), activatedEvent(theirs)];
        await append(...events);
        assert.deepEqual(
          (await outbox.readAfter(0, 10, mine)).map((stored) => stored.event),
          [events[0], events[2]],
        );
        const first = (await outbox.readAfter(0, 1, theirs))[0]!;
        assert.deepEqual(first.event, events[1]);
        assert.deepEqual(
          (await outbox.readAfter(first.position, 10, theirs)).map((stored) => stored.event),
          [events[3]],
        );
        assert.deepEqual(await outbox.readAfter(0, 10, newId()), []);
      });

      it('keeps no event of a transaction that rolled back', async () => {
        const kept = activatedEvent(newId());
        const lost = activatedEvent(newId());
        await assert.rejects(
          db.transactions.run(async (manager) => {
            await appendToOutbox(manager, lost);
            throw new Error('the state change failed after its event');
          }),
          /state change failed/,
        );
        await append(kept);
        assert.deepEqual(
          (await outbox.readAfter(0, 10)).map((stored) => stored.event),
          [kept],
        );
      });

      it('hands out a distinct position to each of many events appended at once', async () => {
        const events = Array.from({ length: 20 }, () => activatedEvent(newId()));
        await Promise.all(events.map((event) => db.transactions.run((manager) => appendToOutbox(manager, event))));
        const stored = await outbox.readAfter(0, 100);
        assert.equal(new Set(stored.map((s) => s.position)).size, 20);
        assert.deepEqual(new Set(stored.map((s) => s.event.id)), new Set(events.map((event) => event.id)));
      });
    });

    describe('backlog', () => {
      it('reads no backlog without subscribers, however many events wait', async () => {
        await append(activatedEvent(newId()), activatedEvent(newId()));
        assert.deepEqual(await backlog.read(2000), { pendingEvents: 0, oldestOccurredAt: null });
      });

      it("counts the events past the least advanced subscriber, and when the oldest of them happened", async () => {
        await append(activatedEvent(newId(), later(0)));
        const behind = await subscribers.create(subscriberOf());
        const ahead = await subscribers.create(subscriberOf());
        assert.deepEqual(await backlog.read(2000), { pendingEvents: 0, oldestOccurredAt: null }, 'both start at the latest event');
        await append(activatedEvent(newId(), later(MINUTE)), activatedEvent(newId(), later(2 * MINUTE)), activatedEvent(newId(), later(3 * MINUTE)));
        const stored = await outbox.readAfter(behind.deliveredPosition, 10);
        assert.equal(await subscribers.advance(ahead.id, ahead.deliveredPosition, stored.at(-1)!.position, later(4 * MINUTE)), true);
        assert.deepEqual(await backlog.read(2000), { pendingEvents: 3, oldestOccurredAt: later(MINUTE) });
        assert.equal(await subscribers.advance(behind.id, behind.deliveredPosition, stored[0]!.position, later(4 * MINUTE)), true);
        assert.deepEqual(await backlog.read(2000), { pendingEvents: 2, oldestOccurredAt: later(2 * MINUTE) });
      });
    });

    describe('relay store', () => {
      it('sees the subscribers and events the repositories wrote, and advances only from the position held', async () => {
        const [mine, theirs] = [newId(), newId()];
        const filtered = await subscribers.create(subscriberOf({ tenantIds: [mine] }));
        const everyone = await subscribers.create(subscriberOf());
        const events = [activatedEvent(mine), activatedEvent(theirs), activatedEvent(mine)];
        await append(...events);
        assert.deepEqual(await relay.subscribers(), await subscribers.list());
        assert.deepEqual(
          (await relay.subscribers()).map((subscriber) => subscriber.id),
          [filtered.id, everyone.id],
        );
        // The relay reads every tenant's events; a subscriber's tenant filter is its to apply.
        const read = await relay.readAfter(0, 10);
        assert.deepEqual(
          read.map((stored) => stored.event),
          events,
        );
        assert.deepEqual(await relay.readAfter(read[0]!.position, 1), [read[1]]);

        assert.equal(await relay.advance(everyone.id, 0, read[2]!.position, later(MINUTE)), true);
        assert.equal(await relay.advance(everyone.id, 0, read[1]!.position, later(MINUTE)), false, 'another relay moved it first');
        assert.deepEqual(await subscribers.findById(everyone.id), { ...everyone, deliveredPosition: read[2]!.position, updatedAt: later(MINUTE) });
        // The repository and the relay store agree on the condition.
        assert.equal(await subscribers.advance(everyone.id, read[1]!.position, 0, later(MINUTE)), false);
      });

      it('keeps answering after close, through the shared connections', async () => {
        const created = await subscribers.create(subscriberOf());
        await append(activatedEvent(newId()));
        await relay.subscribers();
        await relay.close();
        assert.deepEqual(await relay.subscribers(), [created]);
        assert.equal((await relay.readAfter(0, 10)).length, 1);
        assert.equal(await relay.advance(created.id, 0, 1, later(MINUTE)), true);
      });
    });

    if (kind === 'postgres') {
      // Only PostgreSQL can be made to keep a reader waiting: SQLite's WAL readers are never blocked by a writer.
      describe('on PostgreSQL only', () => {
        it('gives up reading the backlog after its timeout while the outbox is locked', async () => {
          await subscribers.create(subscriberOf());
          const locker = new pg.Client({ connectionString: db.database.env['DATABASE_URL']! });
          await locker.connect();
          try {
            await locker.query('BEGIN');
            await locker.query('LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE');
            const started = Date.now();
            await assert.rejects(backlog.read(200));
            assert.ok(Date.now() - started < 2000, `gave up after ${Date.now() - started} ms`);
          } finally {
            await locker.query('ROLLBACK');
            await locker.end();
          }
          assert.deepEqual(await backlog.read(2000), { pendingEvents: 0, oldestOccurredAt: null });
        });

        it('takes another connection after its own was cut under a call, never the cut one again', async () => {
          const created = await subscribers.create(subscriberOf());
          await relay.subscribers();
          // The relay's own connection alone, so that the pool's others stay sound: its backend is read through the
          // adapter's private query runner, which the port rightly does not show.
          const own = (relay as unknown as { runner: QueryRunner }).runner;
          const [{ pid }] = (await own.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[];
          const locker = new pg.Client({ connectionString: db.database.env['DATABASE_URL']! });
          await locker.connect();
          try {
            // Cut while a read of the outbox is in flight, as a database restart in the middle of a pass would: the lock holds it there.
            await locker.query('BEGIN');
            await locker.query('LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE');
            const cut = relay.readAfter(0, 10).then(
              () => null,
              (error: unknown) => error,
            );
            await until(async () => (await locker.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = $2', [pid, 'Lock'])).rowCount === 1, 'the relay waiting on the lock');
            await locker.query('SELECT pg_terminate_backend($1)', [pid]);
            assert.ok((await cut) instanceof Error, 'the call the cut interrupted fails');
            // At once, as a request queued for a pooled connection would be: the cut connection must not be handed out again.
            const [next, pooled] = await Promise.allSettled([relay.subscribers(), db.dataSource.query('SELECT 1 AS one')]);
            assert.deepEqual(next, { status: 'fulfilled', value: [created] });
            assert.deepEqual(pooled, { status: 'fulfilled', value: [{ one: 1 }] });
          } finally {
            await locker.query('ROLLBACK').catch(() => undefined);
            await locker.end();
          }
        });
      });
    }
  });
}
