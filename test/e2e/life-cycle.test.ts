/**
 * The certificate life cycle over HTTP on SQLite and on PostgreSQL with
 * Vault custody: transitions and their events, racing transitions, tenant CA
 * revocation, the authentication endpoint with each refusal, and the CRL as
 * openssl judges it. Every event read back is checked against the published
 * JSON Schema.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { FixedClock } from '../../src/shared/clock.js';
import { TestInstallation, backendName, type Backend, type CcmUnderTest } from '../support/ccm-under-test.js';
import { readWholeFeed } from '../support/event-feed.js';
import { assertValidEvent } from '../support/event-schema.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';
const SUITE_BACKENDS: readonly Backend[] = [
  { database: 'sqlite', custody: 'local' },
  { database: 'postgres', custody: 'vault' },
];

interface FeedEvent {
  position: string;
  id: string;
  type: string;
  certificateId: string | null;
  tenantId: string;
  state: string;
  reason: string | null;
  revokedCertificates?: number;
}

interface Issued {
  id: string;
  serialNumber: string;
  certificatePem: string;
  chainPem: string;
  privateKeyPem: string;
}

for (const backend of SUITE_BACKENDS) {
  describe(`certificate life cycle on ${backendName(backend)}`, () => {
    let installation: TestInstallation;
    let ccm: CcmUnderTest;
    let scratch: Scratch;
    const clock = new FixedClock(new Date());
    let tenant: { id: string; chainPem: string };

    before(async () => {
      installation = await TestInstallation.create(backend);
      ccm = await installation.start({ clock });
      scratch = await Scratch.create();
      tenant = await createTenant(ccm, `life-${Date.now()}`);
    });

    after(async () => {
      await ccm?.close();
      await installation?.destroy();
      await scratch?.cleanup();
    });

    const issue = async (tenantId: string, commonName: string): Promise<Issued> =>
      (await ccm.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName, ttlSeconds: 3600 }).expect(201)).body;
    const act = (tenantId: string, id: string, action: 'suspend' | 'reactivate' | 'revoke' | 'renew', body: object = {}) =>
      ccm.api().post(`/v1/tenants/${tenantId}/certificates/${id}/${action}`).send(body);
    const authenticate = (body: object) => ccm.api().post('/v1/authentications').send(body);

    test('suspend, reactivate and revoke move the state and write one event each; illegal moves are 409 and write none', async () => {
      const certificate = await issue(tenant.id, 'walk');
      const before = await feed(ccm);
      assert.equal((await act(tenant.id, certificate.id, 'suspend').expect(200)).body.state, 'suspended');
      const reactivated = (await act(tenant.id, certificate.id, 'reactivate').expect(200)).body;
      assert.equal(reactivated.state, 'inactive', 'never used, so back to inactive');
      assert.equal(reactivated.suspendedAt, null);
      const revoked = (await act(tenant.id, certificate.id, 'revoke', { reason: 'keyCompromise' }).expect(200)).body;
      assert.equal(revoked.state, 'revoked');
      assert.equal(revoked.revocationReason, 'keyCompromise');

      for (const [action, body] of [['revoke', {}], ['suspend', {}], ['reactivate', {}]] as const) {
        const res = await act(tenant.id, certificate.id, action, body).expect(409);
        assert.equal(res.body.type, `${PROBLEM}illegal-transition`);
        assert.equal(res.body.state, 'revoked');
      }
      const events = (await feed(ccm)).slice(before.length);
      assert.deepEqual(
        events.map((e) => [e.type, e.state, e.reason]),
        [
          ['certificate.suspended', 'suspended', 'certificateHold'],
          ['certificate.reactivated', 'inactive', null],
          ['certificate.revoked', 'revoked', 'keyCompromise'],
        ],
      );
      assert.ok(events.every((e) => e.certificateId === certificate.id));
    });

    test('bad requests change nothing: unknown or foreign ids are 404, bad reasons 400', async () => {
      const other = await createTenant(ccm, `other-${Date.now()}`);
      const certificate = await issue(tenant.id, 'guarded');
      const before = (await feed(ccm)).length;
      assert.equal((await act(other.id, certificate.id, 'suspend').expect(404)).body.type, `${PROBLEM}not-found`);
      await act(tenant.id, '01a20000-0000-7000-8000-000000000000', 'suspend').expect(404);
      await act(tenant.id, 'not-an-id', 'revoke').expect(404);
      for (const reason of ['certificateHold', 'removeFromCRL', 'because', 6]) {
        assert.equal((await act(tenant.id, certificate.id, 'revoke', { reason }).expect(400)).body.type, `${PROBLEM}invalid-request`);
      }
      assert.equal((await act(tenant.id, certificate.id, 'revoke', { reason: 'superseded', extra: 1 }).expect(400)).body.type, `${PROBLEM}invalid-request`);
      assert.equal((await feed(ccm)).length, before, 'no event was written');
      const after = (await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${certificate.id}`).expect(200)).body;
      assert.equal(after.state, 'inactive');
    });

    test('hundreds of racing transitions: every winner wrote exactly one event and the events replay to the stored state', async () => {
      const certificates = await Promise.all(Array.from({ length: 12 }, (_, i) => issue(tenant.id, `race-${i}`)));
      const before = await feed(ccm);
      const actions = ['suspend', 'reactivate', 'revoke'] as const;
      let seed = 7;
      const random = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const attempts = Array.from({ length: 360 }, () => {
        const certificate = certificates[random(certificates.length)]!;
        // Mostly suspend/reactivate, which can go on for ever; a rare revoke ends a certificate's run.
        const roll = random(100);
        const action = actions[roll < 48 ? 0 : roll < 97 ? 1 : 2]!;
        return { certificate, action };
      });
      const results = await Promise.all(attempts.map(({ certificate, action }) => act(tenant.id, certificate.id, action, action === 'revoke' ? { reason: 'superseded' } : {})));
      const statuses = results.map((r) => r.status);
      assert.ok(statuses.every((s) => s === 200 || s === 409), `only 200 or 409: ${[...new Set(statuses)].join(',')}`);
      for (const r of results.filter((r) => r.status === 409)) assert.equal(r.body.type, `${PROBLEM}illegal-transition`);

      const events = (await feed(ccm)).slice(before.length);
      assert.equal(events.length, statuses.filter((s) => s === 200).length, 'one event per successful transition');
      for (const certificate of certificates) {
        const stored = (await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${certificate.id}`).expect(200)).body;
        let state = 'inactive';
        for (const event of events.filter((e) => e.certificateId === certificate.id)) {
          const legal =
            (event.type === 'certificate.suspended' && (state === 'inactive' || state === 'active')) ||
            (event.type === 'certificate.reactivated' && state === 'suspended') ||
            (event.type === 'certificate.revoked' && state !== 'revoked');
          assert.ok(legal, `${event.type} after ${state} for ${certificate.id}`);
          state = event.state;
        }
        assert.equal(state, stored.state, `the events of ${certificate.id} replay to its stored state`);
      }
      assert.ok(events.length > 20, `enough transitions won to mean something (${events.length})`);
    });

    test('authentication by certificate activates on first use (once, even under concurrent first uses) and answers who the device is', async () => {
      const certificate = await issue(tenant.id, 'sensor-1');
      const before = (await feed(ccm)).length;
      const answers = await Promise.all(Array.from({ length: 8 }, () => authenticate({ certificatePem: certificate.certificatePem + certificate.chainPem })));
      for (const res of answers) {
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.decision, 'accepted');
        assert.equal(res.body.deviceId, 'sensor-1');
        assert.equal(res.body.tenantId, tenant.id);
        assert.equal(res.body.certificateId, certificate.id);
        assert.equal(res.body.state, 'active');
      }
      const events = (await feed(ccm)).slice(before);
      assert.deepEqual(events.map((e) => [e.type, e.certificateId]), [['certificate.activated', certificate.id]]);
      const stored = (await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${certificate.id}`).expect(200)).body;
      assert.equal(stored.state, 'active');
      assert.equal(stored.firstUsedAt, clock.now().toISOString());
      assert.equal(stored.lastUsedAt, clock.now().toISOString());

      // Suspending an active certificate and lifting it brings it back to active.
      await act(tenant.id, certificate.id, 'suspend').expect(200);
      assert.equal((await act(tenant.id, certificate.id, 'reactivate').expect(200)).body.state, 'active');
    });

    test('the cheap path: issuer as openssl prints it (RFC 2253) and serial number', async () => {
      const certificate = await issue(tenant.id, 'sensor-2');
      const leaf = await scratch.write('cheap.pem', certificate.certificatePem);
      const issuer = (await openssl(['x509', '-in', leaf, '-noout', '-issuer', '-nameopt', 'RFC2253'])).stdout.trim().replace(/^issuer=/, '');
      const serial = (await openssl(['x509', '-in', leaf, '-noout', '-serial'])).stdout.trim().replace(/^serial=/, '');
      const res = await authenticate({ issuer, serialNumber: serial }).expect(200);
      assert.equal(res.body.certificateId, certificate.id);
      assert.equal((await authenticate({ issuer, serialNumber: 'ab'.repeat(16) }).expect(403)).body.type, `${PROBLEM}certificate-unknown`);
      assert.equal((await authenticate({ issuer: 'CN=nobody', serialNumber: serial }).expect(403)).body.type, `${PROBLEM}untrusted-issuer`);
      assert.equal((await authenticate({ issuer }).expect(400)).body.type, `${PROBLEM}invalid-request`);
      assert.equal((await authenticate({ certificatePem: certificate.certificatePem, issuer, serialNumber: serial }).expect(400)).body.type, `${PROBLEM}invalid-request`);
      assert.equal((await authenticate({ issuer, serialNumber: 'xyz' }).expect(400)).body.type, `${PROBLEM}invalid-request`);
      assert.equal((await authenticate({ certificatePem: 'garbage' }).expect(400)).body.type, `${PROBLEM}malformed-pem`);
    });

    test('authentication refuses suspended, revoked, expired, not yet valid, foreign and forged certificates, each with its own type', async () => {
      const suspended = await issue(tenant.id, 'refused-suspended');
      const revoked = await issue(tenant.id, 'refused-revoked');
      const timed = await issue(tenant.id, 'refused-timed');
      await act(tenant.id, suspended.id, 'suspend').expect(200);
      await act(tenant.id, revoked.id, 'revoke', { reason: 'privilegeWithdrawn' }).expect(200);
      const before = (await feed(ccm)).length;
      const refusal = async (pem: string, type: string) => {
        const res = await authenticate({ certificatePem: pem }).expect(403);
        assert.equal(res.body.type, `${PROBLEM}${type}`, res.text);
        assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      };
      await refusal(suspended.certificatePem, 'certificate-suspended');
      await refusal(revoked.certificatePem, 'certificate-revoked');

      const now = clock.now();
      clock.set(new Date(now.getTime() + 2 * 3600_000));
      await refusal(timed.certificatePem, 'certificate-expired');
      clock.set(new Date(now.getTime() - 2 * 3600_000));
      await refusal(timed.certificatePem, 'certificate-not-yet-valid');
      clock.set(now);

      // A CA nobody at ccm knows, and one that copies the tenant CA's name but not its key.
      const foreignKey = await scratch.write('foreign.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
      const foreign = (await openssl(['req', '-x509', '-new', '-key', foreignKey, '-subj', '/CN=foreign device', '-days', '1'])).stdout;
      await refusal(foreign, 'untrusted-issuer');
      const rootPath = await scratch.write('tenant-root.pem', pemBlocks(tenant.chainPem)[0]!);
      const rootSubject = (await openssl(['x509', '-in', rootPath, '-noout', '-subject', '-nameopt', 'compat'])).stdout.trim().replace(/^subject=/, '');
      const impostorCa = await scratch.write('impostor-ca.pem', (await openssl(['req', '-x509', '-new', '-key', foreignKey, '-subj', rootSubject, '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE'])).stdout);
      const deviceKey = await scratch.write('device.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
      const deviceCsr = await scratch.write('device.csr', (await openssl(['req', '-new', '-key', deviceKey, '-subj', '/CN=refused-timed'])).stdout);
      const forged = (await openssl(['x509', '-req', '-in', deviceCsr, '-CA', impostorCa, '-CAkey', foreignKey, '-set_serial', `0x${timed.serialNumber}`, '-days', '1'])).stdout;
      await refusal(forged, 'certificate-signature-invalid');
      assert.equal((await feed(ccm)).length, before, 'refusals write no event');
    });

    test('the CRL lists suspended certificates as certificateHold and revoked ones with their reason; openssl verify -crl_check agrees', async () => {
      const good = await issue(tenant.id, 'crl-good');
      const held = await issue(tenant.id, 'crl-held');
      const gone = await issue(tenant.id, 'crl-gone');
      await act(tenant.id, held.id, 'suspend').expect(200);
      await act(tenant.id, gone.id, 'revoke', { reason: 'cessationOfOperation' }).expect(200);

      const first = await ccm.api().get(`/v1/tenants/${tenant.id}/crl`).query({ format: 'pem' }).expect(200);
      assert.match(first.headers['content-type']!, /application\/x-pem-file/);
      const crlPath = await scratch.write('tenant.crl.pem', first.text);
      const rootPath = await scratch.write('crl-root.pem', pemBlocks(tenant.chainPem)[0]!);
      const chainPath = await scratch.write('crl-chain.pem', tenant.chainPem);
      const verified = await openssl(['crl', '-in', crlPath, '-CAfile', rootPath, '-noout', '-verify']);
      assert.match(verified.stdout + verified.stderr, /verify OK/);
      const text = (await openssl(['crl', '-in', crlPath, '-noout', '-text'])).stdout;
      assert.match(text, new RegExp(`Serial Number: ${held.serialNumber.toUpperCase()}\\s+Revocation Date: [^\\n]+\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Certificate Hold`));
      assert.match(text, new RegExp(`Serial Number: ${gone.serialNumber.toUpperCase()}\\s+Revocation Date: [^\\n]+\\s+CRL entry extensions:\\s+X509v3 CRL Reason Code:\\s+Cessation Of Operation`));
      assert.doesNotMatch(text, new RegExp(good.serialNumber.toUpperCase()));

      const check = async (certificate: Issued) => openssl(['verify', '-crl_check', '-CAfile', chainPath, '-CRLfile', crlPath, await scratch.write(`${certificate.id}.pem`, certificate.certificatePem)]);
      assert.equal((await check(good)).code, 0);
      assert.match((await check(held)).stdout + (await check(held)).stderr, /certificate revoked/);
      assert.match((await check(gone)).stdout + (await check(gone)).stderr, /certificate revoked/);

      const der = await ccm.api().get(`/v1/tenants/${tenant.id}/crl`).buffer(true).parse(binary as never).expect(200);
      assert.equal(der.headers['content-type'], 'application/pkix-crl');
      assert.equal(der.headers['x-crl-number'], first.headers['x-crl-number'], 'unchanged state: the same CRL is served');

      await act(tenant.id, held.id, 'reactivate').expect(200);
      const second = await ccm.api().get(`/v1/tenants/${tenant.id}/crl`).query({ format: 'pem' }).expect(200);
      assert.ok(Number(first.headers['x-crl-number']) >= clock.now().getTime(), 'CRL numbers follow the clock, in milliseconds');
      assert.equal(Number(second.headers['x-crl-number']), Number(first.headers['x-crl-number']) + 1, 'the CRL number increases on change (the test clock stands still)');
      const secondPath = await scratch.write('tenant-2.crl.pem', second.text);
      assert.doesNotMatch((await openssl(['crl', '-in', secondPath, '-noout', '-text'])).stdout, new RegExp(held.serialNumber.toUpperCase()), 'reactivation removes the hold');
      const recheck = await openssl(['verify', '-crl_check', '-CAfile', chainPath, '-CRLfile', secondPath, await scratch.write('held-again.pem', held.certificatePem)]);
      assert.equal(recheck.code, 0, recheck.stdout + recheck.stderr);

      clock.set(new Date(clock.now().getTime() + 13 * 3600_000));
      const refreshed = await ccm.api().get(`/v1/tenants/${tenant.id}/crl`).expect(200);
      assert.equal(Number(refreshed.headers['x-crl-number']), clock.now().getTime(), 'past half its validity, the CRL is re-signed, numbered by the clock');

      // A database restored from an older backup holds an older CRL number: the next CRL still outnumbers every one served before.
      // (PostgreSQL only: the test's SQLite handle is read-only, as an auditor's would be.)
      if (installation.database.kind === 'postgres') {
        const authorityId = (await installation.database.query<{ id: string }>(`SELECT id FROM authorities WHERE tenant_id = '${tenant.id}' AND kind = 'tenant-root'`))[0]!.id;
        await installation.database.query(`UPDATE crl_scopes SET crl_number = 2 WHERE authority_id = '${authorityId}'`);
        clock.set(new Date(clock.now().getTime() + 1000));
        await act(tenant.id, held.id, 'suspend').expect(200);
        const afterRestore = await ccm.api().get(`/v1/tenants/${tenant.id}/crl`).expect(200);
        assert.ok(Number(afterRestore.headers['x-crl-number']) > Number(refreshed.headers['x-crl-number']), 'numbers keep growing across a restore');
        await act(tenant.id, held.id, 'reactivate').expect(200);
        clock.set(new Date(clock.now().getTime() - 1000));
      }
      clock.set(new Date(clock.now().getTime() - 13 * 3600_000));
    });

    test('certificates name their CRL distribution point; the CRL served there carries the matching Issuing Distribution Point', async () => {
      const certificate = await issue(tenant.id, 'cdp');
      const leafPath = await scratch.write('cdp.pem', certificate.certificatePem);
      const text = (await openssl(['x509', '-in', leafPath, '-noout', '-text'])).stdout;
      const authorityId = (await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${certificate.id}`).expect(200)).body.authorityId;
      const url = `${ccm.configuration.http.publicUrl}/crl/${authorityId}.crl`;
      assert.match(text, new RegExp(`X509v3 CRL Distribution Points:\\s+Full Name:\\s+URI:${url.replace(/[.]/g, '\\.')}`));

      const served = await ccm.api().get(new URL(url).pathname).buffer(true).parse(binary as never).expect(200);
      assert.equal(served.headers['content-type'], 'application/pkix-crl');
      const crlPath = await scratch.write('cdp.crl', '');
      await writeFile(crlPath, served.body as Buffer);
      const crlText = (await openssl(['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text'])).stdout;
      assert.match(crlText, new RegExp(`X509v3 Issuing Distribution Point: critical\\s+Full Name:\\s+URI:${url.replace(/[.]/g, '\\.')}\\s+Only User Certificates`));
      const chainPath = await scratch.write('cdp-chain.pem', tenant.chainPem);
      const crlPem = await scratch.write('cdp.crl.pem', (await openssl(['crl', '-inform', 'DER', '-in', crlPath])).stdout);
      const verified = await openssl(['verify', '-crl_check', '-CAfile', chainPath, '-CRLfile', crlPem, leafPath]);
      assert.equal(verified.code, 0, 'the CRL is in scope for the certificate (IDP matches CDP): ' + verified.stdout + verified.stderr);

      await ccm.api().get('/crl/not-an-id.crl').expect(404);
      await ccm.api().get(`/crl/${authorityId}.pem`).expect(404);
      const platformId = (await ccm.api().get('/v1/platform-ca').expect(200)).body.id;
      await ccm.api().get(`/crl/${platformId}.crl`).expect(404);
    });

    test('a burst of transitions under one CA rebuilds its CRL in the background, coalesced, before anyone asks', async () => {
      const certificates = await Promise.all(Array.from({ length: 6 }, (_, i) => issue(tenant.id, `burst-${i}`)));
      const authorityId = (await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${certificates[0]!.id}`).expect(200)).body.authorityId;
      await ccm.api().get(`/crl/${authorityId}.crl`).expect(200);
      const numberNow = async () => Number((await installation.database.query<{ n: string | number }>(`SELECT crl_number AS n FROM crl_scopes WHERE authority_id = '${authorityId}' AND scope = 0`))[0]!.n);
      const before = await numberNow();
      await Promise.all(certificates.map((c) => act(tenant.id, c.id, 'suspend').expect(200)));
      const deadline = Date.now() + 5000;
      while ((await numberNow()) === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = await numberNow();
      assert.ok(after > before, 'built without a request');
      assert.ok(after - before <= 3, `coalesced: ${after - before} builds for 6 suspensions`);
      const served = await ccm.api().get(`/v1/tenants/${tenant.id}/crl`).query({ format: 'pem' }).expect(200);
      assert.equal(Number(served.headers['x-crl-number']), after, 'the fetch finds the CRL ready');
      const text = (await openssl(['crl', '-in', await scratch.write('burst.crl.pem', served.text), '-noout', '-text'])).stdout;
      for (const c of certificates) assert.match(text, new RegExp(c.serialNumber.toUpperCase()));
    });

    test('OCSP: openssl ocsp reports good, revoked (certificateHold) while suspended, good again, then revoked; GET and POST; bad requests get OCSP errors', async () => {
      const certificate = await issue(tenant.id, 'ocsp-device');
      const authorityId = (await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${certificate.id}`).expect(200)).body.authorityId;
      const leafPath = await scratch.write('ocsp-leaf.pem', certificate.certificatePem);
      const rootPath = await scratch.write('ocsp-root.pem', pemBlocks(tenant.chainPem)[0]!);
      const chainPath = await scratch.write('ocsp-chain.pem', tenant.chainPem);
      const aia = (await openssl(['x509', '-in', leafPath, '-noout', '-ocsp_uri'])).stdout.trim();
      assert.equal(aia, `${ccm.configuration.http.publicUrl}/ocsp/${authorityId}`, 'the responder URL is in the certificate');
      const responder = `${ccm.url}/ocsp/${authorityId}`;
      const ask = async () => {
        const result = await openssl(['ocsp', '-issuer', rootPath, '-CAfile', chainPath, '-cert', leafPath, '-url', responder]);
        const text = result.stdout + result.stderr;
        assert.match(text, /Response verify OK/);
        assert.doesNotMatch(text, /nonce/i, 'the nonce is echoed');
        return text;
      };
      assert.match(await ask(), /ocsp-leaf\.pem: good/);
      await act(tenant.id, certificate.id, 'suspend').expect(200);
      assert.match(await ask(), /ocsp-leaf\.pem: revoked[\s\S]*Reason: certificateHold/);
      await act(tenant.id, certificate.id, 'reactivate').expect(200);
      assert.match(await ask(), /ocsp-leaf\.pem: good/);

      // GET with the base64 request in the path; without a nonce the answer is cached until the state changes.
      const requestPath = scratch.path('ocsp-request.der');
      await openssl(['ocsp', '-issuer', rootPath, '-cert', leafPath, '-no_nonce', '-reqout', requestPath]);
      const requestDer = await readFile(requestPath);
      const get = async () => (await ccm.api().get(`/ocsp/${authorityId}/${encodeURIComponent(requestDer.toString('base64'))}`).buffer(true).parse(binary as never).expect(200)).body as Buffer;
      const first = await get();
      assert.deepEqual(await get(), first, 'the same signed answer, from the cache');
      await act(tenant.id, certificate.id, 'revoke', { reason: 'keyCompromise' }).expect(200);
      const afterRevoke = await get();
      assert.notDeepEqual(afterRevoke, first, 'a state change invalidates the cached answer');
      const responsePath = await scratch.write('ocsp-response.der', '');
      await writeFile(responsePath, afterRevoke);
      const checked = await openssl(['ocsp', '-respin', responsePath, '-issuer', rootPath, '-CAfile', chainPath, '-cert', leafPath]);
      assert.match(checked.stdout + checked.stderr, /Response verify OK/);
      assert.match(checked.stdout, /ocsp-leaf\.pem: revoked[\s\S]*Reason: keyCompromise/);

      const post = async (path: string, body: Buffer) =>
        (await ccm.api().post(path).set('content-type', 'application/ocsp-request').send(body).buffer(true).parse(binary as never).expect(200)).body as Buffer;
      assert.equal((await post(`/ocsp/${authorityId}`, Buffer.from('garbage'))).toString('hex'), '30030a0101', 'malformedRequest');
      assert.equal((await post(`/ocsp/${authorityId}`, requestDer.subarray(0, 20))).toString('hex'), '30030a0101', 'truncated: malformedRequest');
      assert.equal((await post('/ocsp/not-a-ca', requestDer)).toString('hex'), '30030a0106', 'unauthorized for a URL naming no CA of ours');
      const other = await createTenant(ccm, `ocsp-other-${Date.now()}`);
      const otherRoot = await scratch.write('ocsp-other-root.pem', pemBlocks(other.chainPem)[0]!);
      const foreign = await openssl(['ocsp', '-issuer', otherRoot, '-CAfile', chainPath, '-cert', leafPath, '-url', responder]);
      assert.match(foreign.stdout + foreign.stderr, /ocsp-leaf\.pem: unknown/, 'a CertID naming another issuer is unknown here');
    });

    test('renewal re-issues for the same identity with a new serial, keeps or replaces the key, and can supersede the old certificate', async () => {
      const chainPath = await scratch.write('renew-chain.pem', tenant.chainPem);
      const verify = async (pem: string) => {
        const result = await openssl(['verify', '-CAfile', chainPath, '-purpose', 'sslclient', await scratch.write(`renew-${Math.random()}.pem`, pem)]);
        assert.equal(result.code, 0, result.stdout + result.stderr);
      };
      const original = await issue(tenant.id, 'renew-me');
      const renewed = (await act(tenant.id, original.id, 'renew', { ttlSeconds: 7200 }).expect(201)).body;
      assert.notEqual(renewed.serialNumber, original.serialNumber);
      assert.equal(renewed.commonName, 'renew-me');
      assert.equal(renewed.sameKey, false);
      assert.match(renewed.privateKeyPem, /BEGIN PRIVATE KEY/);
      assert.equal(renewed.previous.state, 'inactive', 'left to expire unless asked');
      await verify(renewed.certificatePem);

      // The device keeps its key: a CSR of the same key; the old certificate is revoked as superseded.
      const deviceKey = await scratch.write('renew-device.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
      const csr = (await openssl(['req', '-new', '-key', deviceKey, '-subj', '/O=Acme/CN=renew-csr'])).stdout;
      const first = (await ccm.api().post(`/v1/tenants/${tenant.id}/certificates`).send({ csr }).expect(201)).body;
      const before = (await feed(ccm)).length;
      const second = (await act(tenant.id, first.id, 'renew', { csr, revokePrevious: true }).expect(201)).body;
      assert.equal(second.sameKey, true);
      assert.equal(second.subject, first.subject);
      assert.equal(second.privateKeyPem, null);
      assert.equal(second.previous.state, 'revoked');
      assert.equal(second.previous.revocationReason, 'superseded');
      await verify(second.certificatePem);
      assert.deepEqual((await feed(ccm)).slice(before).map((e) => [e.type, e.certificateId, e.reason]), [['certificate.revoked', first.id, 'superseded']]);

      // The identity cannot change, a subject beyond a CN needs a CSR, and suspended or revoked certificates are not renewed.
      const stored = async () => Number((await installation.database.query<{ count: string | number }>('SELECT COUNT(*) AS count FROM certificates'))[0]!.count);
      const count = await stored();
      const otherCsr = (await openssl(['req', '-new', '-key', deviceKey, '-subj', '/O=Acme/CN=someone-else'])).stdout;
      assert.equal((await act(tenant.id, second.id, 'renew', { csr: otherCsr }).expect(400)).body.type, `${PROBLEM}policy-violation`);
      assert.equal((await act(tenant.id, second.id, 'renew', {}).expect(400)).body.type, `${PROBLEM}policy-violation`);
      assert.equal((await act(tenant.id, first.id, 'renew', { csr }).expect(409)).body.type, `${PROBLEM}illegal-transition`);
      await act(tenant.id, renewed.id, 'suspend').expect(200);
      assert.equal((await act(tenant.id, renewed.id, 'renew', {}).expect(409)).body.state, 'suspended');
      assert.equal(await stored(), count, 'refused renewals store nothing');
    });

    test('revoking a tenant CA revokes everything it issued with one event; the tenant can issue no more', async () => {
      const doomed = await createTenant(ccm, `doomed-${Date.now()}`);
      const certificates = await Promise.all(['d-1', 'd-2', 'd-3'].map((cn) => issue(doomed.id, cn)));
      await act(doomed.id, certificates[0]!.id, 'suspend').expect(200);
      await act(doomed.id, certificates[1]!.id, 'revoke', { reason: 'keyCompromise' }).expect(200);
      const before = (await feed(ccm)).length;

      const res = await ccm.api().post(`/v1/tenants/${doomed.id}/ca/revoke`).send({ reason: 'cACompromise' }).expect(200);
      assert.equal(res.body.revokedCertificates, 2, 'the suspended one and the live one; the revoked one keeps its reason');
      assert.equal(res.body.authority.status, 'revoked');
      const events = (await feed(ccm)).slice(before);
      assert.deepEqual(events.map((e) => [e.type, e.tenantId, e.revokedCertificates, e.reason]), [['authority.revoked', doomed.id, 2, 'cACompromise']]);

      assert.equal((await ccm.api().post(`/v1/tenants/${doomed.id}/ca/revoke`).send({}).expect(409)).body.type, `${PROBLEM}illegal-transition`);
      await ccm.api().post(`/v1/tenants/${doomed.id}/certificates`).send({}).expect(409);
      for (const certificate of certificates) {
        assert.equal((await authenticate({ certificatePem: certificate.certificatePem }).expect(403)).body.type, `${PROBLEM}certificate-revoked`);
      }
      const listed = (await ccm.api().get(`/v1/tenants/${doomed.id}/certificates`).query({ state: 'revoked' }).expect(200)).body.items;
      assert.deepEqual(listed.map((c: { revocationReason: string }) => c.revocationReason).sort(), ['cACompromise', 'cACompromise', 'keyCompromise']);
      const crl = await scratch.write('doomed.crl.pem', (await ccm.api().get(`/v1/tenants/${doomed.id}/crl`).query({ format: 'pem' }).expect(200)).text);
      const text = (await openssl(['crl', '-in', crl, '-noout', '-text'])).stdout;
      for (const certificate of certificates) assert.match(text, new RegExp(certificate.serialNumber.toUpperCase()));
      assert.equal((await ccm.api().get(`/v1/tenants/${doomed.id}`).expect(200)).body.rootAuthority.status, 'revoked');
    });

    test('the event feed pages with a cursor, filters by tenant, and every event matches the published schema', async () => {
      const all = await feed(ccm);
      assert.ok(all.length > 10);
      for (const event of all) assertValidEvent(event);
      const positions = all.map((e) => Number(e.position));
      assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
      assert.equal(new Set(all.map((e) => e.id)).size, all.length, 'no event twice');
      const page = (await ccm.api().get('/v1/events').query({ limit: 3 }).expect(200)).body;
      assert.equal(page.items.length, 3);
      const next = (await ccm.api().get('/v1/events').query({ limit: 3, after: page.nextCursor }).expect(200)).body;
      assert.deepEqual(next.items.map((e: FeedEvent) => e.id), all.slice(3, 6).map((e) => e.id));
      const mine = (await ccm.api().get('/v1/events').query({ tenantId: tenant.id, limit: 1000 }).expect(200)).body.items as FeedEvent[];
      assert.ok(mine.length > 0 && mine.every((e) => e.tenantId === tenant.id));
      const end = (await ccm.api().get('/v1/events').query({ after: all[all.length - 1]!.position }).expect(200)).body;
      assert.deepEqual(end, { items: [], nextCursor: all[all.length - 1]!.position }, 'at the end, the cursor stays put');
      assert.equal((await ccm.api().get('/v1/events').query({ after: 'abc' }).expect(400)).body.type, `${PROBLEM}invalid-request`);
    });
  });
}

async function createTenant(ccm: CcmUnderTest, name: string): Promise<{ id: string; chainPem: string }> {
  const res = await ccm.api().post('/v1/tenants').send({ name }).expect(201);
  const chain = await ccm.api().get(`/v1/tenants/${res.body.id}/ca-chain`).expect(200);
  return { id: res.body.id, chainPem: chain.text };
}

function feed(ccm: CcmUnderTest): Promise<FeedEvent[]> {
  return readWholeFeed<FeedEvent>(ccm);
}

function binary(res: NodeJS.ReadableStream & { setEncoding(e: string): void }, callback: (error: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => callback(null, Buffer.concat(chunks)));
}
