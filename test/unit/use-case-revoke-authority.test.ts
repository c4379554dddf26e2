/**
 * RevokeAuthority against in-memory ports: a tenant root falls with what it
 * issued and the delegated CAs it certified, announced by one event; a
 * tenant's own way reaches its delegated and external CAs only; a CA that is
 * not active is refused with nothing changed and no event; a tenant CA
 * revocation that stopped half-way is completed by asking again.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { IssueClientCertificate } from '../../src/certificates/issue-client-certificate.js';
import { authorityRevokedEvent } from '../../src/lifecycle/life-cycle-events.js';
import { RevokeAuthority } from '../../src/lifecycle/revoke-authority.js';
import { OcspSigningIdentities } from '../../src/revocation/ocsp-signing.js';
import { IssueDelegatedAuthority } from '../../src/trust/issue-delegated-authority.js';
import type { CcmEvent, RevocationReason } from '@ccm/event-consumer/contract';
import type { Authority } from '../../src/authorities/authority.js';
import { CountingOutboxWakeup, MemoryLifeCycleStore, MemoryTables, RecordingIssuanceMetrics, RecordingRevocationListRefresher } from '../support/in-memory-ports.js';
import { MemoryInstallation, certificationRequest, rejectsWith } from '../support/memory-installation.js';

/** A store before whose every CA revocation a concurrent request revokes the CA first. */
class OvertakenLifeCycleStore extends MemoryLifeCycleStore {
  constructor(private readonly rows: MemoryTables) {
    super(rows);
  }

  override async revokeAuthority(authority: Authority, reason: RevocationReason, at: Date, event: (revokedCertificates: number) => CcmEvent): Promise<{ revokedCertificates: number } | null> {
    this.rows.putAuthority({ ...this.rows.authorities.get(authority.id)!, status: 'revoked' });
    return super.revokeAuthority(authority, reason, at, event);
  }
}

async function revoking() {
  const installation = await MemoryInstallation.withTenant({ CCM_OCSP_RESPONDER: 'delegated' });
  const { ports, tenant } = installation;
  const wakeup = new CountingOutboxWakeup();
  const refresher = new RecordingRevocationListRefresher();
  const revoke = new RevokeAuthority(ports.tenants, ports.authorities, ports.lifeCycle, wakeup, refresher, installation.clock);
  const issueCertificate = new IssueClientCertificate(installation.config, ports.tenants, ports.authorities, installation.issuers, ports.certificates, installation.ca, installation.clock, new RecordingIssuanceMetrics());
  const delegate = new IssueDelegatedAuthority(installation.config, ports.tenants, ports.authorities, ports.trusted, installation.names, installation.issuers, installation.ca, installation.clock);
  const devices = [await issueCertificate.execute({ tenantId: tenant.id, commonName: 'device-1' }), await issueCertificate.execute({ tenantId: tenant.id, commonName: 'device-2' })];
  const delegated = await delegate.execute({ tenantId: tenant.id, name: 'field devices', csrPem: (await certificationRequest([{ attribute: 'CN', value: 'Acme field CA' }])).pem });
  return { installation, wakeup, refresher, revoke, devices, delegated: delegated.authority };
}

/** Every record's status or state, to compare before and after a refusal. */
function snapshot(installation: MemoryInstallation): string[] {
  const { tables } = installation.ports;
  return [...[...tables.authorities.values()].map((a) => `${a.id}:${a.status}:${a.revocationVersion}`), ...[...tables.certificates.values()].map((c) => `${c.id}:${c.state}`)];
}

describe('RevokeAuthority', () => {
  before(() => Logger.overrideLogger(false));

  it('revokes a tenant root with its certificates and delegated CAs, in one event, and asks for its CRL', async () => {
    const { installation, wakeup, refresher, revoke, devices, delegated } = await revoking();
    installation.clock.advance(60_000);

    const result = await revoke.execute({ kind: 'tenant-root', tenantId: installation.tenant.id }, 'keyCompromise');

    assert.equal(result.revokedCertificates, 2);
    assert.equal(result.authority.status, 'revoked');
    assert.equal(result.authority.revocationReason, 'keyCompromise');
    assert.deepEqual(result.authority.revokedAt, installation.clock.now());
    assert.equal(installation.ports.tables.authorities.get(delegated.id)!.status, 'revoked');
    for (const device of devices) assert.equal(installation.ports.tables.certificates.get(device.certificate.id)!.state, 'revoked');
    assert.deepEqual(
      installation.ports.tables.events.map((event) => [event.type, event.authorityId, event.revokedCertificates, event.issuer]),
      [['authority.revoked', installation.root.id, 2, 'CN=ccm platform CA']],
    );
    assert.equal(wakeup.notified, 1);
    assert.deepEqual(refresher.requests, [{ authorityId: installation.root.id, shard: 0 }]);
  });

  it('completes a tenant CA revocation that stopped after the active root: asking again revokes the retiring root still in force', async () => {
    const { installation, revoke } = await revoking();
    const { tables } = installation.ports;
    // A root an earlier rollover left retiring.
    const retiring: Authority = { ...installation.root, id: '01890000-0000-7000-8000-0000000000aa', status: 'retiring', custodyKeyName: 'tenant-retiring', createdAt: new Date(installation.root.createdAt.getTime() - 86_400_000) };
    tables.putAuthority(retiring);
    // The first request revoked the active root, then stopped (a crash) before the retiring one.
    const at = installation.clock.now();
    await installation.ports.lifeCycle.revokeAuthority(installation.root, 'keyCompromise', at, (count) => authorityRevokedEvent(installation.root, 'CN=ccm platform CA', 'keyCompromise', at, count));
    const eventsBefore = tables.events.length;

    const result = await revoke.execute({ kind: 'tenant-root', tenantId: installation.tenant.id }, 'keyCompromise');

    assert.equal(tables.authorities.get(retiring.id)!.status, 'revoked');
    assert.equal(result.authority.id, installation.root.id);
    assert.deepEqual(tables.events.slice(eventsBefore).map((event) => [event.type, event.authorityId]), [['authority.revoked', retiring.id]]);
    await rejectsWith(revoke.execute({ kind: 'tenant-root', tenantId: installation.tenant.id }, 'keyCompromise'), 'illegal-transition');
  });

  it('revokes a delegated CA by the tenant\'s way, its CRL being the tenant\'s', async () => {
    const { installation, refresher, revoke, delegated } = await revoking();

    const result = await revoke.execute({ kind: 'tenant-held', tenantId: installation.tenant.id, authorityId: delegated.id }, 'cessationOfOperation');

    assert.equal(result.authority.status, 'revoked');
    assert.equal(installation.ports.tables.authorities.get(installation.root.id)!.status, 'active', 'the root stays');
    assert.deepEqual(installation.ports.tables.events.map((event) => [event.type, event.issuer]), [['authority.revoked', installation.root.subject]]);
    assert.deepEqual(refresher.requests, []);
  });

  const refusals: { name: string; kind: string; target: (context: Awaited<ReturnType<typeof revoking>>) => Promise<Parameters<RevokeAuthority['execute']>[0]> }[] = [
    {
      name: 'a tenant root that is revoked already',
      kind: 'illegal-transition',
      target: async ({ installation, revoke }) => {
        await revoke.execute({ kind: 'tenant-root', tenantId: installation.tenant.id }, 'superseded');
        return { kind: 'tenant-root', tenantId: installation.tenant.id };
      },
    },
    {
      name: 'a delegated CA that is revoked already',
      kind: 'illegal-transition',
      target: async ({ installation, revoke, delegated }) => {
        await revoke.execute({ kind: 'tenant-held', tenantId: installation.tenant.id, authorityId: delegated.id }, 'superseded');
        return { kind: 'tenant-held', tenantId: installation.tenant.id, authorityId: delegated.id };
      },
    },
    { name: 'the tenant root by the tenant\'s way', kind: 'conflict', target: async ({ installation }) => ({ kind: 'tenant-held', tenantId: installation.tenant.id, authorityId: installation.root.id }) },
    {
      name: 'an OCSP responder by the tenant\'s way',
      kind: 'not-found',
      target: async ({ installation }) => {
        const identities = new OcspSigningIdentities(installation.config, installation.ports.authorities, installation.issuers, installation.ca, installation.clock);
        await identities.of(installation.root);
        const responder = [...installation.ports.tables.authorities.values()].find((a) => a.kind === 'ocsp-responder')!;
        return { kind: 'tenant-held', tenantId: installation.tenant.id, authorityId: responder.id };
      },
    },
    { name: 'the platform CA by the tenant\'s way', kind: 'not-found', target: async ({ installation }) => ({ kind: 'tenant-held', tenantId: installation.tenant.id, authorityId: (installation.ports.tables.authorities.values().next().value!).id }) },
    { name: 'another tenant\'s delegated CA', kind: 'not-found', target: async ({ delegated }) => ({ kind: 'tenant-held', tenantId: '01890000-0000-7000-8000-000000000000', authorityId: delegated.id }) },
    { name: 'the root of a tenant that does not exist', kind: 'not-found', target: async () => ({ kind: 'tenant-root', tenantId: '01890000-0000-7000-8000-000000000000' }) },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.name} with ${refusal.kind}, changing nothing and announcing nothing`, async () => {
      const context = await revoking();
      const target = await refusal.target(context);
      const before = snapshot(context.installation);
      const events = context.installation.ports.tables.events.length;
      const notified = context.wakeup.notified;
      const refreshes = context.refresher.requests.length;

      await rejectsWith(context.revoke.execute(target, 'keyCompromise'), refusal.kind);

      assert.deepEqual(snapshot(context.installation), before);
      assert.equal(context.installation.ports.tables.events.length, events, 'no event');
      assert.equal(context.wakeup.notified, notified);
      assert.equal(context.refresher.requests.length, refreshes);
    });
  }

  it('refuses a revocation that lost its race with illegal-transition, announcing nothing', async () => {
    const { installation, wakeup, refresher } = await revoking();
    const { ports } = installation;
    const revoke = new RevokeAuthority(ports.tenants, ports.authorities, new OvertakenLifeCycleStore(ports.tables), wakeup, refresher, installation.clock);

    const error = await rejectsWith(revoke.execute({ kind: 'tenant-root', tenantId: installation.tenant.id }, 'keyCompromise'), 'illegal-transition');

    assert.equal(error.details['state'], 'revoked');
    assert.ok([...ports.tables.certificates.values()].every((c) => c.state === 'inactive'), 'its certificates untouched');
    assert.deepEqual(ports.tables.events, []);
    assert.equal(wakeup.notified, 0);
    assert.deepEqual(refresher.requests, []);
  });
});
