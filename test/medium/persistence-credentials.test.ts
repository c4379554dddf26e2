/**
 * The credential repositories on real PostgreSQL and SQLite: API keys
 * (TypeormApiCredentialRepository) and EST enrollment credentials
 * (TypeormEnrollmentCredentialRepository). What their ports promise: records
 * read back as written, listings in id order that keep tenants apart,
 * revocation at most once, and the throttled last-use stamp.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiCredential } from '../../src/access/api-credential.js';
import type { EnrollmentCredential } from '../../src/enrollment/enrollment-credential.js';
import { TypeormApiCredentialRepository } from '../../src/persistence/typeorm-api-credential.repository.js';
import { TypeormEnrollmentCredentialRepository } from '../../src/persistence/typeorm-enrollment-credential.repository.js';
import { newId } from '../../src/shared/identifiers.js';
import { AT, DATABASE_KINDS, insertTenant, later, openTestDatabase, type OpenedDatabase } from '../support/persistence-fixtures.js';

const MINUTE = 60_000;

function apiCredential(overrides: Partial<ApiCredential> & Pick<ApiCredential, 'role' | 'tenantId'>): ApiCredential {
  const id = newId();
  return { id, name: `key-${id}`, secretHash: 'ab'.repeat(32), createdAt: AT, createdBy: null, revokedAt: null, lastUsedAt: null, ...overrides };
}

function enrollmentCredential(tenantId: string, overrides: Partial<EnrollmentCredential> = {}): EnrollmentCredential {
  const id = newId();
  return { id, tenantId, name: `factory-${id}`, secretHash: `scrypt$${'c2FsdA=='}$${'aGFzaA=='}`, createdAt: AT, revokedAt: null, ...overrides };
}

for (const kind of DATABASE_KINDS) {
  describe(`TypeormApiCredentialRepository on ${kind}`, () => {
    let db: OpenedDatabase;
    let credentials: TypeormApiCredentialRepository;

    before(async () => {
      db = await openTestDatabase(kind);
      credentials = new TypeormApiCredentialRepository(db.dataSource, db.transactions);
    });
    after(() => db.close());

    it('reads a credential back exactly as inserted, and null for an id it does not hold', async () => {
      const tenant = await insertTenant(db.dataSource);
      const creator = apiCredential({ role: 'admin', tenantId: null });
      const credential = apiCredential({ role: 'tenant', tenantId: tenant.id, createdBy: creator.id, lastUsedAt: later(1) });
      await credentials.insert(creator);
      await credentials.insert(credential);
      assert.deepEqual(await credentials.findById(credential.id), credential);
      assert.deepEqual(await credentials.findById(creator.id), creator);
      assert.equal(await credentials.findById(newId()), null);
    });

    it("lists one tenant's credentials in id order and never another tenant's", async () => {
      const [mine, theirs] = [await insertTenant(db.dataSource), await insertTenant(db.dataSource)];
      const inserted = [
        apiCredential({ role: 'tenant', tenantId: mine.id }),
        apiCredential({ role: 'tenant', tenantId: theirs.id }),
        apiCredential({ role: 'broker', tenantId: mine.id }),
        apiCredential({ role: 'admin', tenantId: null }),
        apiCredential({ role: 'tenant', tenantId: mine.id }),
      ];
      // Inserted out of id order: the listing sorts, it does not replay insertion.
      for (const credential of [...inserted].reverse()) await credentials.insert(credential);
      const listed = await credentials.list({ tenantId: mine.id });
      assert.deepEqual(listed, [inserted[0], inserted[2], inserted[4]]);
      assert.deepEqual(await credentials.list({ tenantId: theirs.id }), [inserted[1]]);
      assert.deepEqual(await credentials.list({ tenantId: (await insertTenant(db.dataSource)).id }), []);
    });

    it('filters by role, and by tenant and role together', async () => {
      const tenant = await insertTenant(db.dataSource);
      const tenantKey = apiCredential({ role: 'tenant', tenantId: tenant.id });
      const brokerKey = apiCredential({ role: 'broker', tenantId: tenant.id });
      const adminKey = apiCredential({ role: 'admin', tenantId: null });
      for (const credential of [tenantKey, brokerKey, adminKey]) await credentials.insert(credential);

      assert.deepEqual(await credentials.list({ tenantId: tenant.id, role: 'broker' }), [brokerKey]);
      const admins = await credentials.list({ role: 'admin' });
      assert.ok(admins.every((credential) => credential.role === 'admin'));
      assert.ok(admins.some((credential) => credential.id === adminKey.id));
      const everything = await credentials.list({});
      assert.ok([tenantKey, brokerKey, adminKey].every((inserted) => everything.some((credential) => credential.id === inserted.id)));
      assert.deepEqual(
        everything.map((credential) => credential.id),
        everything.map((credential) => credential.id).sort(),
        'an unfiltered listing is in id order too',
      );
    });

    it('revokes once: true and stamped the first time, false after, false for an unknown id', async () => {
      const credential = apiCredential({ role: 'admin', tenantId: null });
      await credentials.insert(credential);
      assert.equal(await credentials.revoke(credential.id, later(MINUTE)), true);
      assert.equal(await credentials.revoke(credential.id, later(2 * MINUTE)), false);
      assert.deepEqual((await credentials.findById(credential.id))?.revokedAt, later(MINUTE), 'the second revocation left the first stamp');
      assert.equal(await credentials.revoke(newId(), AT), false);
    });

    it('records a use when none is recorded or the last is older than notBefore, and leaves a recent one alone', async () => {
      const credential = apiCredential({ role: 'broker', tenantId: null });
      await credentials.insert(credential);
      await credentials.recordUse(credential.id, later(10 * MINUTE), later(5 * MINUTE));
      assert.deepEqual((await credentials.findById(credential.id))?.lastUsedAt, later(10 * MINUTE));
      // Used again one minute later with a five-minute interval: within it, no write.
      await credentials.recordUse(credential.id, later(11 * MINUTE), later(6 * MINUTE));
      assert.deepEqual((await credentials.findById(credential.id))?.lastUsedAt, later(10 * MINUTE));
      await credentials.recordUse(credential.id, later(16 * MINUTE), later(11 * MINUTE));
      assert.deepEqual((await credentials.findById(credential.id))?.lastUsedAt, later(16 * MINUTE));
    });
  });

  describe(`TypeormEnrollmentCredentialRepository on ${kind}`, () => {
    let db: OpenedDatabase;
    let credentials: TypeormEnrollmentCredentialRepository;

    before(async () => {
      db = await openTestDatabase(kind);
      credentials = new TypeormEnrollmentCredentialRepository(db.dataSource, db.transactions);
    });
    after(() => db.close());

    it("reads a credential back as inserted under its own tenant, and null under another tenant's id", async () => {
      const [mine, theirs] = [await insertTenant(db.dataSource), await insertTenant(db.dataSource)];
      const credential = enrollmentCredential(mine.id);
      await credentials.insert(credential);
      assert.deepEqual(await credentials.findById(mine.id, credential.id), credential);
      assert.equal(await credentials.findById(theirs.id, credential.id), null);
      assert.equal(await credentials.findById(mine.id, newId()), null);
    });

    it("lists a tenant's credentials in id order, revoked ones included, and none of another tenant's", async () => {
      const [mine, theirs] = [await insertTenant(db.dataSource), await insertTenant(db.dataSource)];
      const first = enrollmentCredential(mine.id);
      const other = enrollmentCredential(theirs.id);
      const second = enrollmentCredential(mine.id, { revokedAt: later(MINUTE) });
      for (const credential of [second, other, first]) await credentials.insert(credential);
      assert.deepEqual(await credentials.list(mine.id), [first, second]);
      assert.deepEqual(await credentials.list(theirs.id), [other]);
      assert.deepEqual(await credentials.list((await insertTenant(db.dataSource)).id), []);
    });

    it("revokes once, and never through another tenant's id", async () => {
      const [mine, theirs] = [await insertTenant(db.dataSource), await insertTenant(db.dataSource)];
      const credential = enrollmentCredential(mine.id);
      await credentials.insert(credential);
      assert.equal(await credentials.revoke(theirs.id, credential.id, later(MINUTE)), false);
      assert.equal((await credentials.findById(mine.id, credential.id))?.revokedAt, null, "another tenant's revocation changed nothing");
      assert.equal(await credentials.revoke(mine.id, credential.id, later(2 * MINUTE)), true);
      assert.equal(await credentials.revoke(mine.id, credential.id, later(3 * MINUTE)), false);
      assert.deepEqual((await credentials.findById(mine.id, credential.id))?.revokedAt, later(2 * MINUTE));
      assert.equal(await credentials.revoke(mine.id, newId(), AT), false);
    });
  });
}
