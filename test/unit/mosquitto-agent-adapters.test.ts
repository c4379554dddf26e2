/**
 * The Mosquitto agent's small parts that need no broker: CRL checking (what
 * may ever reach the crlfile), the atomic crlfile writer, the SIGHUP
 * reloader's pid handling, and the JSON log.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AtomicCrlFile } from '../../src/mosquitto-agent/crl-file.js';
import { CrlRejectedError, crlLists, isOlderThan, normaliseSerial, quicklyVerifiedTenantCrl, thoroughlyVerifiedTenantCrl, verifiedTenantCrl } from '../../src/mosquitto-agent/crl.js';
import { JsonLineLog } from '../../src/mosquitto-agent/json-log.js';
import { SighupReloader } from '../../src/mosquitto-agent/process-signaller.js';
import { ThrowawayPki } from '../support/mosquitto.js';

const TENANT = '0b7c2d1e-4f5a-4b6c-8d9e-0f1a2b3c4d5e';

describe('CRL checks', () => {
  let pki: ThrowawayPki;
  let impostor: ThrowawayPki;
  let caPem: string;

  before(async () => {
    pki = await ThrowawayPki.create();
    impostor = await ThrowawayPki.create(); // same subject name, another key
    caPem = pki.tenantCa.toString('pem');
  });

  test('a CRL of the tenant CA is read: serials normalised, dates, CRL number', async () => {
    const thisUpdate = new Date('2026-01-01T00:00:00Z');
    const pem = await pki.crl({ entries: [{ serialNumber: '00a1b2', reason: 6 }, { serialNumber: '7f', reason: 1 }], thisUpdate, nextUpdate: new Date('2026-01-02T00:00:00Z'), crlNumber: 300 });
    const crl = await verifiedTenantCrl(TENANT, pem, caPem);
    assert.deepEqual([...crl.revokedSerials].sort(), ['7f', 'a1b2']);
    assert.ok(crlLists(crl, 'A1B2') && crlLists(crl, '0x7F') && !crlLists(crl, 'a1b3'));
    assert.equal(crl.thisUpdate.toISOString(), thisUpdate.toISOString());
    assert.equal(crl.nextUpdate.toISOString(), '2026-01-02T00:00:00.000Z');
    assert.equal(crl.crlNumber, 300n);
    assert.match(crl.pem, /^-----BEGIN X509 CRL-----\n[\s\S]+-----END X509 CRL-----\n$/);
  });

  test('a CRL signed by another key under the same CA name is refused', async () => {
    await assert.rejects(verifiedTenantCrl(TENANT, await impostor.crl(), caPem), (error: unknown) => error instanceof CrlRejectedError && /signature does not verify/.test(error.message));
  });

  test('a CRL of another CA is refused by issuer name', async () => {
    const stranger = await ThrowawayPki.create('someone else');
    await assert.rejects(verifiedTenantCrl(TENANT, await stranger.crl(), caPem), /issued by "CN=someone else"/);
  });

  test('anything but exactly one "X509 CRL" PEM block is refused (OpenSSL reads no other label)', async () => {
    const pem = await pki.crl();
    await assert.rejects(verifiedTenantCrl(TENANT, pem.replace(/X509 CRL/g, 'CRL'), caPem), /found 0/);
    await assert.rejects(verifiedTenantCrl(TENANT, pem + pem, caPem), /found 2/);
    await assert.rejects(verifiedTenantCrl(TENANT, '<html>502 Bad Gateway</html>', caPem), /found 0/);
    await assert.rejects(verifiedTenantCrl(TENANT, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', caPem), /unparseable/);
  });

  test('CRL order: by CRL number when both have one', async () => {
    const older = await verifiedTenantCrl(TENANT, await pki.crl({ crlNumber: 9, thisUpdate: new Date('2026-01-01T00:00:05Z') }), caPem);
    const newer = await verifiedTenantCrl(TENANT, await pki.crl({ crlNumber: 10, thisUpdate: new Date('2026-01-01T00:00:05Z') }), caPem);
    assert.equal(isOlderThan(older, newer), true);
    assert.equal(isOlderThan(newer, older), false);
    assert.equal(isOlderThan(newer, newer), false);
  });

  test('the quick check reads what the thorough one reads', async () => {
    const entries = Array.from({ length: 500 }, (_, i) => ({ serialNumber: (0x10_0000 + i * 7919).toString(16).padStart(i % 3 === 0 ? 8 : 6, '0'), reason: i % 2 === 0 ? 6 : 1 }));
    for (const pem of [await pki.crl(), await pki.crl({ entries: entries.slice(0, 2), crlNumber: 70000 }), await pki.crl({ entries, thisUpdate: new Date('2049-12-31T23:59:00Z'), nextUpdate: new Date('2050-01-02T00:00:00Z') })]) {
      const block = pem.trim();
      const quick = quicklyVerifiedTenantCrl(TENANT, block, caPem);
      assert.ok(quick, 'vouched for');
      assert.deepEqual(quick, await thoroughlyVerifiedTenantCrl(TENANT, block, caPem));
    }
  });

  test('a CRL too large for the thorough parser (asn1js stops at 10,000 nodes, ~1,000 entries) is read', async () => {
    const entries = Array.from({ length: 2000 }, (_, i) => ({ serialNumber: (0x1000_0000 + i).toString(16), reason: 6 }));
    const pem = await pki.crl({ entries });
    await assert.rejects(thoroughlyVerifiedTenantCrl(TENANT, pem.trim(), caPem), /node count/);
    const crl = await verifiedTenantCrl(TENANT, pem, caPem);
    assert.equal(crl.revokedSerials.size, 2000);
    assert.ok(crlLists(crl, '10000000') && crlLists(crl, (0x1000_0000 + 1999).toString(16)));
  });

  test('the quick check vouches for no CRL the thorough one refuses', async () => {
    const stranger = await ThrowawayPki.create('someone else');
    const good = (await pki.crl({ entries: [{ serialNumber: '0a' }] })).trim();
    const der = Buffer.from(good.replace(/-----[A-Z0-9 ]+-----/g, ''), 'base64');
    const flipped = Buffer.from(der);
    flipped[flipped.indexOf(Buffer.from([0x02, 0x01, 0x0a])) + 2] = 0x0b; // the listed serial, inside the signed part
    const rewrap = (bytes: Buffer): string => `-----BEGIN X509 CRL-----\n${bytes.toString('base64')}\n-----END X509 CRL-----`;
    for (const block of [(await impostor.crl()).trim(), (await stranger.crl()).trim(), rewrap(flipped), rewrap(der.subarray(0, der.length - 3)), '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----']) {
      assert.equal(quicklyVerifiedTenantCrl(TENANT, block, caPem), null);
      await assert.rejects(thoroughlyVerifiedTenantCrl(TENANT, block, caPem), CrlRejectedError);
    }
    assert.equal(quicklyVerifiedTenantCrl(TENANT, good, 'not a certificate'), null);
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
    const sent: Array<[number, string]> = [];
    const reloader = new SighupReloader({ kind: 'file', path: pidFile }, (pid, signal) => void sent.push([pid, signal]));
    await writeFile(pidFile, '4242\n');
    assert.equal(await reloader.reload(), true);
    await writeFile(pidFile, '5353\n');
    assert.equal(await reloader.reload(), true);
    assert.deepEqual(sent, [
      [4242, 'SIGHUP'],
      [5353, 'SIGHUP'],
    ]);
  });

  test('no pid file or no such process: false (the broker reads the crlfile when it starts)', async () => {
    assert.equal(await new SighupReloader({ kind: 'file', path: join(directory, 'absent.pid') }, () => assert.fail('no signal without a pid')).reload(), false);
    const gone = Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
    assert.equal(
      await new SighupReloader({ kind: 'pid', pid: 99999 }, () => {
        throw gone;
      }).reload(),
      false,
    );
  });

  test('a pid file holding something else is an error, not a signal to a wrong process', async () => {
    const pidFile = join(directory, 'garbage.pid');
    await writeFile(pidFile, 'mosquitto\n');
    await assert.rejects(new SighupReloader({ kind: 'file', path: pidFile }, () => assert.fail('must not signal')).reload(), /does not hold a pid/);
  });
});

test('JsonLineLog writes one JSON object per line and honours the level', () => {
  const lines: string[] = [];
  const log = new JsonLineLog('info', (line) => void lines.push(line));
  log.debug('hidden');
  log.info('device kicked', { username: 'sensor-1', eventLagMs: 12 });
  assert.equal(lines.length, 1);
  const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(parsed['level'], 'info');
  assert.equal(parsed['msg'], 'device kicked');
  assert.equal(parsed['username'], 'sensor-1');
  assert.ok(lines[0]!.endsWith('\n'));
});
