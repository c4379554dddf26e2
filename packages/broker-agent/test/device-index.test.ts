import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceIndex, verdictOf } from '../src/device-index.js';
import { certificate, OTHER_TENANT, TENANT } from './fakes.js';

const now = new Date();
const byCommonName = (c: { commonName: string }): string | null => (c.commonName === '' ? null : c.commonName);

describe('verdictOf', () => {
  it('shuts a device out while any of its certificates is suspended', () => {
    assert.equal(verdictOf([certificate('a', 'active'), certificate('a', 'suspended')], now), 'shut-out');
  });
  it('lets a device in while a certificate is in force and none is suspended (a renewal leaves the old one revoked)', () => {
    assert.equal(verdictOf([certificate('a', 'revoked'), certificate('a', 'inactive')], now), 'let-in');
    assert.equal(verdictOf([certificate('a', 'active')], now), 'let-in');
  });
  it('ends a device whose certificates are all revoked or expired', () => {
    assert.equal(verdictOf([certificate('a', 'revoked')], now), 'ended');
    assert.equal(verdictOf([certificate('a', 'active', { notAfter: new Date(now.getTime() - 1) })], now), 'ended');
  });
  it('ignores an expired suspension (the handshake refuses that certificate anyway)', () => {
    assert.equal(verdictOf([certificate('a', 'suspended', { notAfter: new Date(now.getTime() - 1) }), certificate('a', 'active')], now), 'let-in');
  });
});

describe('DeviceIndex', () => {
  it('groups certificates by identity, across tenants, and leaves out those that cannot log in', () => {
    const index = new DeviceIndex(byCommonName);
    index.upsert(certificate('sensor-1', 'active'));
    index.upsert(certificate('sensor-1', 'suspended', { tenantId: OTHER_TENANT }));
    index.upsert(certificate('', 'active'));
    assert.equal(index.size, 2);
    assert.deepEqual([...index.identities], ['sensor-1']);
    assert.equal(index.device('sensor-1')!.certificates.length, 2);
  });

  it('returns the old and the new identity when a certificate moves', () => {
    let name = 'old';
    const index = new DeviceIndex(() => name);
    const c = certificate('x', 'active');
    index.upsert(c);
    name = 'new';
    assert.deepEqual(index.upsert(c).sort(), ['new', 'old']);
    assert.equal(index.device('old'), null);
  });

  it('keeps what an event wrote during a snapshot over the snapshot\'s older copy', () => {
    const index = new DeviceIndex(byCommonName);
    const c = certificate('sensor-1', 'active');
    index.upsert(c);
    index.beginSnapshot();
    const listedBeforeTheSuspension = { ...c };
    index.upsert({ ...c, state: 'suspended' });
    index.applySnapshot(TENANT, [listedBeforeTheSuspension]);
    index.endSnapshot();
    assert.equal(index.known(c.id)!.state, 'suspended');
  });

  it('drops certificates of the tenant that a snapshot no longer lists, and no other tenant\'s', () => {
    const index = new DeviceIndex(byCommonName);
    const gone = certificate('gone', 'active');
    const other = certificate('other', 'active', { tenantId: OTHER_TENANT });
    index.upsert(gone);
    index.upsert(other);
    index.beginSnapshot();
    index.applySnapshot(TENANT, []);
    index.endSnapshot();
    assert.equal(index.has(gone.id), false);
    assert.equal(index.has(other.id), true);
  });

  it('marks everything a revoked CA issued revoked', () => {
    const index = new DeviceIndex(byCommonName);
    const a = certificate('a', 'active', { authorityId: 'ca-1' });
    const b = certificate('b', 'active', { authorityId: 'ca-2' });
    index.upsert(a);
    index.upsert(b);
    assert.deepEqual(index.revokeAuthority('ca-1'), ['a']);
    assert.equal(index.known(a.id)!.state, 'revoked');
    assert.equal(index.known(b.id)!.state, 'active');
  });
});
