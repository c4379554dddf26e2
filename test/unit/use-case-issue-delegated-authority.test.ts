/**
 * IssueDelegatedAuthority against in-memory ports and custody, with the real
 * CA role: the tenant root certifies the key of a tenant's CSR as a CA of
 * device certificates only; a refusal records nothing; a custody failure
 * leaves the record failed, which frees its name for the next request.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import type { DistinguishedName } from '../../src/codec/distinguished-name.js';
import { inspectCertificate, verifyCertificateSignature } from '../../src/codec/certificate-inspection.js';
import { dnsNameConstraintsOf } from '../../src/trust/dns-name-constraints.js';
import { IssueDelegatedAuthority, type IssueDelegatedAuthorityCommand } from '../../src/trust/issue-delegated-authority.js';
import { MemoryInstallation, NOW, type TenantInstallation, certificationRequest, derOf, foreignCertificationRequest, rejectsWith } from '../support/memory-installation.js';

const DELEGATED_SUBJECT: DistinguishedName = [
  { attribute: 'O', value: 'Acme' },
  { attribute: 'CN', value: 'Acme field devices CA' },
];

async function delegating() {
  const installation = await MemoryInstallation.withTenant();
  const { ports } = installation;
  const issue = new IssueDelegatedAuthority(installation.config, ports.tenants, ports.authorities, ports.trusted, installation.names, installation.issuers, installation.ca, installation.clock);
  const request = await certificationRequest(DELEGATED_SUBJECT);
  return {
    installation,
    request,
    issue,
    execute: (command: Partial<IssueDelegatedAuthorityCommand> = {}) => issue.execute({ tenantId: installation.tenant.id, name: 'field devices', csrPem: request.pem, ...command }),
  };
}

describe('IssueDelegatedAuthority', () => {
  before(() => Logger.overrideLogger(false));

  it('records pending then active a delegated CA that the tenant root certified, with no custody key', async () => {
    const { installation, request, execute } = await delegating();
    const issued = await execute({ ttlSeconds: 30 * 86_400, permittedDnsDomains: ['Devices.Example.com'] });

    const { authority } = issued;
    assert.equal(authority.kind, 'intermediate');
    assert.equal(authority.status, 'active');
    assert.equal(authority.custodyKeyName, '');
    assert.equal(authority.issuerAuthorityId, installation.root.id);
    assert.equal(authority.name, 'field devices');
    assert.equal(authority.registration, 'self');
    assert.deepEqual(installation.ports.tables.statesOf(authority.id), ['pending', 'active']);
    assert.deepEqual(installation.ports.tables.authorities.get(authority.id), authority);
    const der = derOf(issued.certificatePem);
    assert.ok(verifyCertificateSignature(der, installation.publicKeyOf(installation.root)), 'signed by the tenant root CA');
    const inspected = inspectCertificate(der);
    assert.deepEqual(inspected.subjectPublicKeyInfo, request.key.spki, 'the tenant\'s key');
    assert.ok(inspected.isCa);
    assert.equal(inspected.pathLenConstraint, 0, 'it may sign device certificates only');
    assert.equal(inspected.notAfter.getTime(), NOW.getTime() + 30 * 86_400_000);
    assert.deepEqual(dnsNameConstraintsOf(der), { permitted: ['devices.example.com'], excluded: [] });
    assert.ok(issued.chainPem.startsWith(installation.root.certificatePem!), 'the chain starts at the tenant root');
    assert.ok(!installation.custody.calls.some((call) => call.startsWith('createKey:') && call.includes(authority.id)), 'no key made in custody');
    assert.deepEqual((await installation.ports.trusted.listOfTenant(installation.tenant.id)).map((a) => a.id), [installation.root.id, authority.id]);
  });

  it('ends the delegated CA with the tenant root', async () => {
    const { installation, execute } = await delegating();
    const issued = await execute({ ttlSeconds: 20 * 365 * 86_400 });
    assert.equal(issued.authority.notAfter!.getTime(), installation.root.notAfter!.getTime());
  });

  describe('refuses, recording nothing and asking custody nothing', () => {
    const refusals: { name: string; kind: string; command: (installation: TenantInstallation) => Promise<Partial<IssueDelegatedAuthorityCommand>> }[] = [
      { name: 'a TTL under an hour', kind: 'ttl-out-of-range', command: async () => ({ ttlSeconds: 3599 }) },
      { name: 'a TTL over twenty years', kind: 'ttl-out-of-range', command: async () => ({ ttlSeconds: 20 * 365 * 86_400 + 1 }) },
      { name: 'an empty name', kind: 'invalid-request', command: async () => ({ name: '  ' }) },
      { name: 'a registration that is neither self nor preregistered', kind: 'invalid-request', command: async () => ({ registration: 'anyone' as never }) },
      { name: 'a DNS constraint with a wildcard', kind: 'invalid-request', command: async () => ({ permittedDnsDomains: ['*.example.com'] }) },
      { name: 'a CSR without a subject', kind: 'invalid-request', command: async () => ({ csrPem: await foreignCertificationRequest('') }) },
      { name: 'a subject another CA has (the platform CA\'s)', kind: 'authority-name-taken', command: async () => ({ csrPem: (await certificationRequest([{ attribute: 'CN', value: 'ccm platform CA' }])).pem }) },
      {
        name: 'a subject of the shape ccm gives tenant roots',
        kind: 'authority-name-taken',
        command: async (installation) => ({ csrPem: (await certificationRequest([{ attribute: 'OU', value: installation.tenant.id }, { attribute: 'CN', value: 'Other root CA' }])).pem }),
      },
    ];
    for (const refusal of refusals) {
      it(`${refusal.kind} for ${refusal.name}`, async () => {
        const { installation, execute } = await delegating();
        const command = await refusal.command(installation);
        const authoritiesBefore = installation.ports.tables.authorities.size;
        const callsBefore = installation.custody.calls.length;

        await rejectsWith(execute(command), refusal.kind);

        assert.equal(installation.ports.tables.authorities.size, authoritiesBefore, 'no record');
        assert.equal(installation.custody.calls.length, callsBefore, 'no custody call');
      });
    }

    it('authority-name-taken for the name of a delegated CA in force', async () => {
      const { installation, execute } = await delegating();
      await execute();
      const authoritiesBefore = installation.ports.tables.authorities.size;
      const other = await certificationRequest(DELEGATED_SUBJECT);

      await rejectsWith(execute({ csrPem: other.pem, name: 'second' }), 'authority-name-taken');

      assert.equal(installation.ports.tables.authorities.size, authoritiesBefore);
    });

    it('not-found for a tenant that does not exist', async () => {
      const { installation, execute } = await delegating();
      const authoritiesBefore = installation.ports.tables.authorities.size;
      await rejectsWith(execute({ tenantId: '01890000-0000-7000-8000-000000000000' }), 'not-found');
      assert.equal(installation.ports.tables.authorities.size, authoritiesBefore);
    });
  });

  it('marks the record failed when custody does not sign, which frees its name for the next request', async () => {
    const { installation, execute } = await delegating();
    installation.custody.failingSign = 'unavailable';

    await rejectsWith(execute(), 'custody-unavailable');

    const failed = [...installation.ports.tables.authorities.values()].find((a) => a.kind === 'intermediate')!;
    assert.equal(failed.status, 'failed');
    assert.equal(failed.certificatePem, null);
    assert.deepEqual(installation.ports.tables.statesOf(failed.id), ['pending', 'failed']);
    assert.deepEqual((await installation.ports.trusted.listOfTenant(installation.tenant.id)).map((a) => a.id), [installation.root.id], 'a failed record is listed nowhere');

    installation.custody.failingSign = null;
    const issued = await execute();
    assert.notEqual(issued.authority.id, failed.id);
    assert.equal(issued.authority.status, 'active');
  });
});
