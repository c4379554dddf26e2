/**
 * The CRL store (TypeormRevocationListStore) on real PostgreSQL and SQLite:
 * one current CRL per CA and scope, replaced only by the process that saw
 * the number it replaces (a second first CRL, or a stale number, is false,
 * not an error); the entries a CRL must list, per shard or complete, and
 * never another CA's; which shards exist.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Authority } from '../../src/authorities/authority.js';
import { TypeormRevocationListStore } from '../../src/persistence/typeorm-revocation-list.store.js';
import { COMPLETE_SCOPE, type RevocationListRecord } from '../../src/revocation/revocation-list-store.js';
import { AT, DATABASE_KINDS, insertAuthority, insertCertificate, insertTenant, later, openTestDatabase, type OpenedDatabase } from '../support/persistence-fixtures.js';

const HOUR = 3_600_000;

function crl(authority: Authority, scope: number, crlNumber: number, revocationVersion = crlNumber): RevocationListRecord {
  return {
    authorityId: authority.id,
    scope,
    crlNumber,
    revocationVersion,
    thisUpdate: later(crlNumber * HOUR),
    nextUpdate: later((crlNumber + 24) * HOUR),
    der: new Uint8Array(randomBytes(300 + crlNumber)),
  };
}

/** As `current` returns it: the DER as a Buffer. */
function asStored(record: RevocationListRecord) {
  return { ...record, der: Buffer.from(record.der) };
}

for (const kind of DATABASE_KINDS) {
  describe(`TypeormRevocationListStore on ${kind}`, () => {
    let db: OpenedDatabase;
    let store: TypeormRevocationListStore;

    before(async () => {
      db = await openTestDatabase(kind);
      store = new TypeormRevocationListStore(db.dataSource, db.transactions);
    });
    after(() => db.close());

    async function tenantRoot(): Promise<Authority> {
      return insertAuthority(db.dataSource, { tenantId: (await insertTenant(db.dataSource)).id });
    }

    it('has no CRL before the first is saved, and reads the first back exactly', async () => {
      const authority = await tenantRoot();
      assert.equal(await store.current(authority.id, 0), null);
      const first = crl(authority, 0, 1);
      assert.equal(await store.save(first, null), true);
      assert.deepEqual(await store.current(authority.id, 0), asStored(first));
    });

    it('refuses a second first CRL with false, keeping the one stored', async () => {
      const authority = await tenantRoot();
      const first = crl(authority, 0, 1);
      assert.equal(await store.save(first, null), true);
      assert.equal(await store.save(crl(authority, 0, 1, 7), null), false);
      assert.deepEqual(await store.current(authority.id, 0), asStored(first));
    });

    it('replaces the CRL whose number it was given, and refuses a stale number with false', async () => {
      const authority = await tenantRoot();
      await store.save(crl(authority, 0, 1), null);
      const second = crl(authority, 0, 2);
      assert.equal(await store.save(second, 1), true);
      assert.deepEqual(await store.current(authority.id, 0), asStored(second));
      // Another process built its CRL from number 1 too, and lost.
      assert.equal(await store.save(crl(authority, 0, 2, 9), 1), false);
      assert.equal(await store.save(crl(authority, 0, 5), 4), false);
      assert.deepEqual(await store.current(authority.id, 0), asStored(second));
    });

    it('lets one of several processes replace a CRL when they race from the same number', async () => {
      const authority = await tenantRoot();
      await store.save(crl(authority, 0, 1), null);
      const candidates = Array.from({ length: 5 }, (_, i) => crl(authority, 0, 2, 10 + i));
      const outcomes = await Promise.all(candidates.map((candidate) => store.save(candidate, 1)));
      assert.equal(outcomes.filter(Boolean).length, 1);
      assert.deepEqual(await store.current(authority.id, 0), asStored(candidates[outcomes.indexOf(true)]!));
    });

    it("keeps each scope's CRL and each CA's apart", async () => {
      const authority = await tenantRoot();
      const other = await tenantRoot();
      const shard = crl(authority, 3, 1);
      const complete = crl(authority, COMPLETE_SCOPE, 4);
      const others = crl(other, 3, 2);
      for (const record of [shard, complete, others]) assert.equal(await store.save(record, null), true);
      assert.deepEqual(await store.current(authority.id, 3), asStored(shard));
      assert.deepEqual(await store.current(authority.id, COMPLETE_SCOPE), asStored(complete));
      assert.deepEqual(await store.current(other.id, 3), asStored(others));
      assert.equal(await store.current(authority.id, 0), null);
    });

    it('lists suspended certificates as certificateHold and revoked ones with their reason, and nothing else', async () => {
      const authority = await tenantRoot();
      const suspended = await insertCertificate(db.dataSource, authority, { state: 'suspended', suspendedAt: later(HOUR) });
      const revoked = await insertCertificate(db.dataSource, authority, { state: 'revoked', revokedAt: later(2 * HOUR), revocationReason: 'keyCompromise' });
      const reasonless = await insertCertificate(db.dataSource, authority, { state: 'revoked', revokedAt: later(3 * HOUR), revocationReason: null });
      for (const state of ['pending', 'failed', 'inactive', 'active'] as const) await insertCertificate(db.dataSource, authority, { state });
      const other = await tenantRoot();
      await insertCertificate(db.dataSource, other, { state: 'revoked', revokedAt: AT, revocationReason: 'superseded' });

      const entries = await store.revokedEntries(authority.id, 0);
      const expected = [
        { serialNumber: suspended.serialNumber, revokedAt: later(HOUR), reason: 'certificateHold' },
        { serialNumber: revoked.serialNumber, revokedAt: later(2 * HOUR), reason: 'keyCompromise' },
        { serialNumber: reasonless.serialNumber, revokedAt: later(3 * HOUR), reason: 'unspecified' },
      ];
      assert.deepEqual(
        [...entries].sort((a, b) => a.serialNumber.localeCompare(b.serialNumber)),
        expected.sort((a, b) => a.serialNumber.localeCompare(b.serialNumber)),
      );
      assert.deepEqual(await store.revokedEntries((await tenantRoot()).id, 0), []);
    });

    it('lists the entries of one shard under its scope, and of every shard under the complete scope', async () => {
      const authority = await tenantRoot();
      const inShard1 = await insertCertificate(db.dataSource, authority, { state: 'revoked', revokedAt: AT, revocationReason: 'superseded', crlShard: 1 });
      const inShard2 = await insertCertificate(db.dataSource, authority, { state: 'suspended', suspendedAt: AT, crlShard: 2 });
      await insertCertificate(db.dataSource, authority, { state: 'active', crlShard: 2 });
      const serials = async (scope: number) => (await store.revokedEntries(authority.id, scope)).map((entry) => entry.serialNumber).sort();
      assert.deepEqual(await serials(1), [inShard1.serialNumber]);
      assert.deepEqual(await serials(2), [inShard2.serialNumber]);
      assert.deepEqual(await serials(0), []);
      assert.deepEqual(await serials(COMPLETE_SCOPE), [inShard1.serialNumber, inShard2.serialNumber].sort());
    });

    it('tells which shards hold a certificate of the CA, whatever its state', async () => {
      const authority = await tenantRoot();
      const other = await tenantRoot();
      await insertCertificate(db.dataSource, authority, { state: 'active', crlShard: 0 });
      await insertCertificate(db.dataSource, authority, { state: 'pending', crlShard: 5 });
      await insertCertificate(db.dataSource, other, { state: 'active', crlShard: 6 });
      assert.equal(await store.hasShard(authority.id, 0), true);
      assert.equal(await store.hasShard(authority.id, 5), true);
      assert.equal(await store.hasShard(authority.id, 6), false, "another CA's shard");
      assert.equal(await store.hasShard(authority.id, 1), false);
    });
  });
}
