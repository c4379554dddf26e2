/**
 * PlatformAuthority.ensure against in-memory ports and custody: the platform
 * CA comes into being once, a failed signature leaves a pending row that the
 * next start finishes, and external mode stops at a key awaiting the
 * operator's certificate.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { inspectCertificate, verifyCertificateSignature } from '../../src/codec/certificate-inspection.js';
import { PLATFORM_KEY_NAME } from '../../src/authorities/platform-authority.js';
import { MemoryInstallation, derOf, rejectsWith } from '../support/memory-installation.js';

/** Longer than the platform CA's signing lease (20 s), after which a dead replica's serial no longer holds others off. */
const PAST_THE_SIGNING_LEASE_MS = 21_000;

describe('PlatformAuthority.ensure', () => {
  before(() => Logger.overrideLogger(false));

  it('creates one active, self-signed platform CA in self-signed mode', async () => {
    const installation = new MemoryInstallation();
    const platform = await installation.platform.ensure();

    assert.equal(platform.status, 'active');
    assert.equal(platform.kind, 'platform');
    assert.equal(platform.custodyKeyName, PLATFORM_KEY_NAME);
    assert.equal(platform.subject, 'CN=ccm platform CA');
    assert.deepEqual([...installation.ports.tables.authorities.keys()], [platform.id]);
    assert.deepEqual(installation.ports.tables.statesOf(platform.id), ['pending', 'active']);
    const der = derOf(platform.certificatePem!);
    const inspected = inspectCertificate(der);
    assert.ok(inspected.isCa);
    assert.equal(inspected.serialNumberHex, platform.serialNumber);
    assert.ok(verifyCertificateSignature(der, inspected.subjectPublicKeyInfo), 'self-signed by its own custody key');
  });

  it('changes nothing when the platform CA is active already', async () => {
    const installation = new MemoryInstallation();
    const first = await installation.platform.ensure();
    const callsBefore = installation.custody.calls.length;
    installation.clock.advance(60_000);

    const second = await installation.platform.ensure();

    assert.deepEqual(second, first);
    assert.equal(installation.ports.tables.authorities.size, 1);
    assert.equal(installation.custody.calls.length, callsBefore, 'no custody call');
  });

  it('leaves the row pending with its serial when custody does not sign, and the next ensure finishes it', async () => {
    const installation = new MemoryInstallation();
    installation.custody.failingSign = 'unavailable';

    await rejectsWith(installation.platform.ensure(), 'custody-unavailable');
    const pending = (await installation.ports.authorities.findPlatform())!;
    assert.equal(pending.status, 'pending');
    assert.match(pending.serialNumber ?? '', /^[0-9a-f]+$/);
    assert.equal(pending.certificatePem, null);

    installation.custody.failingSign = null;
    installation.clock.advance(PAST_THE_SIGNING_LEASE_MS);
    const platform = await installation.platform.ensure();

    assert.equal(platform.id, pending.id, 'the same row, finished');
    assert.equal(platform.status, 'active');
    assert.equal(inspectCertificate(derOf(platform.certificatePem!)).serialNumberHex, platform.serialNumber);
    assert.equal(installation.ports.tables.authorities.size, 1);
  });

  it('leaves the platform CA pending with a key and no certificate in external mode', async () => {
    const installation = new MemoryInstallation({ CCM_PLATFORM_CA_MODE: 'external' });
    const platform = await installation.platform.ensure();

    assert.equal(platform.status, 'pending');
    assert.equal(platform.certificatePem, null);
    assert.equal(platform.serialNumber, null);
    assert.ok((await installation.custody.getKey(PLATFORM_KEY_NAME)).publicKeyDer.length > 0, 'the key is in custody');
    assert.equal(installation.custody.signed.length, 0, 'nothing signed');
    await rejectsWith(installation.platform.active(), 'platform-ca-not-ready');
  });
});
