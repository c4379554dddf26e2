/**
 * Devices under external and delegated CAs (TypeormDeviceRepository) on real
 * PostgreSQL and SQLite: registration and its conflict, look-ups kept to the
 * tenant and CA asked about, paging, every outcome of a first sight (and
 * concurrent first sights binding once), and unregistration with the
 * revocation it may carry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Authority } from '../../src/authorities/authority.js';
import type { ClientCertificate } from '../../src/certificates/client-certificate.js';
import { TypeormDeviceRepository } from '../../src/persistence/typeorm-device.repository.js';
import { DomainError } from '../../src/shared/errors.js';
import { newId } from '../../src/shared/identifiers.js';
import type { Device, FirstSightRequest } from '../../src/trust/device.js';
import {
  AT,
  DATABASE_KINDS,
  certificateEvent,
  certificateUnder,
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

function deviceOf(authority: Authority, overrides: Partial<Device> = {}): Device {
  const id = newId();
  return { id, tenantId: authority.tenantId!, authorityId: authority.id, identity: `device-${id}`, deviceType: null, certificateId: null, createdAt: AT, updatedAt: AT, ...overrides };
}

/** A first sight of a certificate naming `identity`, as the authentication use case asks for it. */
function firstSight(authority: Authority, identity: string, deviceType: string | null = null, overrides: { serialNumber?: string; fingerprintSha256?: string } = {}): FirstSightRequest {
  const certificate = certificateUnder(authority, { state: 'active', keySource: 'external', commonName: identity, firstUsedAt: later(1000), updatedAt: later(1000), ...overrides });
  return {
    authority,
    identity: { identity, deviceType },
    certificate,
    event: certificateEvent(certificate, 'certificate.activated', 'active', null, later(1000)),
    newDeviceId: newId(),
    at: later(1000),
  };
}

for (const kind of DATABASE_KINDS) {
  describe(`TypeormDeviceRepository on ${kind}`, () => {
    let db: OpenedDatabase;
    let transitions: RecordedTransitions;
    let devices: TypeormDeviceRepository;

    before(async () => {
      db = await openTestDatabase(kind);
      transitions = new RecordedTransitions();
      devices = new TypeormDeviceRepository(db.dataSource, db.transactions, transitions);
    });
    after(() => db.close());

    async function externalAuthority(registration: 'self' | 'preregistered', tenantId?: string): Promise<Authority> {
      return insertAuthority(db.dataSource, { tenantId: tenantId ?? (await insertTenant(db.dataSource)).id, kind: 'external', registration });
    }

    async function eventsOf(certificateId: string) {
      return (await outboxEvents(db.dataSource)).filter((stored) => stored.event.certificateId === certificateId).map((stored) => stored.event);
    }

    it("registers a device and finds it only under its own tenant and CA", async () => {
      const authority = await externalAuthority('preregistered');
      const otherTenant = await insertTenant(db.dataSource);
      const sibling = await externalAuthority('preregistered', authority.tenantId!);
      const device = deviceOf(authority, { deviceType: 'sensor' });
      await devices.register(device);
      assert.deepEqual(await devices.findById(authority.tenantId!, authority.id, device.id), device);
      assert.equal(await devices.findById(otherTenant.id, authority.id, device.id), null);
      assert.equal(await devices.findById(authority.tenantId!, sibling.id, device.id), null);
      assert.equal(await devices.findById(authority.tenantId!, authority.id, newId()), null);
    });

    it('refuses a second device of one identity under one CA as a conflict, and takes it under another CA', async () => {
      const authority = await externalAuthority('preregistered');
      const sibling = await externalAuthority('preregistered', authority.tenantId!);
      await devices.register(deviceOf(authority, { identity: 'pump-17' }));
      await assert.rejects(devices.register(deviceOf(authority, { identity: 'pump-17' })), (error: unknown) => {
        assert.ok(error instanceof DomainError);
        assert.equal(error.kind, 'conflict');
        assert.deepEqual(error.details, { field: 'identity' });
        return true;
      });
      await devices.register(deviceOf(sibling, { identity: 'pump-17' }));
      assert.equal((await devices.list(authority.tenantId!, authority.id, null, 10)).items.length, 1);
    });

    it("pages a CA's devices in id order, the last page with a null cursor, and lists no other CA's", async () => {
      const authority = await externalAuthority('preregistered');
      const sibling = await externalAuthority('preregistered', authority.tenantId!);
      const registered = Array.from({ length: 5 }, () => deviceOf(authority));
      for (const device of [...registered].reverse()) await devices.register(device);
      await devices.register(deviceOf(sibling));
      const first = await devices.list(authority.tenantId!, authority.id, null, 2);
      const second = await devices.list(authority.tenantId!, authority.id, first.nextCursor, 2);
      const third = await devices.list(authority.tenantId!, authority.id, second.nextCursor, 2);
      assert.deepEqual([first.items, second.items, third.items], [registered.slice(0, 2), registered.slice(2, 4), registered.slice(4)]);
      assert.equal(first.nextCursor, registered[1]!.id);
      assert.equal(third.nextCursor, null);
      // A last page that is exactly full says so too.
      assert.deepEqual(await devices.list(authority.tenantId!, authority.id, registered[0]!.id, 4), { items: registered.slice(1), nextCursor: null });
      assert.equal((await devices.list(authority.tenantId!, sibling.id, null, 10)).items.length, 1);
      assert.deepEqual(await devices.list((await insertTenant(db.dataSource)).id, authority.id, null, 10), { items: [], nextCursor: null });
    });

    it('binds on first sight under self-registration: registers the device, records the certificate, writes the event', async () => {
      const authority = await externalAuthority('self');
      const request = firstSight(authority, 'meter-1', 'meter');
      const counted = transitions.recorded.length;
      const sight = await devices.bindOnFirstSight(request, true);
      assert.equal(sight.outcome, 'bound');
      assert.ok(sight.outcome === 'bound');
      const expected: Device = { ...deviceOf(authority), id: request.newDeviceId, identity: 'meter-1', deviceType: 'meter', certificateId: request.certificate.id, createdAt: request.at, updatedAt: request.at };
      assert.deepEqual(sight.device, expected);
      assert.deepEqual(sight.certificate, request.certificate);
      assert.deepEqual(await devices.findById(authority.tenantId!, authority.id, request.newDeviceId), expected);
      assert.deepEqual(await devices.findByCertificate(request.certificate.id), expected);
      assert.equal((await readCertificateRow(db.dataSource, request.certificate.id)).state, 'active');
      assert.deepEqual(await eventsOf(request.certificate.id), [request.event]);
      assert.deepEqual(transitions.recorded.slice(counted), [{ from: 'inactive', to: 'active', count: 1 }]);
    });

    it('binds a pre-registered device under its own id and takes the type the certificate names', async () => {
      const authority = await externalAuthority('preregistered');
      const device = deviceOf(authority, { identity: 'valve-3' });
      await devices.register(device);
      const request = firstSight(authority, 'valve-3', 'valve');
      const sight = await devices.bindOnFirstSight(request, false);
      assert.equal(sight.outcome, 'bound');
      assert.ok(sight.outcome === 'bound');
      assert.deepEqual(sight.device, { ...device, deviceType: 'valve', certificateId: request.certificate.id, updatedAt: request.at });
      assert.deepEqual(await devices.findById(authority.tenantId!, authority.id, device.id), sight.device);
      assert.equal(await devices.findById(authority.tenantId!, authority.id, request.newDeviceId), null, 'no second device under the unused id');
    });

    it('writes nothing for an unregistered identity under pre-registration', async () => {
      const authority = await externalAuthority('preregistered');
      const request = firstSight(authority, 'stranger');
      const counted = transitions.recorded.length;
      assert.deepEqual(await devices.bindOnFirstSight(request, false), { outcome: 'not-registered' });
      assert.equal(await devices.findByCertificate(request.certificate.id), null);
      assert.deepEqual(await db.dataSource.query(`SELECT id FROM certificates WHERE id = '${request.certificate.id}'`), []);
      assert.deepEqual(await eventsOf(request.certificate.id), []);
      assert.equal(transitions.recorded.length, counted);
    });

    it('answers already-bound to the same certificate again, bound-elsewhere to another, writing nothing more', async () => {
      const authority = await externalAuthority('self');
      const request = firstSight(authority, 'lamp-9');
      const bound = await devices.bindOnFirstSight(request, true);
      assert.ok(bound.outcome === 'bound');
      const again = await devices.bindOnFirstSight({ ...request, event: { ...request.event, id: newId() }, newDeviceId: newId() }, true);
      assert.deepEqual(again, { outcome: 'already-bound', device: bound.device, certificate: request.certificate });
      const other = firstSight(authority, 'lamp-9');
      assert.deepEqual(await devices.bindOnFirstSight(other, true), { outcome: 'bound-elsewhere', device: bound.device });
      assert.deepEqual(await db.dataSource.query(`SELECT id FROM certificates WHERE id = '${other.certificate.id}'`), []);
      assert.deepEqual(await eventsOf(request.certificate.id), [request.event]);
      assert.deepEqual(await eventsOf(other.certificate.id), []);
    });

    it('refuses a certificate naming another type than the device was registered with, and takes one naming none', async () => {
      const authority = await externalAuthority('preregistered');
      const device = deviceOf(authority, { identity: 'cam-2', deviceType: 'camera' });
      await devices.register(device);
      assert.deepEqual(await devices.bindOnFirstSight(firstSight(authority, 'cam-2', 'doorbell'), false), { outcome: 'type-mismatch', device });
      const untyped = firstSight(authority, 'cam-2', null);
      const sight = await devices.bindOnFirstSight(untyped, false);
      assert.ok(sight.outcome === 'bound');
      assert.equal(sight.device.deviceType, 'camera');
    });

    it('answers already-recorded for a certificate ccm holds a record of, and serial-taken for a serial the CA used', async () => {
      const authority = await externalAuthority('self');
      const recorded = await insertCertificate(db.dataSource, authority, { state: 'revoked', keySource: 'external' });
      const sameCertificate = firstSight(authority, 'fan-1', null, { fingerprintSha256: recorded.fingerprintSha256! });
      const sight = await devices.bindOnFirstSight(sameCertificate, true);
      assert.equal(sight.outcome, 'already-recorded');
      assert.ok(sight.outcome === 'already-recorded');
      assert.equal(sight.certificate.id, recorded.id);
      assert.equal(sight.certificate.state, 'revoked');

      const sameSerial = firstSight(authority, 'fan-2', null, { serialNumber: recorded.serialNumber });
      assert.deepEqual(await devices.bindOnFirstSight(sameSerial, true), { outcome: 'serial-taken' });
      assert.deepEqual(await eventsOf(sameCertificate.certificate.id), []);
      assert.deepEqual(await eventsOf(sameSerial.certificate.id), []);
      // The serial is taken per CA (RFC 5280 §4.1.2.2): under another CA the same serial binds.
      const otherAuthority = await externalAuthority('self', authority.tenantId!);
      assert.equal((await devices.bindOnFirstSight(firstSight(otherAuthority, 'fan-2', null, { serialNumber: recorded.serialNumber }), true)).outcome, 'bound');
    });

    it('binds exactly once when first sights of one new device arrive together', async () => {
      const authority = await externalAuthority('self');
      const request = firstSight(authority, 'swarm-1');
      const sights = await Promise.all(Array.from({ length: 6 }, () => devices.bindOnFirstSight({ ...request, event: { ...request.event, id: newId() }, newDeviceId: newId() }, true)));
      assert.equal(sights.filter((sight) => sight.outcome === 'bound').length, 1);
      assert.deepEqual(new Set(sights.map((sight) => sight.outcome)), new Set(['bound', 'already-bound']));
      const page = await devices.list(authority.tenantId!, authority.id, null, 10);
      assert.equal(page.items.length, 1);
      assert.equal((await eventsOf(request.certificate.id)).length, 1);
    });

    it("unregisters a device and revokes its bound certificate with one event and a new revocation version", async () => {
      const authority = await externalAuthority('self');
      const request = firstSight(authority, 'tracker-5');
      const bound = await devices.bindOnFirstSight(request, true);
      assert.ok(bound.outcome === 'bound');
      const revocation = { certificateId: request.certificate.id, event: certificateEvent(request.certificate, 'certificate.revoked', 'revoked', 'cessationOfOperation', later(5000)), at: later(5000) };
      const version = (await readAuthorityRow(db.dataSource, authority.id)).revocationVersion;
      const counted = transitions.recorded.length;

      assert.deepEqual(await devices.unregister(bound.device, revocation), { removed: true, revokedCertificate: true });
      assert.equal(await devices.findById(authority.tenantId!, authority.id, bound.device.id), null);
      assert.equal(await devices.findByCertificate(request.certificate.id), null);
      const certificate = await readCertificateRow(db.dataSource, request.certificate.id);
      assert.deepEqual([certificate.state, certificate.revokedAt, certificate.revocationReason, certificate.suspendedAt], ['revoked', later(5000), 'cessationOfOperation', null]);
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, version + 1);
      assert.deepEqual(await eventsOf(request.certificate.id), [request.event, revocation.event]);
      assert.deepEqual(transitions.recorded.slice(counted), [{ from: 'any', to: 'revoked', count: 1 }]);

      assert.deepEqual(await devices.unregister(bound.device, revocation), { removed: false, revokedCertificate: false }, 'gone already');
    });

    it('unregisters a device whose certificate is revoked already without a second event', async () => {
      const authority = await externalAuthority('preregistered');
      const revoked: ClientCertificate = await insertCertificate(db.dataSource, authority, { state: 'revoked', keySource: 'external', revokedAt: later(1), revocationReason: 'keyCompromise' });
      const device = deviceOf(authority, { certificateId: revoked.id });
      await devices.register(device);
      const version = (await readAuthorityRow(db.dataSource, authority.id)).revocationVersion;
      const revocation = { certificateId: revoked.id, event: certificateEvent(revoked, 'certificate.revoked', 'revoked', 'cessationOfOperation', later(5000)), at: later(5000) };
      assert.deepEqual(await devices.unregister(device, revocation), { removed: true, revokedCertificate: false });
      const certificate = await readCertificateRow(db.dataSource, revoked.id);
      assert.deepEqual([certificate.revokedAt, certificate.revocationReason], [later(1), 'keyCompromise'], 'the first revocation stands');
      assert.equal((await readAuthorityRow(db.dataSource, authority.id)).revocationVersion, version);
      assert.deepEqual(await eventsOf(revoked.id), []);
    });

    it('unregisters a device not yet bound with no revocation at all', async () => {
      const authority = await externalAuthority('preregistered');
      const device = deviceOf(authority);
      await devices.register(device);
      assert.deepEqual(await devices.unregister(device, null), { removed: true, revokedCertificate: false });
      assert.equal(await devices.findById(authority.tenantId!, authority.id, device.id), null);
    });
  });
}
