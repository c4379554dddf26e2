/**
 * Tenant root rollover over HTTP, on SQLite with local custody and on
 * PostgreSQL with Vault custody, judged by openssl: the new root signs new
 * certificates and renewals, the old one keeps what it issued valid (trust
 * bundle, CRL at each certificate's distribution point, OCSP, device
 * authentication) until it is retired, early (its certificates revoked) or
 * once the last of them has expired. Concurrent rollovers of one tenant
 * yield one new root; issuances racing a rollover are all signed by a root
 * in the bundle. Every event read back is checked against the JSON Schema.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { EstEnrollment } from '../../src/enrollment/est-enrollment.js';
import { encodePem } from '../../src/codec/pem.js';
import { RetireTenantRoots } from '../../src/lifecycle/retire-tenant-roots.js';
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

interface Root {
  id: string;
  status: string;
  subject: string;
  serialNumber: string;
  certificatePem: string;
}

interface Issued {
  id: string;
  authorityId: string;
  serialNumber: string;
  certificatePem: string;
  chainPem: string;
  privateKeyPem: string;
}

interface FeedEvent {
  type: string;
  tenantId: string;
  authorityId: string;
  certificateId: string | null;
  state: string;
  reason: string | null;
  previousAuthorityId?: string;
  revokedCertificates?: number;
}

for (const backend of SUITE_BACKENDS) {
  describe(`tenant root rollover on ${backendName(backend)}`, () => {
    let installation: TestInstallation;
    let ccm: CcmUnderTest;
    let scratch: Scratch;
    const clock = new FixedClock(new Date());

    before(async () => {
      installation = await TestInstallation.create(backend);
      ccm = await installation.start({ clock });
      scratch = await Scratch.create();
    });

    after(async () => {
      await ccm?.close();
      await installation?.destroy();
      await scratch?.cleanup();
    });

    const createTenant = async (name: string): Promise<{ id: string; root: Root }> => {
      const body = (await ccm.api().post('/v1/tenants').send({ name: `${name}-${Date.now()}` }).expect(201)).body;
      return { id: body.id, root: body.rootAuthority };
    };
    const issue = async (tenantId: string, commonName: string, ttlSeconds = 3600): Promise<Issued> =>
      (await ccm.api().post(`/v1/tenants/${tenantId}/certificates`).send({ commonName, ttlSeconds }).expect(201)).body;
    const rollOver = (tenantId: string, body: object = {}) => ccm.api().post(`/v1/tenants/${tenantId}/ca/rollover`).send(body);
    const bundle = async (tenantId: string): Promise<string> => (await ccm.api().get(`/v1/tenants/${tenantId}/ca-chain`).expect(200)).text;
    const verify = async (name: string, caFile: string, certificatePem: string, extra: string[] = []) =>
      openssl(['verify', ...extra, '-CAfile', await scratch.write(`${name}-ca.pem`, caFile), await scratch.write(`${name}.pem`, certificatePem)]);
    const subjectOf = async (pem: string): Promise<string> => (await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], { input: pem })).stdout.trim().replace(/^subject=/, '');

    test('a rollover makes a new root that signs from then on; the old one is retiring and what it issued still verifies against the bundle', async () => {
      const tenant = await createTenant('roll');
      const before = await issue(tenant.id, 'before-rollover');
      const platformPem = (await ccm.api().get('/v1/platform-ca').expect(200)).body.certificatePem as string;
      const eventsBefore = (await readWholeFeed<FeedEvent>(ccm)).length;

      const rolled = (await rollOver(tenant.id).expect(201)).body as { rootAuthority: Root; previousAuthority: Root };
      assert.equal(rolled.previousAuthority.id, tenant.root.id);
      assert.equal(rolled.previousAuthority.status, 'retiring');
      assert.equal(rolled.rootAuthority.status, 'active');
      assert.notEqual(rolled.rootAuthority.id, tenant.root.id);
      assert.match(rolled.rootAuthority.subject, /^CN=roll-\d+ root CA G2,OU=/);
      assert.notEqual(rolled.rootAuthority.subject, tenant.root.subject, 'each root has a name of its own');
      // The platform CA certified it, with a key of its own.
      assert.equal((await verify('new-root', platformPem, rolled.rootAuthority.certificatePem)).code, 0);
      const keyOf = async (pem: string) => (await openssl(['x509', '-noout', '-pubkey'], { input: pem })).stdout;
      assert.notEqual(await keyOf(rolled.rootAuthority.certificatePem), await keyOf(tenant.root.certificatePem));

      const read = (await ccm.api().get(`/v1/tenants/${tenant.id}`).expect(200)).body;
      assert.equal(read.rootAuthority.id, rolled.rootAuthority.id, 'the tenant shows its active root');
      const listed = (await ccm.api().get(`/v1/tenants/${tenant.id}/authorities`).expect(200)).body.items as Root[];
      assert.deepEqual(listed.filter((a) => a.id === tenant.root.id || a.id === rolled.rootAuthority.id).map((a) => [a.id, a.status]).sort(), [
        [tenant.root.id, 'retiring'],
        [rolled.rootAuthority.id, 'active'],
      ].sort());

      const after = await issue(tenant.id, 'after-rollover');
      assert.equal(after.authorityId, rolled.rootAuthority.id);
      assert.equal((await openssl(['x509', '-noout', '-issuer', '-nameopt', 'RFC2253'], { input: after.certificatePem })).stdout.trim(), `issuer=${await subjectOf(rolled.rootAuthority.certificatePem)}`);
      assert.equal(pemBlocks(after.chainPem)[0], pemBlocks(rolled.rootAuthority.certificatePem)[0], 'the chain handed out is the new root\'s');

      // The bundle: both roots and the platform CA, each once; both certificates verify against it.
      const trust = await bundle(tenant.id);
      const blocks = pemBlocks(trust);
      assert.equal(blocks.length, 3);
      assert.equal(new Set(blocks).size, 3);
      assert.ok(blocks.includes(pemBlocks(tenant.root.certificatePem)[0]!) && blocks.includes(pemBlocks(rolled.rootAuthority.certificatePem)[0]!) && blocks.includes(pemBlocks(platformPem)[0]!));
      assert.equal(blocks[0], pemBlocks(rolled.rootAuthority.certificatePem)[0], 'the active root first');
      for (const [name, certificate] of [['old', before], ['new', after]] as const) {
        const result = await verify(`bundle-${name}`, trust, certificate.certificatePem);
        assert.equal(result.code, 0, `${name}: ${result.stdout}${result.stderr}`);
      }
      // EST /cacerts serves the same bundle.
      const est = await ccm.app.get(EstEnrollment).caCertificates(tenant.id);
      assert.deepEqual(est.certificates.map((der) => encodePem(der, 'CERTIFICATE')), blocks);

      // One event, after the root it announces was in place.
      const events = (await readWholeFeed<FeedEvent>(ccm)).slice(eventsBefore);
      const rolledOver = events.filter((e) => e.type === 'authority.rolled-over');
      assert.equal(rolledOver.length, 1);
      assertValidEvent(rolledOver[0]);
      assert.deepEqual([rolledOver[0]!.tenantId, rolledOver[0]!.authorityId, rolledOver[0]!.previousAuthorityId, rolledOver[0]!.state, rolledOver[0]!.certificateId], [tenant.id, rolled.rootAuthority.id, tenant.root.id, 'active', null]);

      // Devices of both roots authenticate, by certificate and by issuer and serial.
      for (const certificate of [before, after]) {
        const byPem = (await ccm.api().post('/v1/authentications').send({ certificatePem: certificate.certificatePem }).expect(200)).body;
        assert.equal(byPem.certificateId, certificate.id);
        const issuer = (await openssl(['x509', '-noout', '-issuer', '-nameopt', 'RFC2253'], { input: certificate.certificatePem })).stdout.trim().replace(/^issuer=/, '');
        const bySerial = (await ccm.api().post('/v1/authentications').send({ issuer, serialNumber: certificate.serialNumber }).expect(200)).body;
        assert.equal(bySerial.certificateId, certificate.id);
      }
    });

    test('each root keeps its CRL and OCSP: openssl crl -verify, verify -crl_check and ocsp agree for certificates of the old and the new root', async () => {
      const tenant = await createTenant('revocation');
      const old = await issue(tenant.id, 'old-device');
      const rolled = (await rollOver(tenant.id).expect(201)).body as { rootAuthority: Root };
      const fresh = await issue(tenant.id, 'new-device');
      await ccm.api().post(`/v1/tenants/${tenant.id}/certificates/${old.id}/suspend`).send({}).expect(200);
      await ccm.api().post(`/v1/tenants/${tenant.id}/certificates/${fresh.id}/revoke`).send({ reason: 'keyCompromise' }).expect(200);
      const trust = await scratch.write(`${tenant.id}-bundle.pem`, await bundle(tenant.id));

      for (const [certificate, root, listed] of [
        [old, tenant.root, 'Certificate Hold'],
        [fresh, rolled.rootAuthority, 'Key Compromise'],
      ] as const) {
        const leaf = await scratch.write(`${certificate.id}.pem`, certificate.certificatePem);
        const rootPath = await scratch.write(`${root.id}.pem`, root.certificatePem);
        // The distribution point written into the certificate still serves its issuer's CRL.
        const cdp = (await openssl(['x509', '-in', leaf, '-noout', '-ext', 'crlDistributionPoints'])).stdout;
        assert.match(cdp, new RegExp(`/crl/${root.id}\\.crl`));
        const served = await fetch(`${ccm.url}/crl/${root.id}.crl`);
        assert.equal(served.status, 200);
        const crlDer = await scratch.write(`${root.id}.crl`, '');
        await writeFile(crlDer, Buffer.from(await served.arrayBuffer()));
        const crlPem = await scratch.write(`${root.id}.crl.pem`, (await openssl(['crl', '-inform', 'DER', '-in', crlDer])).stdout);
        const signed = await openssl(['crl', '-in', crlPem, '-CAfile', rootPath, '-noout', '-verify']);
        assert.match(signed.stdout + signed.stderr, /verify OK/, `the CRL is signed by ${root.subject}`);
        const text = (await openssl(['crl', '-in', crlPem, '-noout', '-text'])).stdout;
        assert.match(text, new RegExp(`Serial Number: ${certificate.serialNumber.toUpperCase()}[\\s\\S]*?${listed}`));
        const checked = await openssl(['verify', '-crl_check', '-CAfile', trust, '-CRLfile', crlPem, leaf]);
        assert.notEqual(checked.code, 0);
        assert.match(checked.stdout + checked.stderr, /certificate revoked/);

        const ocsp = await openssl(['ocsp', '-issuer', rootPath, '-CAfile', trust, '-cert', leaf, '-url', `${ccm.url}/ocsp/${root.id}`]);
        const answer = ocsp.stdout + ocsp.stderr;
        assert.match(answer, /Response verify OK/);
        assert.match(answer, new RegExp(`${certificate.id}\\.pem: revoked`));
      }
      // Reactivated, the old root's certificate is good again at both.
      await ccm.api().post(`/v1/tenants/${tenant.id}/certificates/${old.id}/reactivate`).send({}).expect(200);
      const leaf = await scratch.write(`${old.id}-again.pem`, old.certificatePem);
      const rootPath = await scratch.write(`${tenant.root.id}-again.pem`, tenant.root.certificatePem);
      const ocsp = await openssl(['ocsp', '-issuer', rootPath, '-CAfile', trust, '-cert', leaf, '-url', `${ccm.url}/ocsp/${tenant.root.id}`]);
      assert.match(ocsp.stdout, new RegExp(`${old.id}-again\\.pem: good`));
    });

    test('renewing a certificate of the retiring root yields one of the active root, same identity', async () => {
      const tenant = await createTenant('renew');
      const old = await issue(tenant.id, 'renewed-device');
      const rolled = (await rollOver(tenant.id).expect(201)).body as { rootAuthority: Root };
      const renewed = (await ccm.api().post(`/v1/tenants/${tenant.id}/certificates/${old.id}/renew`).send({}).expect(201)).body as Issued & { subject: string; previous: { id: string; subject: string; authorityId: string } };
      assert.equal(renewed.authorityId, rolled.rootAuthority.id);
      assert.equal(renewed.previous.id, old.id);
      assert.equal(renewed.previous.authorityId, tenant.root.id);
      assert.equal(renewed.subject, renewed.previous.subject);
      const result = await verify('renewed', await bundle(tenant.id), renewed.certificatePem);
      assert.equal(result.code, 0, result.stdout + result.stderr);
    });

    test('two rollovers at once: one new root, the other refused with 409 and nothing of it recorded', async () => {
      const tenant = await createTenant('race');
      let refusals = 0;
      for (let round = 0; round < 4; round++) {
        const answers = await Promise.all([rollOver(tenant.id), rollOver(tenant.id)]);
        const statuses = answers.map((answer) => answer.status).sort();
        // Serialised by the machine's scheduling, the second may also find the first finished: then both succeed in turn.
        assert.ok(statuses.join() === '201,409' || statuses.join() === '201,201', `round ${round}: ${statuses.join()}`);
        for (const refused of answers.filter((answer) => answer.status === 409)) {
          assert.equal(refused.body.type, `${PROBLEM}conflict`);
          assert.equal(refused.body.reason, 'root-in-progress');
          refusals += 1;
        }
      }
      // The two requests of a round overlap (each signs in custody after recording its root), so the race is met.
      assert.ok(refusals > 0, 'at least one round raced');
      const roots = ((await ccm.api().get(`/v1/tenants/${tenant.id}/authorities`).expect(200)).body.items as (Root & { kind: string })[]).filter((a) => a.kind === 'tenant-root');
      assert.equal(roots.filter((root) => root.status === 'active').length, 1, 'exactly one active root');
      assert.ok(roots.every((root) => root.status === 'active' || root.status === 'retiring'), 'no pending or failed root is listed');
      assert.equal(new Set(roots.map((root) => root.subject)).size, roots.length);
      const trust = pemBlocks(await bundle(tenant.id));
      assert.equal(trust.length, roots.length + 1, 'every root in force, and the platform CA');
    });

    test('issuances racing a rollover are each signed by a root that is in the bundle', async () => {
      const tenant = await createTenant('in-flight');
      const issuing = Array.from({ length: 24 }, (_, i) => issue(tenant.id, `racer-${i}`));
      const rolled = rollOver(tenant.id);
      const [certificates, rollover] = await Promise.all([Promise.all(issuing), rolled]);
      assert.equal(rollover.status, 201);
      const trust = await bundle(tenant.id);
      const roots = new Set([tenant.root.id, rollover.body.rootAuthority.id]);
      for (const certificate of certificates) {
        assert.ok(roots.has(certificate.authorityId));
        const result = await verify(`racer-${certificate.id}`, trust, certificate.certificatePem);
        assert.equal(result.code, 0, result.stdout + result.stderr);
      }
    });

    test('retiring the old root early revokes what it issued, with one event, and removes it from the bundle', async () => {
      const tenant = await createTenant('retire-early');
      const old = await issue(tenant.id, 'retired-early');
      const rolled = (await rollOver(tenant.id).expect(201)).body as { rootAuthority: Root };
      const fresh = await issue(tenant.id, 'stays');
      const other = await createTenant('bystander');
      const retire = (tenantId: string, authorityId: string, body: object = {}) => ccm.api().post(`/v1/tenants/${tenantId}/ca/${authorityId}/retire`).send(body);

      const eventsBefore = (await readWholeFeed<FeedEvent>(ccm)).length;
      assert.equal((await retire(tenant.id, rolled.rootAuthority.id).expect(409)).body.type, `${PROBLEM}illegal-transition`, 'the active root is rolled over or revoked, not retired');
      await retire(other.id, tenant.root.id).expect(404);
      await retire(tenant.id, '01a20000-0000-7000-8000-000000000000').expect(404);
      assert.equal((await retire(tenant.id, tenant.root.id, { reason: 'certificateHold' }).expect(400)).body.type, `${PROBLEM}invalid-request`);
      assert.equal((await readWholeFeed<FeedEvent>(ccm)).length, eventsBefore, 'refusals wrote no event');

      const retired = (await retire(tenant.id, tenant.root.id).expect(200)).body;
      assert.equal(retired.authority.status, 'revoked');
      assert.equal(retired.authority.revocationReason, 'superseded');
      assert.equal(retired.revokedCertificates, 1);
      assert.equal((await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${old.id}`).expect(200)).body.state, 'revoked');
      assert.equal((await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${fresh.id}`).expect(200)).body.state, 'inactive');
      await retire(tenant.id, tenant.root.id).expect(409);

      const events = (await readWholeFeed<FeedEvent>(ccm)).slice(eventsBefore);
      assert.deepEqual(events.map((e) => [e.type, e.authorityId, e.revokedCertificates]), [['authority.revoked', tenant.root.id, 1]]);
      events.forEach(assertValidEvent);
      const trust = await bundle(tenant.id);
      assert.ok(!pemBlocks(trust).includes(pemBlocks(tenant.root.certificatePem)[0]!), 'the retired root left the bundle');
      assert.notEqual((await verify('retired-early', trust, old.certificatePem)).code, 0);
      assert.equal((await verify('stays', trust, fresh.certificatePem)).code, 0);
      const refused = (await ccm.api().post('/v1/authentications').send({ certificatePem: old.certificatePem }).expect(403)).body;
      assert.equal(refused.type, `${PROBLEM}certificate-revoked`);
    });

    test('a retiring root is retired once its last certificate has expired: out of the bundle, with authority.retired', async () => {
      const tenant = await createTenant('retire-late');
      const shortLived = await issue(tenant.id, 'short-lived', 120);
      const rolled = (await rollOver(tenant.id).expect(201)).body as { rootAuthority: Root };
      const sweep = ccm.app.get(RetireTenantRoots);
      const retiredNow = async () => (await sweep.sweep()).map((root) => root.id);
      assert.ok(!(await retiredNow()).includes(tenant.root.id), 'a certificate of it is still valid');
      const eventsBefore = (await readWholeFeed<FeedEvent>(ccm)).length;
      const now = clock.now();
      try {
        clock.set(new Date(Date.parse((await ccm.api().get(`/v1/tenants/${tenant.id}/certificates/${shortLived.id}`).expect(200)).body.notAfter) + 1000));
        assert.ok((await retiredNow()).includes(tenant.root.id));
        assert.ok(!(await retiredNow()).includes(tenant.root.id), 'retired once');
      } finally {
        clock.set(now);
      }
      const roots = (await ccm.api().get(`/v1/tenants/${tenant.id}/authorities`).expect(200)).body.items as Root[];
      assert.equal(roots.find((root) => root.id === tenant.root.id)?.status, 'retired');
      assert.equal(roots.find((root) => root.id === rolled.rootAuthority.id)?.status, 'active');
      const events = (await readWholeFeed<FeedEvent>(ccm)).slice(eventsBefore).filter((e) => e.tenantId === tenant.id);
      assert.deepEqual(events.map((e) => [e.type, e.authorityId, e.state, e.reason]), [['authority.retired', tenant.root.id, 'retired', null]]);
      events.forEach(assertValidEvent);
      assert.deepEqual(pemBlocks(await bundle(tenant.id)).length, 2, 'the new root and the platform CA');
      // Its CRL stays where its certificates point, for anyone still checking an expired one.
      assert.equal((await fetch(`${ccm.url}/crl/${tenant.root.id}.crl`)).status, 200);
    });

    test('a staged rollover publishes the new root first (bundle, CRLs, authority.published) while the old one signs; activation switches them', async () => {
      const tenant = await createTenant('staged');
      const eventsBefore = (await readWholeFeed<FeedEvent>(ccm)).length;
      const staged = (await rollOver(tenant.id, { activate: false }).expect(201)).body as { rootAuthority: Root; previousAuthority: Root };
      assert.deepEqual([staged.rootAuthority.status, staged.previousAuthority.id, staged.previousAuthority.status], ['published', tenant.root.id, 'active']);
      const during = await issue(tenant.id, 'while-published');
      assert.equal(during.authorityId, tenant.root.id, 'the old root still signs');
      const trust = pemBlocks(await bundle(tenant.id));
      assert.equal(trust.length, 3);
      assert.ok(trust.includes(pemBlocks(staged.rootAuthority.certificatePem)[0]!), 'brokers can trust the new root before it signs anything');
      const lists = (await ccm.api().get(`/v1/tenants/${tenant.id}/revocation-lists`).expect(200)).body.items as { authorityId: string; status: string; crlPem: string; certificatePem: string }[];
      assert.deepEqual(lists.map((list) => [list.authorityId, list.status]), [
        [tenant.root.id, 'active'],
        [staged.rootAuthority.id, 'published'],
      ]);
      for (const list of lists) {
        const verified = await openssl(['crl', '-in', await scratch.write(`${list.authorityId}-list.crl`, list.crlPem), '-CAfile', await scratch.write(`${list.authorityId}-list-ca.pem`, list.certificatePem), '-noout', '-verify']);
        assert.match(verified.stdout + verified.stderr, /verify OK/);
      }
      assert.equal((await rollOver(tenant.id).expect(409)).body.reason, 'root-in-progress', 'one rollover at a time, a staged one included');
      await ccm.api().post(`/v1/tenants/${tenant.id}/ca/${tenant.root.id}/activate`).send({}).expect(409);

      const activated = (await ccm.api().post(`/v1/tenants/${tenant.id}/ca/${staged.rootAuthority.id}/activate`).send({}).expect(200)).body as { rootAuthority: Root; previousAuthority: Root };
      assert.deepEqual([activated.rootAuthority.status, activated.previousAuthority.status], ['active', 'retiring']);
      assert.equal((await issue(tenant.id, 'after-activation')).authorityId, staged.rootAuthority.id);
      assert.equal((await verify('while-published', await bundle(tenant.id), during.certificatePem)).code, 0);
      await ccm.api().post(`/v1/tenants/${tenant.id}/ca/${staged.rootAuthority.id}/activate`).send({}).expect(409);
      const events = (await readWholeFeed<FeedEvent>(ccm)).slice(eventsBefore).filter((e) => e.tenantId === tenant.id && e.type.startsWith('authority.'));
      assert.deepEqual(events.map((e) => [e.type, e.authorityId, e.state]), [
        ['authority.published', staged.rootAuthority.id, 'published'],
        ['authority.rolled-over', staged.rootAuthority.id, 'active'],
      ]);
      events.forEach(assertValidEvent);

      // A published root that is never activated is withdrawn by retiring it: it issued nothing.
      const withdrawn = (await rollOver(tenant.id, { activate: false }).expect(201)).body.rootAuthority as Root;
      const retired = (await ccm.api().post(`/v1/tenants/${tenant.id}/ca/${withdrawn.id}/retire`).send({}).expect(200)).body;
      assert.deepEqual([retired.authority.status, retired.revokedCertificates], ['revoked', 0]);
      assert.ok(!pemBlocks(await bundle(tenant.id)).includes(pemBlocks(withdrawn.certificatePem)[0]!));
      await rollOver(tenant.id).expect(201);
    });

    test('rollover refusals: unknown tenant 404, a revoked root 409, bad bodies 400; none writes anything', async () => {
      const tenant = await createTenant('refused');
      const eventsBefore = (await readWholeFeed<FeedEvent>(ccm)).length;
      await rollOver('01a20000-0000-7000-8000-000000000000').expect(404);
      for (const body of [{ validityDays: 0 }, { validityDays: 'long' }, { activate: 'no' }, { crossCertify: true }]) {
        assert.equal((await rollOver(tenant.id, body).expect(400)).body.type, `${PROBLEM}invalid-request`);
      }
      assert.equal((await readWholeFeed<FeedEvent>(ccm)).length, eventsBefore);
      const shortRoot = (await rollOver(tenant.id, { validityDays: 30 }).expect(201)).body.rootAuthority as Root & { notAfter: string };
      assert.ok(Math.abs(Date.parse(shortRoot.notAfter) - (clock.now().getTime() + 30 * 86_400_000)) < 60_000);
      const beforeRevoke = (await readWholeFeed<FeedEvent>(ccm)).length;
      const revoked = (await ccm.api().post(`/v1/tenants/${tenant.id}/ca/revoke`).send({ reason: 'cACompromise' }).expect(200)).body;
      assert.equal(revoked.authority.id, shortRoot.id);
      // Revoking the tenant's CA takes the root the rollover left retiring with it, each with its event.
      const roots = ((await ccm.api().get(`/v1/tenants/${tenant.id}/authorities`).expect(200)).body.items as (Root & { kind: string })[]).filter((a) => a.kind === 'tenant-root');
      assert.deepEqual(roots.map((root) => root.status), ['revoked', 'revoked']);
      const revocations = (await readWholeFeed<FeedEvent>(ccm)).slice(beforeRevoke);
      assert.deepEqual(revocations.map((e) => [e.type, e.authorityId]).sort(), [['authority.revoked', shortRoot.id], ['authority.revoked', tenant.root.id]].sort());
      revocations.forEach(assertValidEvent);
      assert.equal((await ccm.api().get(`/v1/tenants/${tenant.id}/ca-chain`).expect(200)).text.includes(pemBlocks(tenant.root.certificatePem)[0]!), false, 'a revoked root leaves the bundle');
      const afterRevoke = (await readWholeFeed<FeedEvent>(ccm)).length;
      assert.equal((await rollOver(tenant.id).expect(409)).body.type, `${PROBLEM}illegal-transition`);
      assert.equal((await readWholeFeed<FeedEvent>(ccm)).length, afterRevoke);
      const tenantKey = await ccm.createApiKey('tenant', tenant.id);
      await ccm.api(tenantKey).post(`/v1/tenants/${tenant.id}/ca/rollover`).send({}).expect(403);
    });
  });
}
