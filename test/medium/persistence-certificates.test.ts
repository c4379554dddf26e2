/**
 * Client certificate records on real PostgreSQL and SQLite:
 * TypeormCertificateRepository (the batched pending and issued writes of an
 * issuance, its failure, the look-ups and the filtered, paged list, each kept
 * to its tenant) and TypeormAbandonedIssuanceStore (pending records a dead
 * process left behind marked failed, newer ones and the platform CA's left alone).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Authority } from '../../src/authorities/authority.js';
import type { ClientCertificate, ListedState } from '../../src/certificates/client-certificate.js';
import { CertificateRow } from '../../src/persistence/entities.js';
import { TypeormAbandonedIssuanceStore } from '../../src/persistence/typeorm-abandoned-issuance.store.js';
import { TypeormCertificateRepository } from '../../src/persistence/typeorm-certificate.repository.js';
import { newId } from '../../src/shared/identifiers.js';
import {
  AT,
  DATABASE_KINDS,
  certificateUnder,
  insertAuthority,
  insertCertificate,
  insertTenant,
  later,
  openTestDatabase,
  readAuthorityRow,
  readCertificateRow,
  type OpenedDatabase,
} from '../support/persistence-fixtures.js';

/** A certificate as issuance records it before signing: no fingerprints, not issued yet. */
function pendingUnder(authority: Authority, overrides: Partial<ClientCertificate> = {}): ClientCertificate {
  return { ...certificateUnder(authority, { state: 'pending' }), fingerprintSha256: null, fingerprintSha1: null, issuedAt: null, ...overrides };
}

function fingerprints(): { sha256: string; sha1: string } {
  return { sha256: randomBytes(32).toString('hex'), sha1: randomBytes(20).toString('hex') };
}

for (const kind of DATABASE_KINDS) {
  describe(`TypeormCertificateRepository on ${kind}`, () => {
    let db: OpenedDatabase;
    let certificates: TypeormCertificateRepository;

    before(async () => {
      db = await openTestDatabase(kind);
      certificates = new TypeormCertificateRepository(db.dataSource, db.transactions);
    });
    after(() => db.close());

    async function rootOfNewTenant(): Promise<Authority> {
      return insertAuthority(db.dataSource, { tenantId: (await insertTenant(db.dataSource)).id });
    }

    it('records concurrent pending certificates, hides them from look-ups, and issues them with their fingerprints', async () => {
      const authority = await rootOfNewTenant();
      const pending = Array.from({ length: 30 }, () => pendingUnder(authority));
      await Promise.all(pending.map((certificate) => certificates.insertPending(certificate)));
      for (const certificate of pending) {
        assert.equal((await readCertificateRow(db.dataSource, certificate.id)).state, 'pending');
        assert.equal(await certificates.findById(authority.tenantId!, certificate.id), null, 'a pending record is no certificate anyone holds');
        assert.equal(await certificates.findByAuthorityAndSerial(authority.id, certificate.serialNumber), null);
      }
      assert.deepEqual(await certificates.list(authority.tenantId!, {}, null, 100), { items: [], nextCursor: null });

      const issued = pending.map((certificate, i) => ({ certificate, fingerprints: fingerprints(), at: later(1000 + i) }));
      await Promise.all(issued.map(({ certificate, fingerprints, at }) => certificates.markIssued(certificate.id, fingerprints, at)));
      for (const { certificate, fingerprints, at } of issued) {
        const expected: ClientCertificate = { ...certificate, state: 'inactive', fingerprintSha256: fingerprints.sha256, fingerprintSha1: fingerprints.sha1, issuedAt: at, updatedAt: at };
        assert.deepEqual(await certificates.findById(authority.tenantId!, certificate.id), expected);
        assert.deepEqual(await certificates.findByFingerprint(authority.tenantId!, fingerprints.sha256), expected);
      }
      assert.equal((await certificates.list(authority.tenantId!, {}, null, 100)).items.length, pending.length);
    });

    it('fails only the caller whose pending certificate breaks a unique index, recording the rest of its batch', async () => {
      const authority = await rootOfNewTenant();
      const taken = await insertCertificate(db.dataSource, authority, { state: 'active' });
      const good = Array.from({ length: 4 }, () => pendingUnder(authority));
      const clash = pendingUnder(authority, { serialNumber: taken.serialNumber });
      const results = await Promise.allSettled([...good.slice(0, 2), clash, ...good.slice(2)].map((certificate) => certificates.insertPending(certificate)));
      assert.deepEqual(results.map((result) => result.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      for (const certificate of good) assert.equal((await readCertificateRow(db.dataSource, certificate.id)).state, 'pending');
      assert.equal(await db.dataSource.getRepository(CertificateRow).findOneBy({ id: clash.id }), null);
      // The serial is unique per CA only (RFC 5280 §4.1.2.2): another CA may use it, another root of the tenant too.
      await certificates.insertPending(pendingUnder(await insertAuthority(db.dataSource, { tenantId: authority.tenantId, status: 'retiring' }), { serialNumber: taken.serialNumber }));
    });

    it('issues only a pending record: a failed or issued one keeps its state and fingerprints', async () => {
      const authority = await rootOfNewTenant();
      const failed = pendingUnder(authority);
      await certificates.insertPending(failed);
      await certificates.markFailed(failed.id, later(500));
      const active = await insertCertificate(db.dataSource, authority, { state: 'active' });
      await Promise.all([certificates.markIssued(failed.id, fingerprints(), later(1000)), certificates.markIssued(active.id, fingerprints(), later(1000))]);
      const failedRow = await readCertificateRow(db.dataSource, failed.id);
      assert.deepEqual([failedRow.state, failedRow.fingerprintSha256, failedRow.updatedAt], ['failed', null, later(500)]);
      assert.deepEqual(await certificates.findById(authority.tenantId!, active.id), active);
    });

    it('marks a pending certificate failed, hidden from look-ups and lists, and leaves an issued one alone', async () => {
      const authority = await rootOfNewTenant();
      const pending = pendingUnder(authority);
      await certificates.insertPending(pending);
      await certificates.markFailed(pending.id, later(2000));
      const row = await readCertificateRow(db.dataSource, pending.id);
      assert.deepEqual([row.state, row.updatedAt], ['failed', later(2000)]);
      assert.equal(await certificates.findById(authority.tenantId!, pending.id), null);
      assert.equal(await certificates.findBySerial(authority.tenantId!, pending.serialNumber), null);
      assert.deepEqual((await certificates.list(authority.tenantId!, {}, null, 10)).items, []);

      const inactive = await insertCertificate(db.dataSource, authority);
      await certificates.markFailed(inactive.id, later(2000));
      assert.deepEqual(await certificates.findById(authority.tenantId!, inactive.id), inactive);
    });

    // The filter's type allows only listed states; a caller that gets round it (a cast, untyped input) still sees none.
    it('lists no pending or failed record even when the filter names that state', async () => {
      const authority = await rootOfNewTenant();
      const failed = pendingUnder(authority);
      await certificates.insertPending(failed);
      await certificates.markFailed(failed.id, later(2000));
      await certificates.insertPending(pendingUnder(authority));
      assert.deepEqual(await certificates.list(authority.tenantId!, { state: 'failed' as ListedState }, null, 10), { items: [], nextCursor: null });
      assert.deepEqual(await certificates.list(authority.tenantId!, { state: 'pending' as ListedState }, null, 10), { items: [], nextCursor: null });
    });

    it("finds a certificate by id, serial and fingerprint under its own tenant only, and by serial under its own CA only", async () => {
      const authority = await rootOfNewTenant();
      const sibling = await insertAuthority(db.dataSource, { tenantId: authority.tenantId, kind: 'external' });
      const otherTenant = await insertTenant(db.dataSource);
      const certificate = await insertCertificate(db.dataSource, authority, { state: 'suspended', suspendedAt: later(100), updatedAt: later(100) });
      const sameSerial = await insertCertificate(db.dataSource, sibling, { serialNumber: certificate.serialNumber, state: 'active', keySource: 'external' });
      const tenantId = authority.tenantId!;
      assert.deepEqual(await certificates.findById(tenantId, certificate.id), certificate);
      assert.deepEqual(await certificates.findByFingerprint(tenantId, certificate.fingerprintSha256!), certificate);
      assert.deepEqual(await certificates.findByAuthorityAndSerial(authority.id, certificate.serialNumber), certificate);
      assert.deepEqual(await certificates.findByAuthorityAndSerial(sibling.id, certificate.serialNumber), sameSerial);
      assert.ok([certificate.id, sameSerial.id].includes((await certificates.findBySerial(tenantId, certificate.serialNumber))!.id));
      assert.equal(await certificates.findById(otherTenant.id, certificate.id), null);
      assert.equal(await certificates.findBySerial(otherTenant.id, certificate.serialNumber), null);
      assert.equal(await certificates.findByFingerprint(otherTenant.id, certificate.fingerprintSha256!), null);
      assert.equal(await certificates.findById(tenantId, newId()), null);
      assert.equal(await certificates.findByAuthorityAndSerial(newId(), certificate.serialNumber), null);
    });

    it("pages a tenant's certificates in id order, filtered by state, common name and serial, never another tenant's", async () => {
      const authority = await rootOfNewTenant();
      const tenantId = authority.tenantId!;
      const states = ['inactive', 'active', 'suspended', 'revoked', 'active', 'active', 'pending', 'failed'] as const;
      const stored: ClientCertificate[] = [];
      for (const [i, state] of states.entries()) stored.push(await insertCertificate(db.dataSource, authority, { state, commonName: i % 2 === 0 ? 'pump' : `valve-${i}` }));
      const elsewhere = await rootOfNewTenant();
      await insertCertificate(db.dataSource, elsewhere, { state: 'active', commonName: 'pump', serialNumber: stored[1]!.serialNumber });
      const byId = (list: ClientCertificate[]) => [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const listed = byId(stored.filter((certificate) => certificate.state !== 'pending' && certificate.state !== 'failed'));

      const first = await certificates.list(tenantId, {}, null, 2);
      const second = await certificates.list(tenantId, {}, first.nextCursor, 2);
      const third = await certificates.list(tenantId, {}, second.nextCursor, 2);
      assert.deepEqual([first.items, second.items, third.items], [listed.slice(0, 2), listed.slice(2, 4), listed.slice(4)]);
      assert.equal(first.nextCursor, listed[1]!.id);
      assert.equal(second.nextCursor, listed[3]!.id);
      assert.equal(third.nextCursor, null, 'a last page that is exactly full says so');

      assert.deepEqual((await certificates.list(tenantId, { state: 'active' }, null, 10)).items, byId(stored.filter((certificate) => certificate.state === 'active')));
      assert.deepEqual((await certificates.list(tenantId, { commonName: 'pump' }, null, 10)).items, byId(listed.filter((certificate) => certificate.commonName === 'pump')));
      assert.deepEqual((await certificates.list(tenantId, { state: 'active', commonName: 'pump' }, null, 10)).items, byId(stored.filter((c) => c.state === 'active' && c.commonName === 'pump')));
      assert.deepEqual((await certificates.list(tenantId, { serialNumber: stored[1]!.serialNumber }, null, 10)).items, [stored[1]]);
      assert.deepEqual((await certificates.list(tenantId, { serialNumber: stored[6]!.serialNumber }, null, 10)).items, [], 'a pending record is listed nowhere');
      assert.deepEqual(await certificates.list((await insertTenant(db.dataSource)).id, {}, null, 10), { items: [], nextCursor: null });
    });
  });

  describe(`TypeormAbandonedIssuanceStore on ${kind}`, () => {
    let db: OpenedDatabase;

    before(async () => {
      db = await openTestDatabase(kind);
    });
    after(() => db.close());

    it("marks pending certificates and CAs recorded before the cut-off failed, and leaves newer ones, finished ones and the platform CA's pending row alone", async () => {
      const store = new TypeormAbandonedIssuanceStore(db.transactions);
      const cutOff = later(10 * 60_000);
      const sweptAt = later(20 * 60_000);
      const tenant = await insertTenant(db.dataSource);
      const root = await insertAuthority(db.dataSource, { tenantId: tenant.id });
      const platform = await insertAuthority(db.dataSource, { tenantId: null, kind: 'platform', status: 'pending', createdAt: AT });
      const abandonedRoot = await insertAuthority(db.dataSource, { tenantId: (await insertTenant(db.dataSource)).id, status: 'pending', createdAt: AT });
      const abandonedDelegated = await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'intermediate', status: 'pending', issuerAuthorityId: root.id, createdAt: later(1000) });
      const freshDelegated = await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'intermediate', status: 'pending', issuerAuthorityId: root.id, createdAt: cutOff });
      const oldActive = await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'external', createdAt: AT });

      const recorded = (state: ClientCertificate['state'], createdAt: Date) => insertCertificate(db.dataSource, root, { state, createdAt });
      const abandoned = [await recorded('pending', AT), await recorded('pending', later(10 * 60_000 - 1))];
      const fresh = await recorded('pending', cutOff);
      const oldInactive = await recorded('inactive', AT);

      assert.deepEqual(await store.markAbandoned(cutOff, sweptAt), { certificates: 2, authorities: 2 });
      for (const certificate of abandoned) {
        const row = await readCertificateRow(db.dataSource, certificate.id);
        assert.deepEqual([row.state, row.updatedAt], ['failed', sweptAt]);
      }
      assert.deepEqual([(await readCertificateRow(db.dataSource, fresh.id)).state, (await readCertificateRow(db.dataSource, oldInactive.id)).state], ['pending', 'inactive']);
      for (const authority of [abandonedRoot, abandonedDelegated]) {
        const row = await readAuthorityRow(db.dataSource, authority.id);
        assert.deepEqual([row.status, row.updatedAt], ['failed', sweptAt]);
      }
      for (const [authority, status] of [[platform, 'pending'], [freshDelegated, 'pending'], [oldActive, 'active'], [root, 'active']] as const) {
        const row = await readAuthorityRow(db.dataSource, authority.id);
        assert.deepEqual([row.status, row.updatedAt], [status, authority.updatedAt], authority.kind);
      }
      assert.deepEqual(await store.markAbandoned(cutOff, later(30 * 60_000)), { certificates: 0, authorities: 0 }, 'a second sweep finds nothing more');
    });
  });
}
