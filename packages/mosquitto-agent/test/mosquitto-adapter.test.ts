/**
 * MosquittoAdapter with fakes behind every port: what is installed,
 * reloaded, kicked and enabled, in which order, for each call the core
 * makes, including CRLs that lag the states, CRLs that must never be
 * installed, concurrent calls, and a restart against a broker already in
 * the right state.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { CrlRejectedError, isOlderThan, tenantCrlOf } from '../src/crl.js';
import { AdapterNotRunningError, CrlBehindStateError } from '../src/mosquitto-adapter.js';
import { certificate, crl, device, HOUR, NOW, Rig, settle, withState } from './fakes.js';

describe('MosquittoAdapter: start', () => {
  test('installs one bundle holding every tenant\'s CRL in configured order, reloads once, then connects and reads the disabled clients', async () => {
    const rig = new Rig();
    rig.control.disabled.add('meter-7');
    const adapter = rig.adapter();
    await adapter.start();
    assert.deepEqual(rig.steps, ['write', 'reload']);
    assert.equal(rig.crlFile.content, `${rig.crls.current.get(rig.tenantA)!.pem}${rig.crls.current.get(rig.tenantB)!.pem}`);
    assert.equal(rig.connects, 1);
    assert.deepEqual([...adapter.disabledClients], ['meter-7']);
    assert.ok(rig.log.messages('info').includes('mosquitto adapter started'));
    await adapter.close();
  });

  test('fails, writing nothing, while any tenant\'s CRL cannot be had; started again it resumes where it stopped', async () => {
    const rig = new Rig();
    rig.crls.failing.add(rig.tenantB);
    const adapter = rig.adapter();
    await assert.rejects(adapter.start(), /cannot install the CRLs/);
    assert.deepEqual(rig.steps, []);
    assert.equal(rig.connects, 0, 'no admin connection before the crlfile exists (Mosquitto may be waiting for it)');
    rig.crls.failing.clear();
    rig.connectFails = 1;
    await assert.rejects(adapter.start(), /ECONNREFUSED/);
    assert.deepEqual(rig.steps, ['write', 'reload']);
    await adapter.start();
    assert.deepEqual(rig.steps, ['write', 'reload'], 'the CRLs are not installed again');
    assert.equal(rig.connects, 2);
    await adapter.close();
  });

  test('a crlfile that already holds the bundle, noted as read by Mosquitto, is neither written nor reloaded', async () => {
    const rig = new Rig();
    const first = rig.adapter();
    await first.start();
    await first.close();
    assert.equal(rig.crlFile.note?.pid, rig.recorder.brokerPid);
    rig.steps.length = 0;
    const second = rig.adapter();
    await second.start();
    assert.deepEqual(rig.steps, []);
    assert.ok(rig.log.lines.some((line) => line.message === 'crlfile already current; nothing written, no reload' && /signalled/.test(String(line.fields['because']))));
    await second.close();
  });

  test('a crlfile that already holds the bundle but was never noted as read is reloaded, not rewritten (the agent before may have died before the signal)', async () => {
    const rig = new Rig();
    rig.crlFile.content = `${rig.crls.current.get(rig.tenantA)!.pem}${rig.crls.current.get(rig.tenantB)!.pem}`;
    const adapter = rig.adapter();
    await adapter.start();
    assert.deepEqual(rig.steps, ['reload']);
    assert.ok(rig.crlFile.note, 'the reload is noted for the next restart');
    await adapter.close();
  });

  test('a crlfile that already holds the bundle, with no Mosquitto running, is left alone (it reads the file when it starts)', async () => {
    const rig = new Rig();
    rig.recorder.brokerPid = null;
    rig.crlFile.content = `${rig.crls.current.get(rig.tenantA)!.pem}${rig.crls.current.get(rig.tenantB)!.pem}`;
    const adapter = rig.adapter();
    await adapter.installCrlsOnce();
    assert.deepEqual(rig.steps, []);
    await adapter.close();
  });

  test('with no Mosquitto running the file is still written, and the log says it will be read at start', async () => {
    const rig = new Rig();
    rig.recorder.brokerPid = null;
    const adapter = rig.adapter();
    await adapter.installCrlsOnce();
    assert.deepEqual(rig.steps, ['write', 'reload']);
    assert.ok(rig.log.messages('warn').some((message) => /no running Mosquitto/.test(message)));
    assert.equal(rig.crlFile.note, null, 'nothing was signalled, so nothing is noted');
    await adapter.close();
  });

  test('the identity is the CN (use_identity_as_username); a certificate without one has none; sessions cannot be listed', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    assert.equal(adapter.identityOf(certificate(rig.tenantA, rig.rootA, 'meter-1')), 'meter-1');
    assert.equal(adapter.identityOf(certificate(rig.tenantA, rig.rootA, '')), null);
    assert.equal(await adapter.listSessions(), null);
    await adapter.close();
  });

  test('check() says whether the admin connection is up (no command: Mosquitto logs each one); it throws before start and after close', async () => {
    const rig = new Rig();
    const adapter = rig.adapter();
    await assert.rejects(adapter.check(), AdapterNotRunningError);
    await adapter.start();
    await adapter.check();
    assert.ok(!rig.steps.includes('round trip'), 'nothing sent to the broker');
    rig.control.connected = false;
    await assert.rejects(adapter.check(), /down/);
    await adapter.close();
    await assert.rejects(adapter.check(), AdapterNotRunningError);
    assert.equal(rig.control.closed, true);
  });
});

describe('MosquittoAdapter: keeping devices out', () => {
  test('shutOut installs a CRL listing the serial, reloads, then kicks the device (disableClient, username = CN)', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.listInA(meter.serialNumber);
    await adapter.shutOut([device(meter)]);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1']);
    assert.match(rig.crlFile.content!, new RegExp(`\\[${meter.serialNumber}\\]`));
    assert.ok(adapter.disabledClients.has('meter-1'));
    const kicked = rig.log.lines.find((line) => line.message === 'devices kicked')!;
    assert.deepEqual(kicked.fields['usernames'], ['meter-1']);
    assert.equal(kicked.fields['operation'], 'shutOut');
    await adapter.close();
  });

  test('the device is kicked again after each re-kick delay while it stays out, then the re-kicks end', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.listInA(meter.serialNumber);
    await adapter.shutOut([device(meter)]);
    await rig.clock.advance(250);
    await rig.clock.advance(750);
    await rig.clock.advance(5000);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1', 'kick meter-1', 'kick meter-1']);
    await adapter.close();
  });

  test('a batch is one CRL read, one write, one reload and one kick for every device', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meters = Array.from({ length: 100 }, (_, i) => certificate(rig.tenantA, rig.rootA, `meter-${i}`, 'suspended'));
    rig.listInA(...meters.map((m) => m.serialNumber));
    await adapter.shutOut(meters.map((m) => device(m)));
    assert.deepEqual(rig.steps, ['write', 'reload', `kick ${meters.map((m) => m.commonName).sort().join(',')}`]);
    assert.equal(rig.log.lines.find((line) => line.message === 'devices kicked')!.fields['crlReads'], 1);
    const kicked = rig.log.lines.find((line) => line.message === 'devices kicked')!;
    assert.equal(kicked.fields['devices'], 100);
    assert.equal((kicked.fields['usernames'] as string[]).length, 20, 'the log line names a sample and counts the rest');
    assert.equal(kicked.fields['more'], 80);
    await adapter.close();
  });

  test('in a burst the next batch finds its CRL ready: a keep-out that needed one asks for the next while it installs and kicks', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const one = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    const two = certificate(rig.tenantA, rig.rootA, 'meter-2', 'suspended');
    // The first batch's read answers before meter-2 is suspended; the read asked ahead answers after.
    rig.crls.queued.set(rig.tenantA, [crl(rig.tenantA, [one.serialNumber])]);
    rig.listInA(one.serialNumber, two.serialNumber);
    await adapter.shutOut([device(one)]);
    await settle();
    assert.equal(rig.crls.reads, 2, 'the first batch\'s read, and the one asked ahead');
    await adapter.shutOut([device(two)]);
    assert.equal(rig.crls.reads, 3, 'the second batch waited for no read (one more is asked ahead)');
    assert.equal(rig.log.lines.filter((line) => line.message === 'devices kicked')[1]!.fields['crlReads'], 0);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1', 'write', 'reload', 'kick meter-2']);
    await adapter.close();
  });

  test('a device already disabled whose serial the installed CRL lists is left alone: no CRL read, no write, no kick', async () => {
    const rig = new Rig();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.listInA(meter.serialNumber);
    rig.control.disabled.add('meter-1');
    const adapter = await rig.started();
    await adapter.shutOut([device(meter)]);
    await adapter.endForGood([device(withState(meter, 'revoked'))]);
    assert.deepEqual(rig.steps, []);
    assert.equal(rig.crls.reads, 0);
    assert.equal(rig.clock.pending, 1, 'only the CRL refresh timer; no re-kick was scheduled');
    await adapter.close();
  });

  test('a device the installed CRL lists but the plugin does not hold disabled (the agent died before the kick) is kicked, without a CRL write', async () => {
    const rig = new Rig();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.listInA(meter.serialNumber);
    const adapter = await rig.started();
    await adapter.shutOut([device(meter)]);
    assert.deepEqual(rig.steps, ['kick meter-1']);
    assert.equal(rig.crls.reads, 0);
    await adapter.close();
  });

  test('a device disabled but not yet listed (a CRL that lagged last time) gets the CRL and is kicked again', async () => {
    const rig = new Rig();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.control.disabled.add('meter-1');
    const adapter = await rig.started();
    rig.listInA(meter.serialNumber);
    await adapter.shutOut([device(meter)]);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1']);
    await adapter.close();
  });

  test('a CRL that lags the state is read again until it agrees', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.crls.queued.set(rig.tenantA, [crl(rig.tenantA), crl(rig.tenantA)]);
    rig.listInA(meter.serialNumber);
    await adapter.shutOut([device(meter)]);
    assert.equal(rig.log.lines.find((line) => line.message === 'devices kicked')!.fields['crlReads'], 3);
    assert.deepEqual(rig.clock.sleeps, [100, 100]);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1']);
    assert.equal(rig.log.lines.find((line) => line.message === 'devices kicked')!.fields['crlReads'], 3);
    await adapter.close();
  });

  test('a CRL that never catches up: the newer CRL is installed, the device is kicked anyway, then the call throws', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.listInA(); // a newer CRL that still does not list it
    await assert.rejects(adapter.shutOut([device(meter)]), (error: unknown) => error instanceof CrlBehindStateError && error.wanted === 'listed' && error.serialNumbers[0] === meter.serialNumber);
    assert.equal(rig.log.lines.find((line) => line.message === 'devices kicked')!.fields['crlReads'], 3, 'a bounded number of reads');
    assert.equal(rig.crls.reads, 4, 'and one asked ahead for the next call');
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1']);
    await adapter.close();
  });

  test('ccm unreachable: the device is kicked anyway and the call throws (the core retries)', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.crls.failing.add(rig.tenantA);
    await assert.rejects(adapter.shutOut([device(meter)]), /ccm unreachable/);
    assert.deepEqual(rig.steps, ['kick meter-1']);
    await adapter.close();
  });

  test('a CRL about to pass its nextUpdate is never installed; the device is still kicked, and the call throws', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.crls.current.set(rig.tenantA, crl(rig.tenantA, [meter.serialNumber], { thisUpdate: new Date(NOW.getTime() - 24 * HOUR), nextUpdate: new Date(NOW.getTime() + 60_000) }));
    await assert.rejects(adapter.shutOut([device(meter)]), CrlRejectedError);
    assert.deepEqual(rig.steps, ['kick meter-1']);
    await adapter.close();
  });

  test('a CRL older than the installed one is ignored: a lagging replica cannot undo a suspension', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    const listing = rig.listInA(meter.serialNumber);
    await adapter.shutOut([device(meter)]);
    rig.crls.current.set(rig.tenantA, crl(rig.tenantA, [], { number: Number(listing.crlNumber) - 1 }));
    await adapter.refresh();
    assert.equal(adapter.installedCrls.get(rig.tenantA), listing);
    assert.match(rig.crlFile.content!, new RegExp(meter.serialNumber));
    await adapter.close();
  });

  test('the same CRL again is neither rewritten nor reloaded, but a device not yet kicked is kicked', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const one = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    const two = certificate(rig.tenantA, rig.rootA, 'meter-2', 'suspended');
    rig.listInA(one.serialNumber, two.serialNumber);
    await adapter.shutOut([device(one)]);
    await adapter.shutOut([device(two)]);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1', 'kick meter-2']);
    await adapter.close();
  });

  test('endForGood kicks like shutOut, for revoked certificates', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'revoked');
    rig.listInA(meter.serialNumber);
    await adapter.endForGood([device(meter)]);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1']);
    assert.equal(rig.log.lines.find((line) => line.message === 'devices kicked')!.fields['operation'], 'endForGood');
    await adapter.close();
  });

  test('every suspended or revoked certificate of the identity must be listed, across tenants; expired ones are not waited for', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const inA = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    const inB = certificate(rig.tenantB, rig.rootB, 'meter-1', 'revoked');
    const expired = certificate(rig.tenantA, rig.rootA, 'meter-1', 'revoked', { notAfter: new Date(NOW.getTime() - HOUR) });
    rig.listInA(inA.serialNumber);
    rig.crls.current.set(rig.tenantB, crl(rig.tenantB, [inB.serialNumber]));
    await adapter.shutOut([device(inA, inB, expired)]);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1']);
    assert.match(rig.crlFile.content!, new RegExp(inA.serialNumber));
    assert.match(rig.crlFile.content!, new RegExp(inB.serialNumber));
    await adapter.close();
  });

  test('an identity whose certificates have all expired is left alone (TLS refuses it; kicking would create a dynsec client for each)', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const expired = certificate(rig.tenantA, rig.rootA, 'meter-1', 'active', { notAfter: new Date(NOW.getTime() - HOUR) });
    await adapter.endForGood([device(expired)]);
    assert.deepEqual(rig.steps, []);
    assert.equal(rig.crls.reads, 0);
    await adapter.close();
  });

  test('a kick that fails fails the call, and the device is not counted as disabled (the retry kicks again)', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.listInA(meter.serialNumber);
    rig.recorder.brokerFails = 1;
    await assert.rejects(adapter.shutOut([device(meter)]), /no answer/);
    assert.equal(adapter.disabledClients.has('meter-1'), false);
    await adapter.shutOut([device(meter)]);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1']);
    await adapter.close();
  });

  describe('certificates of a tenant-held CA (uploaded or delegated), which no CRL of ccm lists', () => {
    test('shutOut kicks at once and reads no CRL', async () => {
      const rig = new Rig();
      const adapter = await rig.started();
      const held = certificate(rig.tenantA, 'a-tenant-held-ca', 'sensor-9', 'suspended');
      await adapter.shutOut([device(held)]);
      assert.deepEqual(rig.steps, ['kick sensor-9']);
      assert.equal(rig.crls.reads, 0);
      await adapter.close();
    });

    test('letBackIn releases the client without a CRL', async () => {
      const rig = new Rig();
      rig.control.disabled.add('sensor-9');
      const adapter = await rig.started();
      await adapter.letBackIn([device(certificate(rig.tenantA, 'a-tenant-held-ca', 'sensor-9', 'active'))]);
      assert.deepEqual(rig.steps, ['release sensor-9']);
      assert.equal(rig.crls.reads, 0);
      await adapter.close();
    });
  });
});

describe('MosquittoAdapter: letting devices back in', () => {
  test('releases the client while the device is still refused, then installs a CRL without the serial and reloads; cancels pending re-kicks', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.listInA(meter.serialNumber);
    await adapter.shutOut([device(meter)]);
    rig.listInA();
    await adapter.letBackIn([device(withState(meter, 'active'))]);
    await rig.clock.advance(2000);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1', 'release meter-1', 'write', 'reload']);
    assert.equal(adapter.disabledClients.has('meter-1'), false);
    assert.ok(rig.log.messages('info').includes('devices allowed back'));
    await adapter.close();
  });

  test('identities in force that were never shut out cost nothing: 10,000 of them, no CRL read, no broker call', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const fleet = Array.from({ length: 10_000 }, (_, i) => device(certificate(rig.tenantA, rig.rootA, `meter-${i}`, i % 2 ? 'active' : 'inactive')));
    const started = performance.now();
    await adapter.letBackIn(fleet);
    const ms = performance.now() - started;
    assert.deepEqual(rig.steps, []);
    assert.equal(rig.crls.reads, 0);
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
    await adapter.close();
  });

  test('a CRL that still lists the serial: the client is not enabled and the call throws; the others of the batch are let in', async () => {
    const rig = new Rig();
    const stuck = certificate(rig.tenantA, rig.rootA, 'meter-1', 'active');
    const fine = certificate(rig.tenantA, 'a-tenant-held-ca', 'sensor-2', 'active');
    rig.listInA(stuck.serialNumber);
    rig.control.disabled.add('meter-1');
    rig.control.disabled.add('sensor-2');
    const adapter = await rig.started();
    await assert.rejects(adapter.letBackIn([device(stuck), device(fine)]), (error: unknown) => error instanceof CrlBehindStateError && error.wanted === 'not listed');
    assert.equal(rig.crls.reads, 3);
    assert.deepEqual(rig.steps, ['release sensor-2']);
    assert.ok(adapter.disabledClients.has('meter-1'));
    await adapter.close();
  });

  test('a device holding a suspended and an active certificate keeps the suspended one listed when let in', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const old = certificate(rig.tenantA, rig.rootA, 'meter-1', 'revoked');
    const renewed = certificate(rig.tenantA, rig.rootA, 'meter-1', 'active');
    rig.listInA(old.serialNumber);
    await adapter.refresh();
    rig.steps.length = 0;
    await adapter.letBackIn([device(old, renewed)]);
    assert.deepEqual(rig.steps, [], 'the renewed certificate is not listed, the old one stays listed: nothing to do');
    await adapter.close();
  });

  test('a let-in never takes the CRL request in flight (it may predate a suspension still to come); a keep-out does when it agrees', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    const other = certificate(rig.tenantA, rig.rootA, 'meter-2', 'suspended');
    rig.listInA(meter.serialNumber, other.serialNumber);
    await adapter.shutOut([device(meter)]);
    rig.steps.length = 0;
    rig.crls.reads = 0;
    // A refresh's request is in flight, answering a CRL that still lists meter-1.
    let release!: () => void;
    rig.crls.hold = new Promise((resolve) => (release = resolve));
    const refresh = adapter.refresh();
    await settle();
    const letIn = adapter.letBackIn([device(withState(meter, 'active'))]);
    const keepOut = adapter.shutOut([device(other)]);
    await settle();
    rig.listInA(other.serialNumber); // ccm's state moves on: meter-1 reactivated
    rig.crls.hold = null;
    release();
    await Promise.all([refresh, letIn, keepOut]);
    assert.equal(rig.crls.reads, 3, 'the refresh\'s two (one per tenant), which the keep-out shared, then one of tenant A that started after the let-in');
    assert.equal(adapter.disabledClients.has('meter-1'), false);
    assert.ok(rig.steps.includes('kick meter-2'));
    assert.ok(rig.steps.includes('release meter-1'));
    assert.ok(!rig.crlFile.content!.includes(meter.serialNumber));
    await adapter.close();
  });
});

describe('MosquittoAdapter: writes, reloads and overlapping calls', () => {
  test('calls that overlap share CRL requests and coalesce into one crlfile write', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meters = Array.from({ length: 6 }, (_, i) => certificate(rig.tenantA, rig.rootA, `meter-${i}`, 'suspended'));
    const back = certificate(rig.tenantA, rig.rootA, 'meter-back', 'active');
    rig.control.disabled.add('meter-back');
    rig.listInA(...meters.map((m) => m.serialNumber));
    let release!: () => void;
    rig.crls.hold = new Promise((resolve) => (release = resolve));
    const calls = [adapter.shutOut(meters.slice(0, 3).map((m) => device(m))), adapter.endForGood(meters.slice(3).map((m) => device(withState(m, 'revoked')))), adapter.letBackIn([device(back)])];
    await settle();
    rig.crls.hold = null;
    release();
    await Promise.all(calls);
    assert.ok(rig.crls.reads <= 3, `${rig.crls.reads} CRL reads (the shared ones, and one asked ahead)`);
    assert.equal(rig.steps.filter((step) => step === 'write').length, 1);
    assert.equal(rig.steps.filter((step) => step === 'reload').length, 1);
    await adapter.close();
  });

  test('a reload is signalled only once the broker is done with the previous one (Mosquitto drops a SIGHUP during a reload)', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const one = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    const two = certificate(rig.tenantA, rig.rootA, 'meter-2', 'suspended');
    let finishReload!: () => void;
    rig.recorder.settling = new Promise((resolve) => (finishReload = resolve));
    rig.listInA(one.serialNumber);
    await adapter.shutOut([device(one)]);
    rig.listInA(one.serialNumber, two.serialNumber);
    const second = adapter.shutOut([device(two)]);
    await settle();
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1', 'write'], 'written, but not signalled while the first reload runs');
    finishReload();
    await second;
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1', 'write', 'reload', 'kick meter-2']);
    await adapter.close();
  });

  test('a broker that never says it is done holds the next reload back 1 s at most', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const one = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    const two = certificate(rig.tenantA, rig.rootA, 'meter-2', 'suspended');
    rig.recorder.settling = new Promise(() => undefined);
    rig.listInA(one.serialNumber);
    await adapter.shutOut([device(one)]);
    rig.listInA(one.serialNumber, two.serialNumber);
    const second = adapter.shutOut([device(two)]);
    await settle();
    assert.equal(rig.steps.filter((step) => step === 'reload').length, 1);
    await rig.clock.advance(1000);
    await second;
    assert.equal(rig.steps.filter((step) => step === 'reload').length, 2);
    await adapter.close();
  });

  test('installs never interleave: overlapping calls and a refresh write whole bundles one after another', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meters = Array.from({ length: 5 }, (_, i) => certificate(i % 2 ? rig.tenantB : rig.tenantA, i % 2 ? rig.rootB : rig.rootA, `meter-${i}`, 'suspended'));
    rig.listInA(...meters.filter((m) => m.tenantId === rig.tenantA).map((m) => m.serialNumber));
    rig.crls.current.set(rig.tenantB, crl(rig.tenantB, meters.filter((m) => m.tenantId === rig.tenantB).map((m) => m.serialNumber)));
    await Promise.all([...meters.map((m) => adapter.shutOut([device(m)])), adapter.refresh()]);
    for (const written of rig.crlFile.writes) {
      const blocks = written.match(/-----CRL [^\n]+\n/g)!;
      assert.equal(blocks.length, 2, 'every write holds one CRL per tenant');
      assert.equal(blocks.join(''), written);
    }
    for (const m of meters) assert.match(rig.crlFile.content!, new RegExp(m.serialNumber));
    await adapter.close();
  });

  test('refresh runs on its timer, installs what changed, and keeps a tenant\'s CRL it cannot fetch (an error once it nears expiry)', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const keptB = adapter.installedCrls.get(rig.tenantB);
    rig.listInA('abc');
    rig.crls.failing.add(rig.tenantB);
    await rig.clock.advance(HOUR);
    await settle();
    assert.deepEqual(rig.steps, ['write', 'reload']);
    assert.equal(adapter.installedCrls.get(rig.tenantB), keptB);
    assert.ok(rig.log.messages('warn').some((message) => /keeping the installed CRL/.test(message)));
    rig.clock.current = keptB!.nextUpdate.getTime() - 20 * 60_000;
    await adapter.refresh();
    assert.ok(rig.log.messages('error').some((message) => /expires soon/.test(message)));
    await adapter.close();
  });

  test('close cancels pending re-kicks and the refresh; nothing is done after it', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const meter = certificate(rig.tenantA, rig.rootA, 'meter-1', 'suspended');
    rig.listInA(meter.serialNumber);
    await adapter.shutOut([device(meter)]);
    await adapter.close();
    await rig.clock.advance(2 * HOUR);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-1']);
    await assert.rejects(adapter.shutOut([device(meter)]), AdapterNotRunningError);
    await assert.rejects(adapter.start(), AdapterNotRunningError);
  });

  test('a second adapter over the same crlfile and plugin, given the same devices, changes nothing (an agent restarted with nothing changed)', async () => {
    const rig = new Rig();
    const first = await rig.started();
    const out = certificate(rig.tenantA, rig.rootA, 'meter-out', 'suspended');
    const ended = certificate(rig.tenantA, rig.rootA, 'meter-ended', 'revoked');
    const held = certificate(rig.tenantA, 'a-tenant-held-ca', 'sensor-out', 'suspended');
    const fleet = Array.from({ length: 50 }, (_, i) => device(certificate(rig.tenantA, rig.rootA, `meter-${i}`, 'active')));
    rig.listInA(out.serialNumber, ended.serialNumber);
    await first.shutOut([device(out), device(held)]);
    await first.endForGood([device(ended)]);
    await first.letBackIn(fleet);
    await first.close();
    rig.steps.length = 0;
    rig.crls.reads = 0;

    const second = rig.adapter();
    await second.start();
    await second.shutOut([device(out), device(held)]);
    await second.endForGood([device(ended)]);
    await second.letBackIn(fleet);
    assert.deepEqual(rig.steps, []);
    assert.equal(rig.crls.reads, 2, 'only the start-up reads, one per tenant');
    await second.close();
  });
});

describe('MosquittoAdapter: tenant root rollover', () => {
  /** Tenant A's CRLs in ccm after a rollover: the new root's and the retiring one's, as one set. */
  function rolledOver(rig: Rig, newRoot: string, oldSerials: string[] = [], newSerials: string[] = []) {
    const old = crl(rig.tenantA, oldSerials).parts[0]!;
    const fresh = crl(rig.tenantA, newSerials, { authorityId: newRoot }).parts[0]!;
    const set = tenantCrlOf(rig.tenantA, [fresh, old]);
    rig.crls.current.set(rig.tenantA, set);
    return set;
  }

  test('trustChanged installs the CRL of every root in force and reloads, so Mosquitto takes the new root\'s certificates', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const newRoot = randomUUID();
    const set = rolledOver(rig, newRoot);
    await adapter.trustChanged(rig.tenantA);
    assert.deepEqual(rig.steps, ['write', 'reload']);
    assert.equal(rig.crlFile.content, `${set.pem}${rig.crls.current.get(rig.tenantB)!.pem}`);
    assert.deepEqual([...adapter.installedCrls.get(rig.tenantA)!.authorityIds].sort(), [newRoot, rig.rootA].sort());
    // Another tenant's rollover is not this agent's.
    rig.steps.length = 0;
    await adapter.trustChanged(randomUUID());
    assert.deepEqual(rig.steps, []);
    await adapter.close();
  });

  test('before trustChanged a certificate of the new root is kicked without waiting for a CRL (Mosquitto has none for it and refuses it); after, its serial must be listed', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const newRoot = randomUUID();
    const meter = certificate(rig.tenantA, newRoot, 'meter-new', 'suspended');
    rolledOver(rig, newRoot, [], [meter.serialNumber]);
    await adapter.shutOut([device(meter)]);
    assert.deepEqual(rig.steps, ['kick meter-new']);
    assert.equal(rig.crls.reads, 0);

    await adapter.trustChanged(rig.tenantA);
    const other = certificate(rig.tenantA, newRoot, 'meter-new-2', 'suspended');
    rolledOver(rig, newRoot, [], [meter.serialNumber, other.serialNumber]);
    rig.steps.length = 0;
    await adapter.shutOut([device(other)]);
    assert.deepEqual(rig.steps, ['write', 'reload', 'kick meter-new-2']);
    assert.match(rig.crlFile.content!, new RegExp(other.serialNumber));
    await adapter.close();
  });

  test('a root that leaves the set (retired) leaves the crlfile; a set missing a root is not taken for an older one', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    const newRoot = randomUUID();
    const both = rolledOver(rig, newRoot);
    await adapter.trustChanged(rig.tenantA);
    const onlyNew = tenantCrlOf(rig.tenantA, [crl(rig.tenantA, [], { authorityId: newRoot }).parts[0]!]);
    assert.equal(isOlderThan(onlyNew, both), false);
    rig.crls.current.set(rig.tenantA, onlyNew);
    await adapter.trustChanged(rig.tenantA);
    assert.equal(rig.crlFile.content, `${onlyNew.pem}${rig.crls.current.get(rig.tenantB)!.pem}`);
    assert.ok(!rig.crlFile.content!.includes(both.parts[1]!.pem));
    // A set in which one root's CRL went backwards is older, whatever the other's.
    const backwards = tenantCrlOf(rig.tenantA, [crl(rig.tenantA, [], { authorityId: newRoot, number: 1 }).parts[0]!]);
    assert.equal(isOlderThan(backwards, onlyNew), true);
    await adapter.close();
  });

  test('trustChanged fails when ccm cannot be reached (the core retries the event), installing nothing', async () => {
    const rig = new Rig();
    const adapter = await rig.started();
    rig.crls.failing.add(rig.tenantA);
    await assert.rejects(adapter.trustChanged(rig.tenantA), /ccm unreachable/);
    assert.deepEqual(rig.steps, []);
    await adapter.close();
  });
});
