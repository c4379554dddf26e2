/**
 * ChangeCertificateState against in-memory ports: suspension, reactivation
 * and revocation of one certificate, each with its event and a CRL rebuild;
 * an illegal transition, or one that loses its race, is refused with the
 * state that holds, nothing changed and no event.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import type { CcmEvent } from '@ccm/event-consumer/contract';
import { IssueClientCertificate } from '../../src/certificates/issue-client-certificate.js';
import type { ClientCertificate } from '../../src/certificates/client-certificate.js';
import type { Transition } from '../../src/lifecycle/certificate-transition.js';
import { ChangeCertificateState } from '../../src/lifecycle/change-certificate-state.js';
import { CountingOutboxWakeup, MemoryLifeCycleStore, MemoryTables, RecordingIssuanceMetrics, RecordingRevocationListRefresher } from '../support/in-memory-ports.js';
import { MemoryInstallation, rejectsWith } from '../support/memory-installation.js';

/** A store before whose every transition a concurrent request suspends the certificate first. */
class OvertakenLifeCycleStore extends MemoryLifeCycleStore {
  constructor(private readonly rows: MemoryTables) {
    super(rows);
  }

  override async applyCertificateTransition(certificate: ClientCertificate, transition: Transition, event: CcmEvent): Promise<ClientCertificate | null> {
    this.rows.putCertificate({ ...this.rows.certificates.get(certificate.id)!, state: 'suspended' });
    return super.applyCertificateTransition(certificate, transition, event);
  }
}

async function changing(overtaken = false) {
  const installation = await MemoryInstallation.withTenant();
  const { ports, tenant } = installation;
  const wakeup = new CountingOutboxWakeup();
  const refresher = new RecordingRevocationListRefresher();
  const store = overtaken ? new OvertakenLifeCycleStore(ports.tables) : ports.lifeCycle;
  const change = new ChangeCertificateState(ports.certificates, ports.authorities, store, wakeup, refresher, installation.clock);
  const issue = new IssueClientCertificate(installation.config, ports.tenants, ports.authorities, installation.issuers, ports.certificates, installation.ca, installation.clock, new RecordingIssuanceMetrics());
  const { certificate } = await issue.execute({ tenantId: tenant.id, commonName: 'device-1' });
  return { installation, wakeup, refresher, change, certificate, tenantId: tenant.id };
}

describe('ChangeCertificateState', () => {
  before(() => Logger.overrideLogger(false));

  it('suspends, reactivates and revokes, each with its event and a CRL rebuild of the issuer', async () => {
    const { installation, wakeup, refresher, change, certificate, tenantId } = await changing();

    const suspended = await change.suspend(tenantId, certificate.id);
    assert.equal(suspended.state, 'suspended');
    assert.deepEqual(suspended.suspendedAt, installation.clock.now());
    installation.clock.advance(1000);
    const reactivated = await change.reactivate(tenantId, certificate.id);
    assert.equal(reactivated.state, 'inactive', 'never used, so back to inactive');
    assert.equal(reactivated.suspendedAt, null);
    installation.clock.advance(1000);
    const revoked = await change.revoke(tenantId, certificate.id, 'keyCompromise');
    assert.equal(revoked.state, 'revoked');
    assert.equal(revoked.revocationReason, 'keyCompromise');

    assert.deepEqual(installation.ports.tables.statesOf(certificate.id), ['pending', 'inactive', 'suspended', 'inactive', 'revoked']);
    assert.deepEqual(
      installation.ports.tables.events.map((event) => [event.type, event.certificateId, event.state, event.issuer]),
      [
        ['certificate.suspended', certificate.id, 'suspended', installation.root.subject],
        ['certificate.reactivated', certificate.id, 'inactive', installation.root.subject],
        ['certificate.revoked', certificate.id, 'revoked', installation.root.subject],
      ],
    );
    assert.equal(wakeup.notified, 3);
    assert.deepEqual(refresher.requests, Array(3).fill({ authorityId: installation.root.id, shard: 0 }));
    assert.equal(installation.ports.tables.authorities.get(installation.root.id)!.revocationVersion, 3, 'each change makes the CRL stale');
  });

  const illegal: { name: string; state: string; act: (context: Awaited<ReturnType<typeof changing>>) => Promise<unknown>; prepare?: (context: Awaited<ReturnType<typeof changing>>) => Promise<unknown> }[] = [
    { name: 'reactivating a certificate that is not suspended', state: 'inactive', act: ({ change, tenantId, certificate }) => change.reactivate(tenantId, certificate.id) },
    { name: 'suspending a suspended certificate', state: 'suspended', prepare: ({ change, tenantId, certificate }) => change.suspend(tenantId, certificate.id), act: ({ change, tenantId, certificate }) => change.suspend(tenantId, certificate.id) },
    {
      name: 'revoking a revoked certificate',
      state: 'revoked',
      prepare: ({ change, tenantId, certificate }) => change.revoke(tenantId, certificate.id, 'superseded'),
      act: ({ change, tenantId, certificate }) => change.revoke(tenantId, certificate.id, 'keyCompromise'),
    },
    {
      name: 'suspending a revoked certificate',
      state: 'revoked',
      prepare: ({ change, tenantId, certificate }) => change.revoke(tenantId, certificate.id, 'superseded'),
      act: ({ change, tenantId, certificate }) => change.suspend(tenantId, certificate.id),
    },
  ];
  for (const refusal of illegal) {
    it(`refuses ${refusal.name} as illegal-transition, changing nothing and announcing nothing`, async () => {
      const context = await changing();
      await refusal.prepare?.(context);
      const record = context.installation.ports.tables.certificates.get(context.certificate.id);
      const events = context.installation.ports.tables.events.length;
      const notified = context.wakeup.notified;
      const refreshes = context.refresher.requests.length;

      const error = await rejectsWith(refusal.act(context), 'illegal-transition');

      assert.equal(error.details['state'], refusal.state);
      assert.equal(context.installation.ports.tables.certificates.get(context.certificate.id), record, 'the record is untouched');
      assert.equal(context.installation.ports.tables.events.length, events, 'no event');
      assert.equal(context.wakeup.notified, notified);
      assert.equal(context.refresher.requests.length, refreshes);
    });
  }

  it('answers a transition that lost its race with the state that won, announcing nothing', async () => {
    const { installation, wakeup, refresher, change, certificate, tenantId } = await changing(true);

    const error = await rejectsWith(change.suspend(tenantId, certificate.id), 'illegal-transition');

    assert.equal(error.details['state'], 'suspended');
    assert.deepEqual(installation.ports.tables.events, []);
    assert.equal(wakeup.notified, 0);
    assert.deepEqual(refresher.requests, []);
  });

  it('finds no certificate for a failed issuance nor for another tenant', async () => {
    const { installation, change, certificate, tenantId } = await changing();
    installation.custody.failing = 'unavailable';
    const issue = new IssueClientCertificate(installation.config, installation.ports.tenants, installation.ports.authorities, installation.issuers, installation.ports.certificates, installation.ca, installation.clock, new RecordingIssuanceMetrics());
    await rejectsWith(issue.execute({ tenantId, commonName: 'device-2' }), 'custody-unavailable');
    const failed = [...installation.ports.tables.certificates.values()].find((c) => c.state === 'failed')!;

    await rejectsWith(change.suspend(tenantId, failed.id), 'not-found');
    await rejectsWith(change.suspend('01890000-0000-7000-8000-000000000000', certificate.id), 'not-found');
    assert.deepEqual(installation.ports.tables.events, []);
  });
});
