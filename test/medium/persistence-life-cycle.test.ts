/**
 * The life-cycle store (TypeormLifeCycleStore) on real PostgreSQL and
 * SQLite: a transition is a conditional update that lands with its outbox
 * event or not at all, only once however many requests race for it; a CA
 * revocation takes its certificates and delegated intermediates with it,
 * and no other CA's; a recorded use is throttled and never an event.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Authority } from '../../src/authorities/authority.js';
import type { ClientCertificate } from '../../src/certificates/client-certificate.js';
import type { Transition } from '../../src/lifecycle/certificate-transition.js';
import { TypeormLifeCycleStore } from '../../src/persistence/typeorm-life-cycle.store.js';
import { newId } from '../../src/shared/identifiers.js';
import {
  AT,
  DATABASE_KINDS,
  authorityRevokedEvent,
  certificateEvent,
  insertAuthority,
  insertCertificate,
  insertTenant,
  later,
  openTestDatabase,
  outboxEvents,
  readAuthorityRow,
  readCertificateRow,
  RecordedTransitions,
  type OpenedDatabase,
} from '../support/persistence-fixtures.js';

const MINUTE = 60_000;

const activation = (at: Date): Transition => ({ from: 'inactive', to: 'active', eventType: 'certificate.activated', reason: null, at, changesRevocationList: false });
const suspension = (from: 'inactive' | 'active', at: Date): Transition => ({ from, to: 'suspended', eventType: 'certificate.suspended', reason: 'certificateHold', at, changesRevocationList: true });
const reactivation = (to: 'inactive' | 'active', at: Date): Transition => ({ from: 'suspended', to, eventType: 'certificate.reactivated', reason: null, at, changesRevocationList: true });
const revocation = (from: Transition['from'], at: Date): Transition => ({ from, to: 'revoked', eventType: 'certificate.revoked', reason: 'keyCompromise', at, changesRevocationList: true });

function eventOf(certificate: ClientCertificate, transition: Transition) {
  return certificateEvent(certificate, transition.eventType, transition.to === 'revoked' ? 'revoked' : transition.to, transition.reason, transition.at);
}

for (const kind of DATABASE_KINDS) {
  describe(`TypeormLifeCycleStore on ${kind}`, () => {
    let db: OpenedDatabase;
    let transitions: RecordedTransitions;
    let store: TypeormLifeCycleStore;

    before(async () => {
      db = await openTestDatabase(kind);
      transitions = new RecordedTransitions();
      store = new TypeormLifeCycleStore(db.dataSource, db.transactions, transitions);
    });
    after(() => db.close());

    async function tenantRoot(): Promise<Authority> {
      return insertAuthority(db.dataSource, { tenantId: (await insertTenant(db.dataSource)).id });
    }

    async function eventsOf(filter: { certificateId?: string; authorityId?: string }) {
      return (await outboxEvents(db.dataSource))
        .filter((stored) => (filter.certificateId === undefined || stored.event.certificateId === filter.certificateId) && (filter.authorityId === undefined || stored.event.authorityId === filter.authorityId))
        .map((stored) => stored.event);
    }

    it('activates with the first use stamped, appends the event, and leaves the revocation version alone', async () => {
      const authority = await tenantRoot();
      const certificate = await insertCertificate(db.dataSource, authority);
      const transition = activation(later(MINUTE));
      const event = eventOf(certificate, transition);
      const counted = transitions.recorded.length;
      const changed = await store.applyCertificateTransition(certificate, transition, event);
      assert.deepEqual(changed, { ...certificate, state: 'active', firstUsedAt: later(MINUTE), updatedAt: later(MINUTE) });
      assert.deepEqual(await eventsOf({ certificateId: certificate.id }), [event]);
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, 0);
      assert.deepEqual(transitions.recorded.slice(counted), [{ from: 'inactive', to: 'active', count: 1 }]);
    });

    it('suspends and reactivates with the suspension stamped then cleared, each time a new revocation version', async () => {
      const authority = await tenantRoot();
      const certificate = await insertCertificate(db.dataSource, authority, { state: 'active', firstUsedAt: AT });
      const suspend = suspension('active', later(MINUTE));
      const suspended = await store.applyCertificateTransition(certificate, suspend, eventOf(certificate, suspend));
      assert.deepEqual(suspended, { ...certificate, state: 'suspended', suspendedAt: later(MINUTE), updatedAt: later(MINUTE) });
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, 1);

      const reactivate = reactivation('active', later(2 * MINUTE));
      const reactivated = await store.applyCertificateTransition(suspended!, reactivate, eventOf(certificate, reactivate));
      assert.deepEqual(reactivated, { ...certificate, state: 'active', suspendedAt: null, updatedAt: later(2 * MINUTE) });
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, 2);
      assert.deepEqual(
        (await eventsOf({ certificateId: certificate.id })).map((event) => event.type),
        ['certificate.suspended', 'certificate.reactivated'],
      );
    });

    it('revokes a suspended certificate with the reason and the time, clearing the suspension', async () => {
      const authority = await tenantRoot();
      const certificate = await insertCertificate(db.dataSource, authority, { state: 'suspended', suspendedAt: AT });
      const revoke = revocation('suspended', later(MINUTE));
      const revoked = await store.applyCertificateTransition(certificate, revoke, eventOf(certificate, revoke));
      assert.deepEqual(revoked, { ...certificate, state: 'revoked', revokedAt: later(MINUTE), revocationReason: 'keyCompromise', suspendedAt: null, updatedAt: later(MINUTE) });
    });

    it('returns null and writes nothing when the certificate is no longer in the state the transition starts from', async () => {
      const authority = await tenantRoot();
      const certificate = await insertCertificate(db.dataSource, authority, { state: 'revoked', revokedAt: AT, revocationReason: 'superseded' });
      const counted = transitions.recorded.length;
      // What the caller read before a concurrent revocation: still active.
      const stale: ClientCertificate = { ...certificate, state: 'active' };
      const suspend = suspension('active', later(MINUTE));
      assert.equal(await store.applyCertificateTransition(stale, suspend, eventOf(certificate, suspend)), null);
      const row = await readCertificateRow(db.dataSource, certificate.id);
      assert.deepEqual([row.state, row.suspendedAt, row.updatedAt], ['revoked', null, AT]);
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, 0);
      assert.deepEqual(await eventsOf({ certificateId: certificate.id }), []);
      assert.equal(transitions.recorded.length, counted);
    });

    it('applies one of several identical transitions racing each other, with one event', async () => {
      const authority = await tenantRoot();
      const certificate = await insertCertificate(db.dataSource, authority, { state: 'active', firstUsedAt: AT });
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) => {
          const revoke = revocation('active', later(MINUTE + i));
          return store.applyCertificateTransition(certificate, revoke, eventOf(certificate, revoke));
        }),
      );
      assert.equal(outcomes.filter((outcome) => outcome !== null).length, 1);
      assert.equal((await eventsOf({ certificateId: certificate.id })).length, 1);
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, 1);
    });

    it('keeps the state unchanged when its event cannot be appended', async () => {
      const authority = await tenantRoot();
      const certificate = await insertCertificate(db.dataSource, authority);
      const other = await insertCertificate(db.dataSource, authority);
      const first = activation(later(MINUTE));
      const event = eventOf(other, first);
      await store.applyCertificateTransition(other, first, event);
      // An event id the outbox holds already (uq_outbox_id): the append fails, and the suspension with it.
      const suspend = suspension('inactive', later(2 * MINUTE));
      await assert.rejects(store.applyCertificateTransition(certificate, suspend, { ...eventOf(certificate, suspend), id: event.id }));
      const row = await readCertificateRow(db.dataSource, certificate.id);
      assert.deepEqual([row.state, row.suspendedAt, row.updatedAt], ['inactive', null, AT]);
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, 0);
      assert.deepEqual(await eventsOf({ certificateId: certificate.id }), []);
    });

    it('applies concurrent transitions of many certificates, each with its columns and its event, the CA\'s revocation version raised once per CRL change', async () => {
      const authority = await tenantRoot();
      const inactive = await Promise.all(Array.from({ length: 30 }, () => insertCertificate(db.dataSource, authority)));
      const active = await Promise.all(Array.from({ length: 10 }, () => insertCertificate(db.dataSource, authority, { state: 'active', firstUsedAt: AT })));
      const requests = [
        ...inactive.slice(0, 20).map((certificate, i) => ({ certificate, transition: suspension('inactive', later(MINUTE + i)) })),
        ...inactive.slice(20).map((certificate, i) => ({ certificate, transition: activation(later(2 * MINUTE + i)) })),
        ...active.map((certificate, i) => ({ certificate, transition: revocation('active', later(3 * MINUTE + i)) })),
      ];
      const outcomes = await Promise.all(requests.map(({ certificate, transition }) => store.applyCertificateTransition(certificate, transition, eventOf(certificate, transition))));

      for (const [i, { certificate, transition }] of requests.entries()) {
        assert.equal(outcomes[i]?.id, certificate.id);
        assert.equal(outcomes[i]?.state, transition.to);
        const row = await readCertificateRow(db.dataSource, certificate.id);
        assert.deepEqual(
          [row.state, row.updatedAt, row.suspendedAt, row.firstUsedAt, row.revokedAt, row.revocationReason],
          [
            transition.to,
            transition.at,
            transition.to === 'suspended' ? transition.at : null,
            transition.to === 'active' ? transition.at : certificate.firstUsedAt,
            transition.to === 'revoked' ? transition.at : null,
            transition.to === 'revoked' ? 'keyCompromise' : null,
          ],
        );
        assert.deepEqual((await eventsOf({ certificateId: certificate.id })).map((event) => event.type), [transition.eventType]);
      }
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, 30, '20 suspensions and 10 revocations; activations change no CRL');
    });

    it('applies a suspension and a revocation of one certificate sent at once in turn: the second meets the state the first left', async () => {
      const authority = await tenantRoot();
      const certificate = await insertCertificate(db.dataSource, authority);
      // Two transitions ahead of them go out at once, on as many batches as may be in flight, so the pair shares the next one.
      const ahead = await Promise.all([insertCertificate(db.dataSource, authority), insertCertificate(db.dataSource, authority)]);
      const activate = activation(later(MINUTE));
      const suspend = suspension('inactive', later(MINUTE));
      const revoke = revocation('inactive', later(MINUTE));
      const [, , suspended, revoked] = await Promise.all([
        ...ahead.map((other) => store.applyCertificateTransition(other, activate, eventOf(other, activate))),
        store.applyCertificateTransition(certificate, suspend, eventOf(certificate, suspend)),
        store.applyCertificateTransition(certificate, revoke, eventOf(certificate, revoke)),
      ]);
      assert.equal(suspended?.state, 'suspended');
      assert.equal(revoked, null, 'the revocation was decided for an inactive certificate');
      assert.equal((await readCertificateRow(db.dataSource, certificate.id)).state, 'suspended');
      assert.deepEqual((await eventsOf({ certificateId: certificate.id })).map((event) => event.type), ['certificate.suspended']);
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, 1);
    });

    it('fails only the transition whose event cannot be appended, and commits the others sent with it', async () => {
      const authority = await tenantRoot();
      const taken = await insertCertificate(db.dataSource, authority);
      const first = activation(later(MINUTE));
      const takenEvent = eventOf(taken, first);
      await store.applyCertificateTransition(taken, first, takenEvent);
      const certificates = await Promise.all(Array.from({ length: 4 }, () => insertCertificate(db.dataSource, authority)));
      const suspend = suspension('inactive', later(2 * MINUTE));
      const outcomes = await Promise.allSettled(
        certificates.map((certificate, i) => store.applyCertificateTransition(certificate, suspend, i === 2 ? { ...eventOf(certificate, suspend), id: takenEvent.id } : eventOf(certificate, suspend))),
      );
      assert.deepEqual(outcomes.map((outcome) => outcome.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      for (const [i, certificate] of certificates.entries()) {
        assert.equal((await readCertificateRow(db.dataSource, certificate.id)).state, i === 2 ? 'inactive' : 'suspended');
        assert.equal((await eventsOf({ certificateId: certificate.id })).length, i === 2 ? 0 : 1);
      }
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, 3);
    });

    it('revokes an active CA with every certificate not revoked yet, with one event counting them', async () => {
      const authority = await tenantRoot();
      const states = ['pending', 'inactive', 'active', 'suspended'] as const;
      const live = [];
      for (const state of states) live.push(await insertCertificate(db.dataSource, authority, { state, suspendedAt: state === 'suspended' ? AT : null }));
      const revokedBefore = await insertCertificate(db.dataSource, authority, { state: 'revoked', revokedAt: AT, revocationReason: 'superseded' });
      const failed = await insertCertificate(db.dataSource, authority, { state: 'failed' });
      const bystander = await tenantRoot();
      const untouched = await insertCertificate(db.dataSource, bystander, { state: 'active' });
      const counted = transitions.recorded.length;
      let event = null as ReturnType<typeof authorityRevokedEvent> | null;

      const outcome = await store.revokeAuthority(authority, 'cACompromise', later(MINUTE), (revokedCertificates) => (event = authorityRevokedEvent(authority, 'cACompromise', revokedCertificates, later(MINUTE))));
      assert.deepEqual(outcome, { revokedCertificates: 4 });
      const row = await readAuthorityRow(db.dataSource, authority.id);
      assert.deepEqual([row.status, row.revokedAt, row.revocationReason, row.revocationVersion], ['revoked', later(MINUTE), 'cACompromise', 1]);
      for (const certificate of live) {
        const stored = await readCertificateRow(db.dataSource, certificate.id);
        assert.deepEqual([stored.state, stored.revokedAt, stored.revocationReason, stored.suspendedAt], ['revoked', later(MINUTE), 'cACompromise', null], `was ${certificate.state}`);
      }
      const earlier = await readCertificateRow(db.dataSource, revokedBefore.id);
      assert.deepEqual([earlier.revokedAt, earlier.revocationReason], [AT, 'superseded'], 'an earlier revocation stands');
      assert.equal((await readCertificateRow(db.dataSource, failed.id)).state, 'failed');
      assert.equal((await readCertificateRow(db.dataSource, untouched.id)).state, 'active', "another CA's certificate");
      assert.equal((await readAuthorityRow(db.dataSource, bystander.id)).status, 'active');
      assert.deepEqual(await eventsOf({ authorityId: authority.id }), [event]);
      assert.equal(event!.revokedCertificates, 4);
      assert.deepEqual(transitions.recorded.slice(counted), [{ from: 'any', to: 'revoked', count: 4 }]);
    });

    it('returns null for a CA that is not active any more, writing nothing', async () => {
      const authority = await tenantRoot();
      await store.revokeAuthority(authority, 'cessationOfOperation', later(MINUTE), (count) => authorityRevokedEvent(authority, 'cessationOfOperation', count, later(MINUTE)));
      const counted = transitions.recorded.length;
      const again = await store.revokeAuthority(authority, 'keyCompromise', later(2 * MINUTE), (count) => authorityRevokedEvent(authority, 'keyCompromise', count, later(2 * MINUTE)));
      assert.equal(again, null);
      const row = await readAuthorityRow(db.dataSource, authority.id);
      assert.deepEqual([row.revokedAt, row.revocationReason, row.revocationVersion], [later(MINUTE), 'cessationOfOperation', 1]);
      assert.equal((await eventsOf({ authorityId: authority.id })).length, 1);
      assert.equal(transitions.recorded.length, counted);
    });

    it('takes the delegated intermediates a root certified, and their certificates, with the root', async () => {
      const root = await tenantRoot();
      const delegated = await insertAuthority(db.dataSource, { tenantId: root.tenantId, kind: 'intermediate', issuerAuthorityId: root.id, registration: 'self' });
      const pendingDelegated = await insertAuthority(db.dataSource, { tenantId: root.tenantId, kind: 'intermediate', status: 'pending', issuerAuthorityId: root.id, registration: 'self' });
      const unrelated = await insertAuthority(db.dataSource, { tenantId: root.tenantId, kind: 'intermediate', registration: 'self' });
      const underDelegated = await insertCertificate(db.dataSource, delegated, { state: 'active', keySource: 'external' });
      const underUnrelated = await insertCertificate(db.dataSource, unrelated, { state: 'active', keySource: 'external' });
      const underRoot = await insertCertificate(db.dataSource, root);

      const outcome = await store.revokeAuthority(root, 'keyCompromise', later(MINUTE), (count) => authorityRevokedEvent(root, 'keyCompromise', count, later(MINUTE)));
      assert.deepEqual(outcome, { revokedCertificates: 2 });
      for (const id of [delegated.id, pendingDelegated.id]) {
        const row = await readAuthorityRow(db.dataSource, id);
        assert.deepEqual([row.status, row.revokedAt, row.revocationReason, row.revocationVersion], ['revoked', later(MINUTE), 'keyCompromise', 1]);
      }
      assert.equal((await readAuthorityRow(db.dataSource, unrelated.id)).status, 'active');
      assert.equal((await readCertificateRow(db.dataSource, underDelegated.id)).state, 'revoked');
      assert.equal((await readCertificateRow(db.dataSource, underRoot.id)).state, 'revoked');
      assert.equal((await readCertificateRow(db.dataSource, underUnrelated.id)).state, 'active');
    });

    it("tells a delegated intermediate's issuer that its status answers are stale when the intermediate alone is revoked", async () => {
      const root = await tenantRoot();
      const delegated = await insertAuthority(db.dataSource, { tenantId: root.tenantId, kind: 'intermediate', issuerAuthorityId: root.id, registration: 'self' });
      await store.revokeAuthority(delegated, 'superseded', later(MINUTE), (count) => authorityRevokedEvent(delegated, 'superseded', count, later(MINUTE)));
      const issuer = await readAuthorityRow(db.dataSource, root.id);
      assert.deepEqual([issuer.status, issuer.revocationVersion], ['active', 1]);
    });

    it('records a use when none is recorded or the last is older than the interval, never on a revoked certificate, never as an event', async () => {
      const authority = await tenantRoot();
      const certificate = await insertCertificate(db.dataSource, authority, { state: 'active', firstUsedAt: AT });
      const revoked = await insertCertificate(db.dataSource, authority, { state: 'revoked', revokedAt: AT, revocationReason: 'superseded' });
      const lastUse = async (id: string) => (await readCertificateRow(db.dataSource, id)).lastUsedAt;

      await store.recordUse(certificate.id, later(10 * MINUTE), later(5 * MINUTE));
      assert.deepEqual(await lastUse(certificate.id), later(10 * MINUTE));
      await store.recordUse(certificate.id, later(11 * MINUTE), later(6 * MINUTE));
      assert.deepEqual(await lastUse(certificate.id), later(10 * MINUTE), 'within the interval: no write');
      await store.recordUse(certificate.id, later(16 * MINUTE), later(11 * MINUTE));
      assert.deepEqual(await lastUse(certificate.id), later(16 * MINUTE));
      await store.recordUse(revoked.id, later(10 * MINUTE), later(5 * MINUTE));
      assert.equal(await lastUse(revoked.id), null);
      await store.recordUse(newId(), later(10 * MINUTE), later(5 * MINUTE));
      assert.deepEqual(await eventsOf({ certificateId: certificate.id }), []);
    });
  });
}
