/**
 * The Mosquitto adapter's own adapters, on real files and real CRLs from a
 * throwaway CA: the CRL check (signature, issuer, one PEM block, dates,
 * order; what it reads held against @peculiar/x509's parse), the atomic
 * crlfile writer and its reload note, and the SIGHUP reloader.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AtomicCrlFile } from '../src/crl-file.js';
import { CrlRejectedError, crlLists, isOlderThan, normaliseSerial, verifiedTenantCrl } from '../src/crl.js';
import { SighupReloader } from '../src/process-signaller.js';
import { ThrowawayCa } from './throwaway-ca.js';
import { X509Crl } from './x509-reference.js';

const TENANT = '0b7c2d1e-4f5a-4b6c-8d9e-0f1a2b3c4d5e';
const ROOT_ID = '0b7c2d1e-4f5a-4b6c-8d9e-00000000a001';

describe('CRL checks', () => {
  let pki: ThrowawayCa;
  let impostor: ThrowawayCa;
  let caPem: string;

  before(async () => {
    pki = await ThrowawayCa.create();
    impostor = await ThrowawayCa.create(); // same subject name, another key
    caPem = pki.pem;
  });

  test('a CRL of the tenant CA is read: serials normalised, dates, CRL number', async () => {
    const thisUpdate = new Date('2026-01-01T00:00:00Z');
    const pem = await pki.crl({ entries: [{ serialNumber: '00a1b2', reason: 6 }, { serialNumber: '7f', reason: 1 }], thisUpdate, nextUpdate: new Date('2026-01-02T00:00:00Z'), crlNumber: 300 });
    const crl = verifiedTenantCrl(TENANT, pem, caPem, ROOT_ID);
    assert.deepEqual([...crl.revokedSerials].sort(), ['7f', 'a1b2']);
    assert.ok(crlLists(crl, 'A1B2') && crlLists(crl, '0x7F') && !crlLists(crl, 'a1b3'));
    assert.equal(crl.thisUpdate.toISOString(), thisUpdate.toISOString());
    assert.equal(crl.nextUpdate.toISOString(), '2026-01-02T00:00:00.000Z');
    assert.equal(crl.crlNumber, 300n);
    assert.match(crl.pem, /^-----BEGIN X509 CRL-----\n[\s\S]+-----END X509 CRL-----\n$/);
  });

  test('a CRL signed by another key under the same CA name is refused', async () => {
    const forged = await impostor.crl();
    assert.throws(() => verifiedTenantCrl(TENANT, forged, caPem, ROOT_ID), (error: unknown) => error instanceof CrlRejectedError && /signature does not verify/.test(error.message));
  });

  test('a CRL of another CA is refused by issuer name', async () => {
    const stranger = await ThrowawayCa.create('someone else');
    const foreign = await stranger.crl();
    assert.throws(() => verifiedTenantCrl(TENANT, foreign, caPem, ROOT_ID), /issued by "CN=someone else"/);
  });

  test('anything but exactly one "X509 CRL" PEM block is refused (OpenSSL reads no other label)', async () => {
    const pem = await pki.crl();
    assert.throws(() => verifiedTenantCrl(TENANT, pem.replace(/X509 CRL/g, 'CRL'), caPem, ROOT_ID), /found 0/);
    assert.throws(() => verifiedTenantCrl(TENANT, pem + pem, caPem, ROOT_ID), /found 2/);
    assert.throws(() => verifiedTenantCrl(TENANT, '<html>502 Bad Gateway</html>', caPem, ROOT_ID), /found 0/);
    assert.throws(() => verifiedTenantCrl(TENANT, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', caPem, ROOT_ID), /unparseable/);
  });

  test('CRL order: by CRL number when both have one', async () => {
    const older = verifiedTenantCrl(TENANT, await pki.crl({ crlNumber: 9, thisUpdate: new Date('2026-01-01T00:00:05Z') }), caPem, ROOT_ID);
    const newer = verifiedTenantCrl(TENANT, await pki.crl({ crlNumber: 10, thisUpdate: new Date('2026-01-01T00:00:05Z') }), caPem, ROOT_ID);
    assert.equal(isOlderThan(older, newer), true);
    assert.equal(isOlderThan(newer, older), false);
    assert.equal(isOlderThan(newer, newer), false);
  });

  test('it reads what @peculiar/x509 reads: serials, dates, CRL number', async () => {
    const entries = Array.from({ length: 500 }, (_, i) => ({ serialNumber: (0x10_0000 + i * 7919).toString(16).padStart(i % 3 === 0 ? 8 : 6, '0'), reason: i % 2 === 0 ? 6 : 1 }));
    for (const pem of [await pki.crl(), await pki.crl({ entries: entries.slice(0, 2), crlNumber: 70000 }), await pki.crl({ entries, thisUpdate: new Date('2049-12-31T23:59:00Z'), nextUpdate: new Date('2050-01-02T00:00:00Z') })]) {
      const crl = verifiedTenantCrl(TENANT, pem, caPem, ROOT_ID);
      const reference = new X509Crl(pem);
      assert.deepEqual([...crl.revokedSerials].sort(), reference.entries.map((entry) => normaliseSerial(entry.serialNumber)).sort());
      assert.equal(crl.thisUpdate.toISOString(), reference.thisUpdate.toISOString());
      assert.equal(crl.nextUpdate.toISOString(), reference.nextUpdate!.toISOString());
      assert.equal(crl.crlNumber, BigInt(`0x${Buffer.from(reference.getExtension('2.5.29.20')!.value).toString('hex').slice(4)}`));
      assert.equal(crl.issuer, 'CN=throwaway tenant CA');
    }
  });

  test('a CRL too large for @peculiar/x509 (asn1js stops at 10,000 nodes, ~1,000 entries) is read', async () => {
    const entries = Array.from({ length: 2000 }, (_, i) => ({ serialNumber: (0x1000_0000 + i).toString(16), reason: 6 }));
    const pem = await pki.crl({ entries });
    assert.throws(() => new X509Crl(pem), /node count/);
    const crl = verifiedTenantCrl(TENANT, pem, caPem, ROOT_ID);
    assert.equal(crl.revokedSerials.size, 2000);
    assert.ok(crlLists(crl, '10000000') && crlLists(crl, (0x1000_0000 + 1999).toString(16)));
  });

  test('a tampered, truncated or foreign CRL is refused, saying why', async () => {
    const stranger = await ThrowawayCa.create('someone else');
    const good = await pki.crl({ entries: [{ serialNumber: '0a' }] });
    const der = Buffer.from(good.replace(/-----[A-Z0-9 ]+-----/g, ''), 'base64');
    const flipped = Buffer.from(der);
    flipped[flipped.indexOf(Buffer.from([0x02, 0x01, 0x0a])) + 2] = 0x0b; // the listed serial, inside the signed part
    const rewrap = (bytes: Buffer): string => `-----BEGIN X509 CRL-----\n${bytes.toString('base64')}\n-----END X509 CRL-----\n`;
    const cases: Array<[string, RegExp]> = [
      [await impostor.crl(), /signature does not verify/],
      [await stranger.crl(), /issued by "CN=someone else", not by the tenant CA "CN=throwaway tenant CA"/],
      [rewrap(flipped), /signature does not verify/],
      [rewrap(der.subarray(0, der.length - 3)), /unparseable/],
      [rewrap(Buffer.concat([der, Buffer.from([0x05, 0x00])])), /unparseable/],
      ['-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', /unparseable/],
    ];
    for (const [pem, reason] of cases) assert.throws(() => verifiedTenantCrl(TENANT, pem, caPem, ROOT_ID), (error: unknown) => error instanceof CrlRejectedError && reason.test(error.message));
    assert.throws(() => verifiedTenantCrl(TENANT, good, 'not a certificate', ROOT_ID), /the CA certificate is unparseable/);
  });

  test('a CRL without nextUpdate, or with one not after thisUpdate, is refused', async () => {
    const thisUpdate = new Date('2026-01-01T00:00:00Z');
    const withoutNextUpdate = await pki.crl({ thisUpdate, nextUpdate: null });
    assert.throws(() => verifiedTenantCrl(TENANT, withoutNextUpdate, caPem, ROOT_ID), /no nextUpdate/);
    const backwards = await pki.crl({ thisUpdate, nextUpdate: thisUpdate });
    assert.throws(() => verifiedTenantCrl(TENANT, backwards, caPem, ROOT_ID), /not after its thisUpdate/);
  });

  test('serials are compared as ccm prints them: lower case, no leading zeros', () => {
    assert.equal(normaliseSerial('00:0A:FF'), 'aff');
    assert.equal(normaliseSerial('0000'), '0');
  });
});

describe('AtomicCrlFile', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'ccm-crlfile-'));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  test('replaces the file whole, mode 0644 whatever the umask, leaving no temporary file', async () => {
    const path = join(directory, 'crl.pem');
    await writeFile(path, 'old\n', { mode: 0o600 });
    const previous = process.umask(0o077);
    try {
      await new AtomicCrlFile(path).install('new bundle\n');
    } finally {
      process.umask(previous);
    }
    assert.equal(await readFile(path, 'utf8'), 'new bundle\n');
    assert.equal((await stat(path)).mode & 0o777, 0o644);
    assert.deepEqual(await readdir(directory), ['crl.pem']);
  });

  test('a failed write leaves the old file in place', async () => {
    const missingDirectory = join(directory, 'nope', 'crl.pem');
    await assert.rejects(new AtomicCrlFile(missingDirectory).install('x'));
    assert.deepEqual(await readdir(directory), ['crl.pem']);
  });

  test('reads the file back (null when there is none), and keeps the reload note beside it', async () => {
    const file = new AtomicCrlFile(join(directory, 'crl.pem'));
    assert.equal(await file.read(), 'new bundle\n');
    assert.equal(await new AtomicCrlFile(join(directory, 'absent.pem')).read(), null);
    assert.equal(await file.lastReload(), null);
    await file.recordReload({ sha256: 'ab'.repeat(32), pid: 4242 });
    assert.deepEqual(await file.lastReload(), { sha256: 'ab'.repeat(32), pid: 4242 });
    assert.equal(file.recordPath, join(directory, '.crl.pem.reloaded'));
    await writeFile(file.recordPath, 'damaged');
    assert.equal(await file.lastReload(), null, 'a damaged note counts as none (the agent then reloads once)');
    await rm(file.recordPath);
  });
});

describe('SighupReloader', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'ccm-pid-'));
  });
  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  test('reads the pid file at every reload (a restarted broker is found) and sends SIGHUP', async () => {
    const pidFile = join(directory, 'mosquitto.pid');
    const sent: Array<[number, string | number]> = [];
    const reloader = new SighupReloader({ kind: 'file', path: pidFile }, (pid, signal) => void sent.push([pid, signal]));
    await writeFile(pidFile, '4242\n');
    assert.equal(await reloader.reload(), 4242);
    await writeFile(pidFile, '5353\n');
    assert.equal(await reloader.reload(), 5353);
    assert.deepEqual(sent, [
      [4242, 'SIGHUP'],
      [5353, 'SIGHUP'],
    ]);
  });

  test('no pid file or no such process: null (the broker reads the crlfile when it starts)', async () => {
    const absent = new SighupReloader({ kind: 'file', path: join(directory, 'absent.pid') }, () => assert.fail('no signal without a pid'));
    assert.equal(await absent.reload(), null);
    assert.equal(await absent.runningPid(), null);
    const gone = Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
    const dead = new SighupReloader({ kind: 'pid', pid: 99999 }, () => {
      throw gone;
    });
    assert.equal(await dead.reload(), null);
    assert.equal(await dead.runningPid(), null);
  });

  test('runningPid asks with signal 0, which sends nothing', async () => {
    const sent: Array<[number, string | number]> = [];
    const reloader = new SighupReloader({ kind: 'pid', pid: 4242 }, (pid, signal) => void sent.push([pid, signal]));
    assert.equal(await reloader.runningPid(), 4242);
    assert.deepEqual(sent, [[4242, 0]]);
    assert.equal(await new SighupReloader({ kind: 'pid', pid: process.pid }).runningPid(), process.pid, 'a real process is found');
  });

  test('a pid file holding something else is an error, not a signal to a wrong process', async () => {
    const pidFile = join(directory, 'garbage.pid');
    await writeFile(pidFile, 'mosquitto\n');
    await assert.rejects(new SighupReloader({ kind: 'file', path: pidFile }, () => assert.fail('must not signal')).reload(), /does not hold a pid/);
  });
});
