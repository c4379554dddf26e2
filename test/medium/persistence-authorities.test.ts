/**
 * The CA records on real PostgreSQL and SQLite: TypeormAuthorityRepository
 * (pending records, their failure and activation, the platform CA's single
 * row and serial lease, look-ups by comparable name), TypeormTenantRepository
 * (a tenant and its pending root in one transaction, name conflicts, paging)
 * and TypeormTrustedAuthorityRepository (a tenant's device-issuing CAs, and
 * device authentication's look-up by issuer name with the serial's record).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TenantRootInProgress, type Authority, type AuthorityCertificate } from '../../src/authorities/authority.js';
import type { IdentityRules } from '../../src/authorities/identity-rules.js';
import { comparableSubject } from '../../src/codec/name-comparison.js';
import { TenantRow } from '../../src/persistence/entities.js';
import { TypeormAuthorityRepository } from '../../src/persistence/typeorm-authority.repository.js';
import { TypeormTenantRepository } from '../../src/persistence/typeorm-tenant.repository.js';
import { TypeormTrustedAuthorityRepository } from '../../src/persistence/typeorm-trusted-authority.repository.js';
import { DomainError } from '../../src/shared/errors.js';
import { newId } from '../../src/shared/identifiers.js';
import type { Tenant } from '../../src/tenants/tenant.js';
import {
  AT,
  DATABASE_KINDS,
  authorityOf,
  insertAuthority,
  insertCertificate,
  insertTenant,
  later,
  openTestDatabase,
  readAuthorityRow,
  type OpenedDatabase,
} from '../support/persistence-fixtures.js';

const CERTIFICATE_PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function isAuthorityNameTaken(error: unknown): boolean {
  assert.ok(error instanceof DomainError);
  assert.equal(error.kind, 'authority-name-taken');
  assert.deepEqual(error.details, { field: 'subject', reason: 'in-use' });
  return true;
}

/** What the signature of a pending CA yields, under `subject`. */
function signedCertificate(subject: string): AuthorityCertificate {
  return {
    subject,
    serialNumber: newId().replaceAll('-', ''),
    certificatePem: CERTIFICATE_PEM,
    issuerChainPem: null,
    fingerprintSha256: newId().replaceAll('-', '').repeat(2),
    notBefore: AT,
    notAfter: later(365 * 86_400_000),
  };
}

/** A subject unique to the test, spelt so that only RFC 5280 §7.1 comparison (case folding, spaces) calls the variants one name. */
function uniqueSubject(): { subject: string; variant: string } {
  const id = newId();
  return { subject: `CN=Sensor CA ${id}`, variant: `CN=  sensor   CA ${id.toUpperCase()} ` };
}

for (const kind of DATABASE_KINDS) {
  describe(`CA records on ${kind}`, () => {
    let db: OpenedDatabase;
    let authorities: TypeormAuthorityRepository;
    let tenants: TypeormTenantRepository;
    let trusted: TypeormTrustedAuthorityRepository;

    before(async () => {
      db = await openTestDatabase(kind);
      authorities = new TypeormAuthorityRepository(db.dataSource, db.transactions);
      tenants = new TypeormTenantRepository(db.dataSource, db.transactions);
      trusted = new TypeormTrustedAuthorityRepository(db.dataSource, db.transactions);
    });
    after(() => db.close());

    describe('TypeormAuthorityRepository', () => {
      it('records a pending CA and reads it back whole, identity rules included', async () => {
        const tenant = await insertTenant(db.dataSource);
        const rules: IdentityRules = { identityAttribute: 'CN', deviceTypeAttribute: 'OU', subjectPolicy: [{ attribute: 'O', equals: 'Acme' }] };
        const pending: Authority = { ...authorityOf({ tenantId: tenant.id, status: 'pending' }), serialNumber: null, fingerprintSha256: null, notBefore: null, notAfter: null, identityRules: rules };
        await authorities.insertPending(pending);
        assert.deepEqual(await authorities.findById(pending.id), pending);
        assert.deepEqual(await authorities.findTenantRoot(tenant.id), pending);
        assert.equal(await authorities.findActiveTenantRoot(tenant.id), null, 'a pending root issues nothing');
        assert.equal(await authorities.findById(newId()), null);
      });

      it('refuses a pending CA named like a CA in force, under RFC 5280 comparison, and takes one named like a failed, revoked or OCSP responder record', async () => {
        const tenant = await insertTenant(db.dataSource);
        const { subject, variant } = uniqueSubject();
        await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'external', subject });
        await assert.rejects(authorities.insertPending(authorityOf({ tenantId: (await insertTenant(db.dataSource)).id, status: 'pending', subject: variant })), isAuthorityNameTaken);
        const pendingNamed = uniqueSubject();
        await authorities.insertPending(authorityOf({ tenantId: (await insertTenant(db.dataSource)).id, status: 'pending', subject: pendingNamed.subject }));
        await assert.rejects(authorities.insertPending(authorityOf({ tenantId: (await insertTenant(db.dataSource)).id, status: 'pending', subject: pendingNamed.variant })), isAuthorityNameTaken, 'a CA being signed holds its name too');

        for (const status of ['failed', 'revoked'] as const) {
          const freed = uniqueSubject();
          await insertAuthority(db.dataSource, { tenantId: tenant.id, status, subject: freed.subject });
          const taker = authorityOf({ tenantId: (await insertTenant(db.dataSource)).id, status: 'pending', subject: freed.variant });
          await authorities.insertPending(taker);
          assert.equal((await authorities.findById(taker.id))?.status, 'pending', status);
        }
        const responderNamed = uniqueSubject();
        await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'ocsp-responder', subject: responderNamed.subject });
        await authorities.insertPending(authorityOf({ tenantId: (await insertTenant(db.dataSource)).id, status: 'pending', subject: responderNamed.variant }));
      });

      it('a tenant has at most one root being signed (TenantRootInProgress for a second) and one active; retiring ones are not counted', async () => {
        const tenant = await insertTenant(db.dataSource);
        await insertAuthority(db.dataSource, { tenantId: tenant.id, status: 'active' });
        await insertAuthority(db.dataSource, { tenantId: tenant.id, status: 'retiring' });
        await insertAuthority(db.dataSource, { tenantId: tenant.id, status: 'retiring' });
        const pending = authorityOf({ tenantId: tenant.id, status: 'pending' });
        await authorities.insertPending(pending);
        await assert.rejects(authorities.insertPending(authorityOf({ tenantId: tenant.id, status: 'pending' })), (error: unknown) => error instanceof TenantRootInProgress && error.kind === 'conflict');
        await assert.rejects(insertAuthority(db.dataSource, { tenantId: tenant.id, status: 'active' }), 'a second active root');
        // Another tenant, or another kind of CA of this tenant, is not held back.
        await authorities.insertPending(authorityOf({ tenantId: (await insertTenant(db.dataSource)).id, status: 'pending' }));
        await authorities.insertPending(authorityOf({ tenantId: tenant.id, status: 'pending', kind: 'ocsp-responder' }));
        // Once it is failed, the next may be recorded.
        await authorities.markFailed(pending.id, later(1000));
        await authorities.insertPending(authorityOf({ tenantId: tenant.id, status: 'pending' }));
        assert.deepEqual((await authorities.findTenantRoots(tenant.id)).map((root) => root.status), ['active', 'retiring', 'retiring'], 'active first; pending and failed ones are no roots yet');
        assert.equal((await authorities.findTenantRoot(tenant.id))?.status, 'active');
      });

      it('marks a pending CA failed, which frees its name, and leaves a CA in force as it is', async () => {
        const tenant = await insertTenant(db.dataSource);
        const { subject, variant } = uniqueSubject();
        const pending = authorityOf({ tenantId: tenant.id, status: 'pending', subject });
        await authorities.insertPending(pending);
        await authorities.markFailed(pending.id, later(5000));
        assert.deepEqual(await authorities.findById(pending.id), { ...pending, status: 'failed', updatedAt: later(5000) });
        await authorities.insertPending(authorityOf({ tenantId: tenant.id, status: 'pending', subject: variant }));

        const active = await insertAuthority(db.dataSource, { tenantId: tenant.id });
        await authorities.markFailed(active.id, later(5000));
        assert.deepEqual(await authorities.findById(active.id), active);
      });

      it('activates a pending CA once with its certificate, the certificate\'s subject becoming its name', async () => {
        const tenant = await insertTenant(db.dataSource);
        const pending = { ...authorityOf({ tenantId: tenant.id, status: 'pending' }), serialNumber: null, fingerprintSha256: null, notBefore: null, notAfter: null };
        await authorities.insertPending(pending);
        const { subject: signedAs, variant } = uniqueSubject();
        const certificate = signedCertificate(signedAs);
        assert.equal(await authorities.activate(pending.id, certificate, later(1000)), true);
        const activated: Authority = { ...pending, ...certificate, status: 'active', updatedAt: later(1000) };
        assert.deepEqual(await authorities.findById(pending.id), activated);
        assert.deepEqual(await authorities.findActiveTenantRoot(tenant.id), activated);
        assert.equal((await readAuthorityRow(db.dataSource, pending.id)).subjectKey, comparableSubject(variant));

        assert.equal(await authorities.activate(pending.id, signedCertificate(`CN=Other ${newId()}`), later(2000)), false, 'someone else finished first');
        assert.deepEqual(await authorities.findById(pending.id), activated);
        const failed = await insertAuthority(db.dataSource, { tenantId: tenant.id, status: 'failed' });
        assert.equal(await authorities.activate(failed.id, signedCertificate(`CN=Other ${newId()}`), later(2000)), false);
      });

      it("refuses to activate a CA under another CA's name and leaves it pending", async () => {
        const tenant = await insertTenant(db.dataSource);
        const { subject, variant } = uniqueSubject();
        await insertAuthority(db.dataSource, { tenantId: (await insertTenant(db.dataSource)).id, kind: 'external', subject });
        const pending = authorityOf({ tenantId: tenant.id, status: 'pending' });
        await authorities.insertPending(pending);
        await assert.rejects(authorities.activate(pending.id, signedCertificate(variant), later(1000)), isAuthorityNameTaken);
        assert.deepEqual(await authorities.findById(pending.id), pending);
      });

      it('finds every CA of a name but failed ones, of any tenant, kind and status, oldest first', async () => {
        const { subject, variant } = uniqueSubject();
        const [first, second] = [await insertTenant(db.dataSource), await insertTenant(db.dataSource)];
        const revoked = await insertAuthority(db.dataSource, { tenantId: first.id, status: 'revoked', subject, createdAt: later(1000) });
        await insertAuthority(db.dataSource, { tenantId: first.id, kind: 'intermediate', status: 'failed', subject, createdAt: later(2000) });
        const responder = await insertAuthority(db.dataSource, { tenantId: first.id, kind: 'ocsp-responder', subject: variant, createdAt: later(3000) });
        const active = await insertAuthority(db.dataSource, { tenantId: second.id, kind: 'external', subject: variant, createdAt: later(4000) });
        const pending = await insertAuthority(db.dataSource, { tenantId: second.id, kind: 'ocsp-responder', status: 'pending', subject, createdAt: later(500) });
        await insertAuthority(db.dataSource, { tenantId: second.id, kind: 'external' });
        assert.deepEqual(await authorities.findByComparableSubject(comparableSubject(subject)), [pending, revoked, responder, active]);
        assert.deepEqual(await authorities.findByComparableSubject(comparableSubject(`CN=Nobody ${newId()}`)), []);
      });

      it('keeps one platform CA: inserted once, a second refused with false, a taken name refused; its serial leased while pending', async () => {
        const tenant = await insertTenant(db.dataSource);
        const { subject, variant } = uniqueSubject();
        await insertAuthority(db.dataSource, { tenantId: tenant.id, subject });
        const pendingPlatform = (named?: string): Authority => ({ ...authorityOf({ tenantId: null, kind: 'platform', status: 'pending', subject: named }), serialNumber: null });
        await assert.rejects(authorities.insertPlatformIfAbsent(pendingPlatform(variant)), isAuthorityNameTaken);
        assert.equal(await authorities.findPlatform(), null);

        const platform = pendingPlatform();
        assert.equal(await authorities.insertPlatformIfAbsent(platform), true);
        assert.equal(await authorities.insertPlatformIfAbsent(pendingPlatform()), false);
        assert.deepEqual(await authorities.findPlatform(), platform);

        assert.equal(await authorities.leasePlatformSerial(platform.id, 'aa01', later(1000), AT), true, 'no serial yet');
        assert.equal(await authorities.leasePlatformSerial(platform.id, 'aa02', later(2000), later(500)), false, "a peer's fresh serial");
        assert.deepEqual(await authorities.findPlatform(), { ...platform, serialNumber: 'aa01', updatedAt: later(1000) });
        assert.equal(await authorities.leasePlatformSerial(platform.id, 'aa03', later(9000), later(1001)), true, 'the serial of a replica that died signing');
        assert.deepEqual(await authorities.findPlatform(), { ...platform, serialNumber: 'aa03', updatedAt: later(9000) });

        const certificate = { ...signedCertificate(`CN=Platform CA ${newId()}`), serialNumber: 'aa03' };
        assert.equal(await authorities.activate(platform.id, certificate, later(10_000)), true);
        assert.equal(await authorities.leasePlatformSerial(platform.id, 'aa04', later(99_000), later(99_000)), false, 'no longer pending');
        assert.equal((await authorities.findPlatform())?.serialNumber, 'aa03');
      });
    });

    describe('TypeormTenantRepository', () => {
      function tenantNamed(name: string): Tenant {
        return { id: newId(), name, maxTtlSeconds: 86_400, createdAt: AT };
      }

      it('records a tenant and its pending root together', async () => {
        const tenant = tenantNamed(`acme-${newId()}`);
        const root = authorityOf({ tenantId: tenant.id, status: 'pending' });
        await tenants.create(tenant, root);
        assert.deepEqual(await tenants.findById(tenant.id), tenant);
        assert.deepEqual(await tenants.findByName(tenant.name), tenant);
        assert.deepEqual(await authorities.findTenantRoot(tenant.id), root);
        assert.equal(await tenants.findById(newId()), null);
        assert.equal(await tenants.findByName(`nobody-${newId()}`), null);
      });

      it('refuses a taken tenant name as a conflict on the name, recording neither the tenant nor its root', async () => {
        const name = `globex-${newId()}`;
        const existing = tenantNamed(name);
        await tenants.create(existing, authorityOf({ tenantId: existing.id, status: 'pending' }));
        const second = tenantNamed(name);
        const secondRoot = authorityOf({ tenantId: second.id, status: 'pending' });
        await assert.rejects(tenants.create(second, secondRoot), (error: unknown) => {
          assert.ok(error instanceof DomainError);
          assert.equal(error.kind, 'conflict');
          assert.deepEqual(error.details, { field: 'name' });
          return true;
        });
        assert.equal(await tenants.findById(second.id), null);
        assert.equal(await authorities.findById(secondRoot.id), null);
        assert.deepEqual(await tenants.findByName(name), existing);
      });

      it("refuses a root named like another CA with AuthorityNameTaken, recording no tenant", async () => {
        const { subject, variant } = uniqueSubject();
        await insertAuthority(db.dataSource, { tenantId: (await insertTenant(db.dataSource)).id, kind: 'external', subject });
        const tenant = tenantNamed(`initech-${newId()}`);
        await assert.rejects(tenants.create(tenant, authorityOf({ tenantId: tenant.id, status: 'pending', subject: variant })), isAuthorityNameTaken);
        assert.equal(await tenants.findById(tenant.id), null);
        assert.equal(await tenants.findByName(tenant.name), null);
      });

      it('pages every tenant in id order, the last page with a null cursor', async () => {
        for (let i = 0; i < 5; i++) await insertTenant(db.dataSource);
        const all = (await db.dataSource.getRepository(TenantRow).find({ order: { id: 'ASC' } })).map((row) => row.id);
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let pages = 0; pages <= all.length; pages++) {
          const page = await tenants.list(cursor, 2);
          assert.ok(page.items.length <= 2);
          seen.push(...page.items.map((tenant) => tenant.id));
          if (page.nextCursor === null) break;
          assert.equal(page.nextCursor, page.items.at(-1)!.id);
          cursor = page.nextCursor;
        }
        assert.deepEqual(seen, all);
        assert.deepEqual((await tenants.list(all[all.length - 4]!, 3)).items.map((tenant) => tenant.id), all.slice(-3));
        assert.equal((await tenants.list(all[all.length - 4]!, 3)).nextCursor, null, 'a last page that is exactly full says so');
        assert.deepEqual(await tenants.list(all.at(-1)!, 2), { items: [], nextCursor: null });
      });
    });

    describe('TypeormTrustedAuthorityRepository', () => {
      it("lists a tenant's device-issuing CAs in creation order, failed records, responders and other tenants' CAs left out", async () => {
        const tenant = await insertTenant(db.dataSource);
        const root = await insertAuthority(db.dataSource, { tenantId: tenant.id, createdAt: later(1000) });
        const external = await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'external', status: 'revoked', createdAt: later(3000) });
        const delegated = await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'intermediate', status: 'pending', issuerAuthorityId: root.id, createdAt: later(2000) });
        await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'intermediate', status: 'failed', issuerAuthorityId: root.id, createdAt: later(2500) });
        await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'ocsp-responder', issuerAuthorityId: root.id, createdAt: later(1500) });
        await insertAuthority(db.dataSource, { tenantId: (await insertTenant(db.dataSource)).id, kind: 'external' });
        assert.deepEqual(await trusted.listOfTenant(tenant.id), [root, delegated, external]);
        assert.deepEqual(await trusted.listOfTenant(newId()), []);
      });

      it("finds a tenant's own device-issuing CA only", async () => {
        const tenant = await insertTenant(db.dataSource);
        const external = await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'external' });
        const responder = await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'ocsp-responder' });
        const elsewhere = await insertAuthority(db.dataSource, { tenantId: (await insertTenant(db.dataSource)).id, kind: 'external' });
        assert.deepEqual(await trusted.findOfTenant(tenant.id, external.id), external);
        assert.equal(await trusted.findOfTenant(tenant.id, responder.id), null);
        assert.equal(await trusted.findOfTenant(tenant.id, elsewhere.id), null);
        assert.equal(await trusted.findOfTenant(tenant.id, newId()), null);
      });

      it('looks a name up: the active and revoked CAs with a certificate, active first then newest first, each with its record of the serial', async () => {
        const tenant = await insertTenant(db.dataSource);
        const { subject, variant } = uniqueSubject();
        const named = { tenantId: tenant.id, kind: 'external' as const, certificatePem: CERTIFICATE_PEM };
        const oldRevoked = await insertAuthority(db.dataSource, { ...named, status: 'revoked', subject, createdAt: later(1000) });
        const newRevoked = await insertAuthority(db.dataSource, { ...named, status: 'revoked', subject: variant, createdAt: later(2000) });
        const active = await insertAuthority(db.dataSource, { ...named, subject, createdAt: later(500) });
        await insertAuthority(db.dataSource, { ...named, status: 'failed', subject, createdAt: later(3000) });
        await insertAuthority(db.dataSource, { ...named, status: 'revoked', certificatePem: null, subject, createdAt: later(3500) });
        await insertAuthority(db.dataSource, { ...named, kind: 'ocsp-responder', subject, createdAt: later(4000) });
        const serial = 'c0ffee01';
        const onActive = await insertCertificate(db.dataSource, active, { serialNumber: serial, state: 'active' });
        await insertCertificate(db.dataSource, newRevoked, { serialNumber: serial, state: 'pending' });
        const onOldRevoked = await insertCertificate(db.dataSource, oldRevoked, { serialNumber: serial, state: 'revoked' });
        await insertCertificate(db.dataSource, oldRevoked, { serialNumber: 'c0ffee02', state: 'active' });

        assert.deepEqual(await trusted.findByNameWithRecord(comparableSubject(variant), serial), [
          { authority: active, certificate: onActive },
          { authority: newRevoked, certificate: null },
          { authority: oldRevoked, certificate: onOldRevoked },
        ]);
        assert.deepEqual(
          (await trusted.findByNameWithRecord(comparableSubject(subject), 'ffff')).map((candidate) => [candidate.authority.id, candidate.certificate]),
          [[active.id, null], [newRevoked.id, null], [oldRevoked.id, null]],
        );
        assert.deepEqual(await trusted.findByNameWithRecord(comparableSubject(`CN=Nobody ${newId()}`), serial), []);
      });

      it('answers concurrent look-ups each with its own candidates', async () => {
        const tenant = await insertTenant(db.dataSource);
        const cases = await Promise.all(
          Array.from({ length: 12 }, async (_, i) => {
            const authority = await insertAuthority(db.dataSource, { tenantId: tenant.id, kind: 'external', certificatePem: CERTIFICATE_PEM });
            const certificate = i % 3 === 0 ? null : await insertCertificate(db.dataSource, authority, { state: 'active' });
            return { authority, certificate, serial: certificate?.serialNumber ?? 'ab' };
          }),
        );
        const answers = await Promise.all(cases.map((c) => trusted.findByNameWithRecord(comparableSubject(c.authority.subject), c.serial)));
        assert.deepEqual(answers, cases.map((c) => [{ authority: c.authority, certificate: c.certificate }]));
      });
    });
  });
}
