/**
 * CreateTenant against in-memory ports and custody: its refusals record
 * nothing; a tenant comes with an active root CA certified by the platform
 * CA; a custody failure keeps the tenant and fails its root, and the same
 * request again finishes that tenant; any other request for a taken name is
 * a conflict.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { inspectCertificate, verifyCertificateSignature } from '../../src/codec/certificate-inspection.js';
import { MemoryInstallation, derOf, rejectsWith } from '../support/memory-installation.js';

async function readyInstallation(): Promise<MemoryInstallation> {
  const installation = new MemoryInstallation();
  await installation.platform.ensure();
  return installation;
}

/** Fails unless nothing but the platform CA is recorded and custody was not asked anything since `callsBefore`. */
function assertNothingRecorded(installation: MemoryInstallation, callsBefore: number): void {
  assert.equal(installation.ports.tables.tenants.size, 0, 'no tenant');
  assert.deepEqual([...installation.ports.tables.authorities.values()].map((a) => a.kind), ['platform'], 'no CA but the platform CA');
  assert.equal(installation.custody.calls.length, callsBefore, 'no custody call');
}

describe('CreateTenant', () => {
  before(() => Logger.overrideLogger(false));

  for (const name of ['', '   ', '-leading-hyphen', 'a/b', 'x'.repeat(129), '\uFEFF0', 'Gerät']) {
    it(`refuses the name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…(${name.length})` : name)} with invalid-request, recording nothing`, async () => {
      const installation = await readyInstallation();
      const callsBefore = installation.custody.calls.length;
      await rejectsWith(installation.createTenant.execute({ name }), 'invalid-request');
      assertNothingRecorded(installation, callsBefore);
    });
  }

  it('takes a name of 128 characters and trims ASCII white space around it', async () => {
    const installation = await readyInstallation();
    const long = `A${'b'.repeat(127)}`;
    assert.equal((await installation.createTenant.execute({ name: long })).tenant.name, long);
    assert.equal((await installation.createTenant.execute({ name: ' \tAcme\r\n' })).tenant.name, 'Acme');
  });

  for (const maxTtlSeconds of [59, 60.5, 63_072_001]) {
    it(`refuses maxTtlSeconds ${maxTtlSeconds} with ttl-out-of-range, recording nothing`, async () => {
      const installation = await readyInstallation();
      const callsBefore = installation.custody.calls.length;
      await rejectsWith(installation.createTenant.execute({ name: 'Acme', maxTtlSeconds }), 'ttl-out-of-range');
      assertNothingRecorded(installation, callsBefore);
    });
  }

  it('refuses with platform-ca-not-ready while the platform CA awaits its certificate, recording nothing', async () => {
    const installation = new MemoryInstallation({ CCM_PLATFORM_CA_MODE: 'external' });
    await installation.platform.ensure();
    const callsBefore = installation.custody.calls.length;
    await rejectsWith(installation.createTenant.execute({ name: 'Acme' }), 'platform-ca-not-ready');
    assert.equal(installation.ports.tables.tenants.size, 0);
    assert.deepEqual([...installation.ports.tables.authorities.values()].map((a) => `${a.kind}:${a.status}`), ['platform:pending']);
    assert.equal(installation.custody.calls.length, callsBefore);
  });

  it('records the tenant and an active root CA that the platform CA certified', async () => {
    const installation = await readyInstallation();
    const platform = await installation.platform.active();
    const { tenant, authority } = await installation.createTenant.execute({ name: 'Acme', maxTtlSeconds: 86_400 });

    assert.deepEqual(await installation.ports.tenants.findById(tenant.id), tenant);
    assert.equal(tenant.maxTtlSeconds, 86_400);
    assert.deepEqual(await installation.ports.authorities.findActiveTenantRoot(tenant.id), authority);
    assert.equal(authority.kind, 'tenant-root');
    assert.equal(authority.issuerAuthorityId, platform.id);
    assert.equal(authority.custodyKeyName, `tenant-${tenant.id}-root-1`);
    assert.equal(authority.subject, `CN=Acme root CA,OU=${tenant.id}`);
    assert.deepEqual(installation.ports.tables.statesOf(authority.id), ['pending', 'active']);
    const der = derOf(authority.certificatePem!);
    const inspected = inspectCertificate(der);
    assert.ok(verifyCertificateSignature(der, installation.publicKeyOf(platform)), 'signed by the platform CA');
    assert.ok(inspected.isCa);
    assert.equal(inspected.pathLenConstraint, 1);
    assert.equal(inspected.serialNumberHex, authority.serialNumber);
    assert.ok(inspected.notAfter <= platform.notAfter!, 'never outlives the platform CA');
  });

  it('keeps the tenant and fails its root CA when custody does not sign', async () => {
    const installation = await readyInstallation();
    installation.custody.failingSign = 'unavailable';

    await rejectsWith(installation.createTenant.execute({ name: 'Acme' }), 'custody-unavailable');

    const tenant = await installation.ports.tenants.findByName('Acme');
    assert.ok(tenant, 'the tenant is kept');
    const root = (await installation.ports.authorities.findTenantRoot(tenant.id))!;
    assert.equal(root.status, 'failed');
    assert.equal(root.certificatePem, null);
    assert.deepEqual(installation.ports.tables.statesOf(root.id), ['pending', 'failed']);
    assert.equal(await installation.ports.authorities.findActiveTenantRoot(tenant.id), null);
  });

  it('finishes the same tenant with a new active root when the same request comes again after a failure', async () => {
    const installation = await readyInstallation();
    installation.custody.failingSign = 'error';
    await rejectsWith(installation.createTenant.execute({ name: 'Acme', maxTtlSeconds: 3600 }), 'custody-error');
    const unfinished = (await installation.ports.tenants.findByName('Acme'))!;
    const failedRoot = (await installation.ports.authorities.findTenantRoot(unfinished.id))!;

    installation.custody.failingSign = null;
    installation.clock.advance(1000);
    const { tenant, authority } = await installation.createTenant.execute({ name: 'Acme', maxTtlSeconds: 3600 });

    assert.deepEqual(tenant, unfinished, 'the same tenant, same id');
    assert.equal(installation.ports.tables.tenants.size, 1);
    assert.notEqual(authority.id, failedRoot.id);
    assert.equal(authority.status, 'active');
    assert.equal(authority.subject, failedRoot.subject, 'a failed root frees its name');
    assert.equal((await installation.ports.authorities.findById(failedRoot.id))!.status, 'failed');
    assert.deepEqual(await installation.ports.authorities.findActiveTenantRoot(tenant.id), authority);
  });

  it('refuses the name of a finished tenant with conflict, recording nothing more', async () => {
    const installation = await readyInstallation();
    await installation.createTenant.execute({ name: 'Acme' });
    const authoritiesBefore = installation.ports.tables.authorities.size;
    const callsBefore = installation.custody.calls.length;

    const refusal = await rejectsWith(installation.createTenant.execute({ name: 'Acme' }), 'conflict');

    assert.equal(refusal.details['field'], 'name');
    assert.equal(installation.ports.tables.tenants.size, 1);
    assert.equal(installation.ports.tables.authorities.size, authoritiesBefore);
    assert.equal(installation.custody.calls.length, callsBefore);
  });

  it('refuses the name of an unfinished tenant with another maxTtlSeconds with conflict', async () => {
    const installation = await readyInstallation();
    installation.custody.failingSign = 'unavailable';
    await rejectsWith(installation.createTenant.execute({ name: 'Acme', maxTtlSeconds: 3600 }), 'custody-unavailable');
    installation.custody.failingSign = null;
    const authoritiesBefore = installation.ports.tables.authorities.size;

    await rejectsWith(installation.createTenant.execute({ name: 'Acme', maxTtlSeconds: 7200 }), 'conflict');
    await rejectsWith(installation.createTenant.execute({ name: 'Acme' }), 'conflict');

    assert.equal(installation.ports.tables.authorities.size, authoritiesBefore, 'no new root CA record');
  });
});
