/**
 * The audit trail (TypeormAuditTrail) on real PostgreSQL and SQLite: a batch
 * goes in whole or not at all, in order; the listing pages by position,
 * oldest first, and matches every member of its filter, so one tenant's
 * listing never shows another's entries.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEntry } from '../../src/audit/audit-trail.js';
import { TypeormAuditTrail } from '../../src/persistence/typeorm-audit-trail.js';
import { newId } from '../../src/shared/identifiers.js';
import { AT, DATABASE_KINDS, later, openTestDatabase, type OpenedDatabase } from '../support/persistence-fixtures.js';

function entry(tenantId: string | null, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    id: newId(),
    occurredAt: AT,
    tenantId,
    actor: 'bootstrap-admin',
    action: 'certificate.issue',
    targetType: 'certificate',
    targetId: newId(),
    outcome: 'succeeded',
    reason: null,
    details: null,
    ...overrides,
  };
}

for (const kind of DATABASE_KINDS) {
  describe(`TypeormAuditTrail on ${kind}`, () => {
    let db: OpenedDatabase;
    let trail: TypeormAuditTrail;

    before(async () => {
      db = await openTestDatabase(kind);
      trail = new TypeormAuditTrail(db.dataSource, db.transactions);
    });
    after(() => db.close());

    it('stores a batch in its order, with every field read back as written', async () => {
      const tenantId = newId();
      const batch = [
        entry(tenantId, { actor: `tenant:${newId()}`, details: { serialNumber: '7f01', state: 'revoked', shard: 3, notify: true, names: ['a', 'b', null] } }),
        entry(tenantId, { occurredAt: later(1), action: 'certificate.revoke', outcome: 'refused', reason: 'illegal-transition', targetType: null, targetId: null }),
        entry(tenantId, { occurredAt: later(2), outcome: 'failed', reason: 'internal' }),
      ];
      await trail.append(batch);
      const listed = await trail.list({ tenantId }, 0, 10);
      assert.deepEqual(
        listed.map((stored) => stored.entry),
        batch,
      );
      const positions = listed.map((stored) => stored.position);
      assert.deepEqual(positions, [positions[0], positions[0]! + 1, positions[0]! + 2], 'consecutive positions in batch order');
    });

    it('stores absent details as SQL NULL, not as the JSON text "null"', async () => {
      const stored = entry(null, { action: 'tenant.create', targetType: 'tenant' });
      await trail.append([stored]);
      const rows = await db.database.query<{ details: unknown }>(`SELECT details FROM audit_log WHERE id = '${stored.id}'`);
      assert.deepEqual(rows, [{ details: null }]);
    });

    it('appends nothing for an empty batch', async () => {
      const [{ count: before }] = await db.database.query<{ count: string | number }>('SELECT COUNT(*) AS count FROM audit_log');
      await trail.append([]);
      const [{ count: afterwards }] = await db.database.query<{ count: string | number }>('SELECT COUNT(*) AS count FROM audit_log');
      assert.equal(Number(afterwards), Number(before));
    });

    it('stores none of a batch when one of its entries is refused', async () => {
      const tenantId = newId();
      const taken = entry(tenantId);
      await trail.append([taken]);
      // The third reuses an id: uq_audit_log_id refuses it, and with it the whole statement.
      await assert.rejects(trail.append([entry(tenantId), entry(tenantId), { ...entry(tenantId), id: taken.id }]));
      assert.deepEqual(
        (await trail.list({ tenantId }, 0, 10)).map((stored) => stored.entry),
        [taken],
      );
    });

    it('pages oldest first: after a position, at most limit, then an empty page past the end', async () => {
      const tenantId = newId();
      const entries = Array.from({ length: 5 }, (_, i) => entry(tenantId, { occurredAt: later(i) }));
      await trail.append(entries.slice(0, 2));
      await trail.append(entries.slice(2));
      const first = await trail.list({ tenantId }, 0, 2);
      const second = await trail.list({ tenantId }, first.at(-1)!.position, 2);
      const third = await trail.list({ tenantId }, second.at(-1)!.position, 2);
      assert.deepEqual(
        [first, second, third].map((page) => page.map((stored) => stored.entry.id)),
        [entries.slice(0, 2), entries.slice(2, 4), entries.slice(4)].map((page) => page.map((e) => e.id)),
      );
      assert.deepEqual(await trail.list({ tenantId }, third.at(-1)!.position, 2), []);
    });

    it("never lists another tenant's entries, nor platform-wide ones, under a tenant filter", async () => {
      const [mine, theirs] = [newId(), newId()];
      const interleaved = [entry(mine), entry(theirs), entry(null), entry(mine), entry(theirs)];
      await trail.append(interleaved);
      assert.deepEqual(
        (await trail.list({ tenantId: mine }, 0, 100)).map((stored) => stored.entry.id),
        [interleaved[0]!.id, interleaved[3]!.id],
      );
      assert.deepEqual(
        (await trail.list({ tenantId: theirs }, 0, 100)).map((stored) => stored.entry.id),
        [interleaved[1]!.id, interleaved[4]!.id],
      );
    });

    it('matches every member the filter gives: action, outcome and target together', async () => {
      const tenantId = newId();
      const target = newId();
      const refusedRevocation = entry(tenantId, { action: 'certificate.revoke', outcome: 'refused', reason: 'forbidden', targetId: target });
      const entries = [
        refusedRevocation,
        entry(tenantId, { action: 'certificate.revoke', outcome: 'succeeded', targetId: target }),
        entry(tenantId, { action: 'certificate.suspend', outcome: 'refused', reason: 'forbidden', targetId: target }),
        entry(tenantId, { action: 'certificate.revoke', outcome: 'refused', reason: 'forbidden' }),
      ];
      await trail.append(entries);
      const ids = async (filter: Parameters<TypeormAuditTrail['list']>[0]) => (await trail.list({ tenantId, ...filter }, 0, 100)).map((stored) => stored.entry.id);
      assert.deepEqual(await ids({ action: 'certificate.revoke', outcome: 'refused', targetId: target }), [refusedRevocation.id]);
      assert.deepEqual(await ids({ action: 'certificate.revoke' }), [entries[0]!.id, entries[1]!.id, entries[3]!.id]);
      assert.deepEqual(await ids({ outcome: 'refused' }), [entries[0]!.id, entries[2]!.id, entries[3]!.id]);
      assert.deepEqual(await ids({ targetId: target }), [entries[0]!.id, entries[1]!.id, entries[2]!.id]);
      assert.deepEqual(await ids({ action: 'device.register' }), []);
    });
  });
}
