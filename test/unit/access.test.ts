/** API key format, secret hashing and the tenant visibility rules of actors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertTenantVisible, describeActor, visibleTenantFilter, type Actor } from '../../src/access/actor.js';
import { hashSecret, newApiKey, parseApiKey, secretMatches } from '../../src/access/api-credential.js';
import { DomainError } from '../../src/shared/errors.js';
import { newId } from '../../src/shared/identifiers.js';

test('a new key carries its credential id and a 256-bit secret; only the hash of the secret is kept', () => {
  const id = newId();
  const { key, secretHash } = newApiKey(id);
  const parsed = parseApiKey(key);
  assert.deepEqual(parsed?.id, id);
  assert.equal(Buffer.from(parsed!.secret, 'base64url').length, 32);
  assert.equal(secretHash, hashSecret(parsed!.secret));
  assert.equal(key.includes(secretHash), false);
  assert.notEqual(newApiKey(id).key, key, 'two keys for one id differ');
});

test('anything but ccm_<uuid>_<43 base64url characters> is not a ccm key', () => {
  const id = newId();
  const good = newApiKey(id).key;
  for (const bad of ['', 'ccm_', good.slice(0, -1), `${good}A`, good.replace('ccm_', 'ccx_'), `ccm_${'g'.repeat(36)}_${'A'.repeat(43)}`, `ccm_${id}_${'A'.repeat(42)}=`, ` ${good}`]) {
    assert.equal(parseApiKey(bad), null, JSON.stringify(bad));
  }
});

test('a secret matches only its own hash, whatever the length of what is presented', () => {
  const hash = hashSecret('right');
  assert.equal(secretMatches('right', hash), true);
  for (const wrong of ['wrong', '', 'righ', 'right ', 'x'.repeat(10_000)]) assert.equal(secretMatches(wrong, hash), false);
  assert.equal(secretMatches('right', 'not hex'), false, 'a damaged stored hash matches nothing');
});

test('a tenant actor sees its own tenant only; other roles see every tenant', () => {
  const tenant: Actor = { role: 'tenant', credentialId: newId(), tenantId: 'tenant-a' };
  const broker: Actor = { role: 'broker', credentialId: newId(), tenantId: null };
  assert.doesNotThrow(() => assertTenantVisible(tenant, 'tenant-a'));
  assert.throws(() => assertTenantVisible(tenant, 'tenant-b'), (e: unknown) => e instanceof DomainError && e.kind === 'not-found');
  assert.doesNotThrow(() => assertTenantVisible(broker, 'tenant-b'));
  assert.equal(visibleTenantFilter(tenant, undefined), 'tenant-a', 'a listing is narrowed to the tenant');
  assert.throws(() => visibleTenantFilter(tenant, 'tenant-b'), (e: unknown) => e instanceof DomainError && e.kind === 'not-found');
  assert.equal(visibleTenantFilter(broker, undefined), undefined);
  assert.equal(visibleTenantFilter(broker, 'tenant-b'), 'tenant-b');
  assert.equal(describeActor(broker), `broker:${broker.credentialId}`);
  assert.equal(describeActor({ role: 'admin', credentialId: null, tenantId: null }), 'bootstrap-admin');
});
