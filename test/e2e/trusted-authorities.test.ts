/**
 * A tenant's own CAs over HTTP, with real openssl on the tenant's side:
 * external CAs ("bring your own CA": upload checks, self-registration and
 * pre-registration, binding one certificate per device identity, removal
 * revoking what is bound) and delegated intermediates (issued from a CSR
 * whose key openssl keeps, judged by `openssl verify`/`x509 -text`/`ocsp`,
 * and device certificates they sign accepted through the chain), identity
 * rules naming the device type, and tenant isolation. PostgreSQL, then
 * SQLite; local custody.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { canonicalSerialNumber } from '../../src/certificates/certificate-queries.js';
import { Clock } from '../../src/shared/clock.js';
import { TestInstallation, backendName, type Backend, type CcmUnderTest } from '../support/ccm-under-test.js';
import { type TestDatabase, storedContent } from '../support/databases.js';
import { readWholeFeed } from '../support/event-feed.js';
import { assertValidEvent } from '../support/event-schema.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';
const SUITE_BACKENDS: readonly Backend[] = [
  { database: 'postgres', custody: 'local' },
  { database: 'sqlite', custody: 'local' },
];
const CA_EXTENSIONS = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash'];

/** The real time, moved by an offset: openssl stamps certificates with the real time, and some tests need ccm to live later. */
class OffsetClock extends Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}

interface FeedEvent {
  position: string;
  type: string;
  tenantId: string;
  authorityId: string;
  certificateId: string | null;
  reason: string | null;
  state: string;
  revokedCertificates?: number;
}

interface KeyPair {
  readonly keyPath: string;
  readonly certPath: string;
  readonly pem: string;
}

for (const backend of SUITE_BACKENDS) {
  describe(`tenant CAs (external and delegated) on ${backendName(backend)}`, () => {
    let installation: TestInstallation;
    let ccm: CcmUnderTest;
    let scratch: Scratch;
    const clock = new OffsetClock();
    let tenant: { id: string; rootAuthorityId: string };
    let tenantKey: string;
    let brokerKey: string;
    let counter = 0;

    before(async () => {
      installation = await TestInstallation.create(backend);
      ccm = await installation.start({ clock });
      scratch = await Scratch.create();
      const created = (await ccm.api().post('/v1/tenants').send({ name: `trust-a-${Date.now()}` }).expect(201)).body;
      tenant = { id: created.id, rootAuthorityId: created.rootAuthority.id };
      tenantKey = await ccm.createApiKey('tenant', tenant.id);
      brokerKey = await ccm.createApiKey('broker');
    });

    after(async () => {
      await ccm?.close();
      await installation?.destroy();
      await scratch?.cleanup();
    });

    const unique = (label: string) => `${label}-${++counter}`;
    const asTenant = () => ccm.api(tenantKey);
    const authorities = (tenantId = tenant.id) => `/v1/tenants/${tenantId}/authorities`;
    const authenticate = (body: object) => ccm.api(brokerKey).post('/v1/authentications').send(body);

    async function ecKey(name: string): Promise<string> {
      return scratch.write(`${name}.key`, (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    }

    /** A self-signed certificate made the way a tenant's PKI makes its CA: openssl req -x509. */
    async function selfSigned(subject: string, extensions: readonly string[] = CA_EXTENSIONS, days = 2): Promise<KeyPair> {
      const name = unique('ca');
      const keyPath = await ecKey(name);
      const result = await openssl(['req', '-x509', '-new', '-key', keyPath, '-subj', subject, '-days', String(days), ...extensions.flatMap((e) => ['-addext', e])]);
      assert.equal(result.code, 0, result.stderr);
      return { keyPath, certPath: await scratch.write(`${name}.pem`, result.stdout), pem: result.stdout };
    }

    /** A device certificate that `issuer` signs, with its own key; `san` e.g. "DNS:a.example.com". */
    async function deviceCertificate(issuer: KeyPair, subject: string, options: { san?: string; extensions?: string } = {}): Promise<KeyPair & { serial: string }> {
      const name = unique('device');
      const keyPath = await ecKey(name);
      const csrPath = await scratch.write(`${name}.csr`, (await openssl(['req', '-new', '-key', keyPath, '-subj', subject])).stdout);
      const extensions = options.extensions ?? `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n${options.san ? `subjectAltName=${options.san}\n` : ''}`;
      const extPath = await scratch.write(`${name}.ext`, extensions);
      const serial = randomBytes(12).toString('hex');
      const result = await openssl(['x509', '-req', '-in', csrPath, '-CA', issuer.certPath, '-CAkey', issuer.keyPath, '-set_serial', `0x${serial}`, '-days', '1', '-extfile', extPath]);
      assert.equal(result.code, 0, result.stderr);
      return { keyPath, certPath: await scratch.write(`${name}.pem`, result.stdout), pem: result.stdout, serial: canonicalSerialNumber(serial) };
    }

    async function uploadExternal(ca: KeyPair, registration: 'self' | 'preregistered', key = tenantKey, tenantId = tenant.id): Promise<{ id: string; kind: string; status: string }> {
      return (await ccm.api(key).post(`${authorities(tenantId)}/external`).send({ name: unique('external'), certificatePem: ca.pem, registration }).expect(201)).body;
    }

    const feed = (): Promise<FeedEvent[]> => readWholeFeed<FeedEvent>(ccm);

    async function issuerOf(certPath: string): Promise<string> {
      return (await openssl(['x509', '-in', certPath, '-noout', '-issuer', '-nameopt', 'RFC2253'])).stdout.trim().replace(/^issuer=/, '');
    }

    test('an upload that is no CA, expired, without keyCertSign, with a bad self-signature or garbage is refused with 4xx and stores nothing', async () => {
      const before = await storedContent(installation.database);
      const refusal = async (certificatePem: string, status: number, type: string, body: object = {}) => {
        const res = await asTenant().post(`${authorities()}/external`).send({ name: 'refused', certificatePem, registration: 'self', ...body });
        assert.equal(res.status, status, res.text);
        assert.equal(res.body.type, `${PROBLEM}${type}`, res.text);
        assert.doesNotMatch(res.text, /PRIVATE KEY/);
      };
      const leaf = await selfSigned('/CN=not a CA', ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature']);
      await refusal(leaf.pem, 400, 'not-a-ca');
      const noCertSign = await selfSigned('/CN=signs nothing', ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature']);
      await refusal(noCertSign.pem, 400, 'not-a-ca');
      const shortLived = await selfSigned('/CN=short-lived CA', CA_EXTENSIONS, 1);
      clock.offsetMs = 2 * 86_400_000;
      try {
        await refusal(shortLived.pem, 400, 'invalid-request');
      } finally {
        clock.offsetMs = 0;
      }
      const good = await selfSigned('/O=Acme/CN=tampered CA');
      const der = Buffer.from(pemBlocks(good.pem)[0]!.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
      der[der.length - 1]! ^= 0x01;
      await refusal(`-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`, 400, 'invalid-request');
      await refusal('not a certificate at all', 400, 'malformed-pem');
      await refusal('-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n', 400, 'invalid-request');
      await refusal(good.pem + good.pem, 400, 'malformed-pem');
      await refusal(good.pem, 400, 'invalid-request', { registration: 'sometimes' });
      const missing = await asTenant().post(`${authorities()}/external`).send({ name: 'no mode', certificatePem: good.pem }).expect(400);
      assert.equal(missing.body.type, `${PROBLEM}invalid-request`);
      assert.equal(await storedContent(installation.database), before, 'nothing was stored');
    });

    test('self-registration: 8 concurrent first connections make one device, one certificate record and one event; another certificate for the identity is refused', async () => {
      const ca = await selfSigned('/O=Acme/CN=Acme devices CA');
      const external = await uploadExternal(ca, 'self');
      assert.equal(external.kind, 'external');
      assert.equal(external.status, 'active');
      assert.equal((external as unknown as { registration: string }).registration, 'self');
      assert.equal('custodyKeyName' in external, false);
      const listed = (await asTenant().get(authorities()).expect(200)).body.items as { id: string; kind: string }[];
      assert.equal(listed[0]!.id, tenant.rootAuthorityId, 'in creation order: the root first');
      assert.equal(listed[0]!.kind, 'tenant-root');
      assert.ok(listed.some((a) => a.id === external.id && a.kind === 'external'));
      assert.ok(listed.every((a) => ['tenant-root', 'intermediate', 'external'].includes(a.kind)));

      const device = await deviceCertificate(ca, '/O=Acme/CN=sensor-1');
      const before = (await feed()).length;
      const answers = await Promise.all(Array.from({ length: 8 }, () => authenticate({ certificatePem: device.pem })));
      for (const res of answers) {
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.decision, 'accepted');
        assert.equal(res.body.deviceId, 'sensor-1');
        assert.equal(res.body.deviceType, null);
        assert.equal(res.body.authorityKind, 'external');
        assert.equal(res.body.authorityId, external.id);
        assert.equal(res.body.tenantId, tenant.id);
        assert.equal(res.body.state, 'active');
      }
      const certificateId = answers[0]!.body.certificateId as string;
      assert.ok(answers.every((res) => res.body.certificateId === certificateId), 'every answer names the one record');
      const events = (await feed()).slice(before);
      assert.deepEqual(events.map((e) => [e.type, e.certificateId, e.authorityId]), [['certificate.activated', certificateId, external.id]]);
      const devices = (await asTenant().get(`${authorities()}/${external.id}/devices`).expect(200)).body.items;
      assert.equal(devices.length, 1);
      assert.equal(devices[0].identity, 'sensor-1');
      assert.equal(devices[0].certificateId, certificateId);
      const rows = await installation.database.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM certificates WHERE authority_id = '${external.id}'`);
      assert.equal(Number(rows[0]!.n), 1);
      const record = (await asTenant().get(`/v1/tenants/${tenant.id}/certificates/${certificateId}`).expect(200)).body;
      assert.equal(record.keySource, 'external');
      assert.equal(record.serialNumber, device.serial);
      assert.equal(record.state, 'active');
      assert.deepEqual(record.subjectAltNames, {}, 'the device certificate has no SAN, and ccm adds none to what it records');

      const impostor = await deviceCertificate(ca, '/O=Acme/CN=sensor-1');
      const refused = await authenticate({ certificatePem: impostor.pem }).expect(403);
      assert.equal(refused.body.type, `${PROBLEM}device-bound-elsewhere`);

      // The cheap path: a bound certificate by issuer and serial; one never seen is unknown (ccm cannot check a signature it has not seen).
      const issuer = await issuerOf(device.certPath);
      assert.equal((await authenticate({ issuer, serialNumber: device.serial }).expect(200)).body.certificateId, certificateId);
      const unseen = await deviceCertificate(ca, '/O=Acme/CN=sensor-2');
      assert.equal((await authenticate({ issuer, serialNumber: unseen.serial }).expect(403)).body.type, `${PROBLEM}certificate-unknown`);

      // A bound certificate follows the life cycle like ccm's own.
      await asTenant().post(`/v1/tenants/${tenant.id}/certificates/${certificateId}/suspend`).send({}).expect(200);
      assert.equal((await authenticate({ certificatePem: device.pem }).expect(403)).body.type, `${PROBLEM}certificate-suspended`);
      await asTenant().post(`/v1/tenants/${tenant.id}/certificates/${certificateId}/reactivate`).send({}).expect(200);
      await authenticate({ certificatePem: device.pem }).expect(200);
      assert.equal((await asTenant().post(`/v1/tenants/${tenant.id}/certificates/${certificateId}/renew`).send({}).expect(409)).body.type, `${PROBLEM}conflict`);

      // ccm signs nothing for a CA whose key it does not hold: no CRL, OCSP unauthorized, and the background CRL build after the suspension skipped it.
      await ccm.api().get(`/crl/${external.id}.crl`).expect(404);
      const ocsp = await ccm.api().post(`/ocsp/${external.id}`).set('content-type', 'application/ocsp-request').send(Buffer.from([0x30, 0x00])).buffer(true).parse(binary as never).expect(200);
      assert.equal((ocsp.body as Buffer).toString('hex'), '30030a0106', 'unauthorized');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const built = await installation.database.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM crl_scopes WHERE authority_id = '${external.id}'`);
      assert.equal(Number(built[0]!.n), 0);
      const uploaded = await installation.database.query<{ custody_key_name: string }>(`SELECT custody_key_name FROM authorities WHERE id = '${external.id}'`);
      assert.equal(uploaded[0]!.custody_key_name, '');

      // The same CA again, for this tenant or another, would make the tenant of its devices ambiguous.
      assert.equal((await asTenant().post(`${authorities()}/external`).send({ name: 'again', certificatePem: ca.pem, registration: 'self' }).expect(409)).body.type, `${PROBLEM}authority-name-taken`);
      const other = (await ccm.api().post('/v1/tenants').send({ name: unique('trust-dup') }).expect(201)).body;
      await ccm.api().post(`${authorities(other.id)}/external`).send({ name: 'theirs', certificatePem: ca.pem, registration: 'self' }).expect(409);
    });

    test('pre-registration: an unknown identity is refused and nothing is recorded; a registered one is accepted with its type; unregistering revokes its certificate with an event', async () => {
      const ca = await selfSigned('/O=Acme/CN=Acme meters CA');
      const external = await uploadExternal(ca, 'preregistered');
      const devicesUrl = `${authorities()}/${external.id}/devices`;
      const meter = await deviceCertificate(ca, '/CN=meter-1');
      const before = await storedContent(installation.database);
      assert.equal((await authenticate({ certificatePem: meter.pem }).expect(403)).body.type, `${PROBLEM}device-not-registered`);
      assert.equal(await storedContent(installation.database), before, 'a refused first sight records nothing');

      const registered = (await asTenant().post(devicesUrl).send({ identity: 'meter-1', deviceType: 'water-meter' }).expect(201)).body;
      assert.equal(registered.certificateId, null);
      assert.equal((await asTenant().post(devicesUrl).send({ identity: 'meter-1' }).expect(409)).body.type, `${PROBLEM}conflict`);
      assert.equal((await asTenant().post(devicesUrl).send({ identity: '' }).expect(400)).body.type, `${PROBLEM}invalid-request`);
      const accepted = (await authenticate({ certificatePem: meter.pem }).expect(200)).body;
      assert.equal(accepted.deviceId, 'meter-1');
      assert.equal(accepted.deviceType, 'water-meter');
      const listed = (await asTenant().get(devicesUrl).expect(200)).body.items;
      assert.deepEqual(listed.map((d: { id: string; certificateId: string }) => [d.id, d.certificateId]), [[registered.id, accepted.certificateId]]);

      const beforeRemoval = (await feed()).length;
      assert.deepEqual((await asTenant().delete(`${devicesUrl}/${registered.id}`).expect(200)).body, { revokedCertificate: true });
      const events = (await feed()).slice(beforeRemoval);
      assert.deepEqual(events.map((e) => [e.type, e.certificateId, e.reason, e.state]), [['certificate.revoked', accepted.certificateId, 'cessationOfOperation', 'revoked']]);
      for (const event of events) assertValidEvent(withoutPosition(event));
      assert.equal((await authenticate({ certificatePem: meter.pem }).expect(403)).body.type, `${PROBLEM}certificate-revoked`);
      await asTenant().delete(`${devicesUrl}/${registered.id}`).expect(404);
      assert.deepEqual((await asTenant().get(devicesUrl).expect(200)).body.items, []);
    });

    test('removing an external CA revokes what is bound under it with one authority.revoked event; it then authenticates nothing, bound or not', async () => {
      const ca = await selfSigned('/O=Acme/CN=Acme retired CA');
      const external = await uploadExternal(ca, 'self');
      const first = await deviceCertificate(ca, '/CN=old-1');
      const second = await deviceCertificate(ca, '/CN=old-2');
      const bound = [(await authenticate({ certificatePem: first.pem }).expect(200)).body.certificateId, (await authenticate({ certificatePem: second.pem }).expect(200)).body.certificateId];
      const before = (await feed()).length;
      const removed = (await asTenant().delete(`${authorities()}/${external.id}`).expect(200)).body;
      assert.equal(removed.revokedCertificates, 2);
      assert.equal(removed.authority.status, 'revoked');
      assert.equal(removed.authority.revocationReason, 'cessationOfOperation');
      const events = (await feed()).slice(before);
      assert.deepEqual(events.map((e) => [e.type, e.authorityId, e.certificateId, e.revokedCertificates, e.reason]), [['authority.revoked', external.id, null, 2, 'cessationOfOperation']]);
      for (const event of events) assertValidEvent(withoutPosition(event));
      for (const id of bound) assert.equal((await asTenant().get(`/v1/tenants/${tenant.id}/certificates/${id}`).expect(200)).body.state, 'revoked');

      assert.equal((await authenticate({ certificatePem: first.pem }).expect(403)).body.type, `${PROBLEM}certificate-revoked`);
      const never = await deviceCertificate(ca, '/CN=old-3');
      assert.equal((await authenticate({ certificatePem: never.pem }).expect(403)).body.type, `${PROBLEM}certificate-revoked`);
      assert.equal((await authenticate({ issuer: await issuerOf(first.certPath), serialNumber: first.serial }).expect(403)).body.type, `${PROBLEM}certificate-revoked`);
      assert.equal((await asTenant().delete(`${authorities()}/${external.id}`).expect(409)).body.type, `${PROBLEM}illegal-transition`);
      assert.equal((await asTenant().get(`${authorities()}/${external.id}`).expect(200)).body.status, 'revoked');
      assert.equal((await asTenant().delete(`${authorities()}/${tenant.rootAuthorityId}`).expect(409)).body.type, `${PROBLEM}conflict`, 'the tenant root is revoked elsewhere');

      // Trusting the CA again starts afresh, but a revoked certificate stays revoked.
      const again = await uploadExternal(ca, 'self');
      assert.equal((await authenticate({ certificatePem: first.pem }).expect(403)).body.type, `${PROBLEM}certificate-revoked`);
      assert.equal((await authenticate({ certificatePem: never.pem }).expect(200)).body.authorityId, again.id);
    });

    test('identity rules of an external CA: OU names the device type; a subject without it names no device', async () => {
      const ca = await selfSigned('/O=Acme/CN=Acme typed CA');
      const external = await uploadExternal(ca, 'self');
      // Set as the identity-rules API stores them (shared shape: IdentityRules).
      await setIdentityRules(installation.database, external.id, { identityAttribute: 'CN', deviceTypeAttribute: 'OU', subjectPolicy: [] });
      const typed = await deviceCertificate(ca, '/O=Acme/OU=water-meter/CN=wm-1');
      const accepted = (await authenticate({ certificatePem: typed.pem }).expect(200)).body;
      assert.equal(accepted.deviceId, 'wm-1');
      assert.equal(accepted.deviceType, 'water-meter');
      const device = (await asTenant().get(`${authorities()}/${external.id}/devices`).expect(200)).body.items[0];
      assert.equal(device.deviceType, 'water-meter');
      const untyped = await deviceCertificate(ca, '/O=Acme/CN=wm-2');
      assert.equal((await authenticate({ certificatePem: untyped.pem }).expect(403)).body.type, `${PROBLEM}identity-unmapped`);
      const twoTypes = await deviceCertificate(ca, '/OU=a/OU=b/CN=wm-3');
      assert.equal((await authenticate({ certificatePem: twoTypes.pem }).expect(403)).body.type, `${PROBLEM}identity-unmapped`);
    });

    test('ccm\'s own certificates: identity from the tenant root\'s rules (CN by default), on both paths', async () => {
      const own = (await asTenant().post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: 'own-1', ttlSeconds: 3600 }).expect(201)).body;
      const accepted = (await authenticate({ certificatePem: own.certificatePem + own.chainPem }).expect(200)).body;
      assert.deepEqual([accepted.deviceId, accepted.deviceType, accepted.authorityKind, accepted.state], ['own-1', null, 'tenant-root', 'active']);

      const keyPath = await ecKey('own-typed');
      const csr = (await openssl(['req', '-new', '-key', keyPath, '-subj', '/OU=gateway/CN=gw-1'])).stdout;
      const typed = (await asTenant().post(`/v1/tenants/${tenant.id}/certificates`).send({ csr, ttlSeconds: 3600 }).expect(201)).body;
      // Issued before the rules name a type, which issuance would then require of the subject.
      const untyped = (await asTenant().post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: 'no-type', ttlSeconds: 3600 }).expect(201)).body;
      await setIdentityRules(installation.database, tenant.rootAuthorityId, { identityAttribute: 'CN', deviceTypeAttribute: 'OU', subjectPolicy: [] });
      try {
        const byCertificate = (await authenticate({ certificatePem: typed.certificatePem }).expect(200)).body;
        assert.deepEqual([byCertificate.deviceId, byCertificate.deviceType], ['gw-1', 'gateway']);
        const leafPath = await scratch.write('own-typed.pem', typed.certificatePem);
        const bySerial = (await authenticate({ issuer: await issuerOf(leafPath), serialNumber: typed.serialNumber }).expect(200)).body;
        assert.deepEqual([bySerial.deviceId, bySerial.deviceType, bySerial.certificateId], ['gw-1', 'gateway', typed.id]);
        const before = (await feed()).length;
        assert.equal((await authenticate({ certificatePem: untyped.certificatePem }).expect(403)).body.type, `${PROBLEM}identity-unmapped`);
        assert.equal((await feed()).length, before, 'refused before activation: no event');
        assert.equal((await asTenant().get(`/v1/tenants/${tenant.id}/certificates/${untyped.id}`).expect(200)).body.state, 'inactive');
      } finally {
        await setIdentityRules(installation.database, tenant.rootAuthorityId, null);
      }
    });

    test('a delegated intermediate: openssl verifies it against ccm\'s chain with pathlen 0 and the name constraints; device certificates it signs authenticate with or without the chain', async () => {
      const caKey = await ecKey('intermediate');
      const csrPem = (await openssl(['req', '-new', '-key', caKey, '-subj', '/O=Acme/CN=Acme line 3 CA'])).stdout;
      const before = await storedContent(installation.database);
      assert.equal((await asTenant().post(`${authorities()}/intermediate`).send({ name: 'bad', csrPem: 'nope' }).expect(400)).body.type, `${PROBLEM}malformed-pem`);
      assert.equal((await asTenant().post(`${authorities()}/intermediate`).send({ name: 'bad', csrPem, permittedDnsDomains: ['*.example.com'] }).expect(400)).body.type, `${PROBLEM}invalid-request`);
      assert.equal((await asTenant().post(`${authorities()}/intermediate`).send({ name: 'bad', csrPem, ttlSeconds: 60 }).expect(400)).body.type, `${PROBLEM}ttl-out-of-range`);
      assert.equal(await storedContent(installation.database), before, 'refused requests store nothing');

      const issued = (
        await asTenant()
          .post(`${authorities()}/intermediate`)
          .send({ name: 'line 3', csrPem, ttlSeconds: 30 * 86_400, permittedDnsDomains: ['devices.example.com'], excludedDnsDomains: ['bad.devices.example.com'] })
          .expect(201)
      ).body;
      assert.equal(issued.kind, 'intermediate');
      assert.equal(issued.issuerAuthorityId, tenant.rootAuthorityId);
      assert.equal(issued.registration, 'self');
      assert.doesNotMatch(JSON.stringify(issued), /PRIVATE KEY/);
      const stored = await installation.database.query<{ custody_key_name: string; certificate_pem: string }>(`SELECT custody_key_name, certificate_pem FROM authorities WHERE id = '${issued.id}'`);
      assert.equal(stored[0]!.custody_key_name, '');
      assert.equal(stored[0]!.certificate_pem, issued.certificatePem);
      const intermediate: KeyPair = { keyPath: caKey, certPath: await scratch.write('intermediate.pem', issued.certificatePem), pem: issued.certificatePem };
      const chainPath = await scratch.write('intermediate-chain.pem', issued.chainPem);
      const verified = await openssl(['verify', '-CAfile', chainPath, intermediate.certPath]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      const text = (await openssl(['x509', '-in', intermediate.certPath, '-noout', '-text'])).stdout;
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
      assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
      assert.match(text, /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:devices\.example\.com\s+Excluded:\s+DNS:bad\.devices\.example\.com/);
      assert.match(text, /X509v3 Subject Key Identifier/);
      assert.match(text, /X509v3 Authority Key Identifier/);
      const notAfter = new Date((await openssl(['x509', '-in', intermediate.certPath, '-noout', '-enddate'])).stdout.trim().replace(/^notAfter=/, ''));
      assert.ok(Math.abs(notAfter.getTime() - (Date.now() + 30 * 86_400_000)) < 120_000, `30 days: ${notAfter.toISOString()}`);

      const device = await deviceCertificate(intermediate, '/O=Acme/CN=line3-dev-1', { san: 'DNS:line3-dev-1.devices.example.com' });
      const deviceVerified = await openssl(['verify', '-CAfile', chainPath, '-untrusted', intermediate.certPath, '-purpose', 'sslclient', device.certPath]);
      assert.equal(deviceVerified.code, 0, deviceVerified.stdout + deviceVerified.stderr);
      const alone = (await authenticate({ certificatePem: device.pem }).expect(200)).body;
      assert.deepEqual([alone.authorityKind, alone.authorityId, alone.deviceId, alone.tenantId], ['intermediate', issued.id, 'line3-dev-1', tenant.id]);
      const recorded = (await asTenant().get(`/v1/tenants/${tenant.id}/certificates/${alone.certificateId}`).expect(200)).body;
      assert.deepEqual(recorded.subjectAltNames, { dns: ['line3-dev-1.devices.example.com'] }, 'its own SAN, as recorded at first authentication');
      const withChain = (await authenticate({ certificatePem: device.pem + issued.certificatePem + issued.chainPem }).expect(200)).body;
      assert.equal(withChain.certificateId, alone.certificateId);

      // A name the constraints exclude: openssl refuses the chain, and so does ccm.
      const outside = await deviceCertificate(intermediate, '/CN=intruder', { san: 'DNS:x.bad.devices.example.com' });
      const outsideVerified = await openssl(['verify', '-CAfile', chainPath, '-untrusted', intermediate.certPath, outside.certPath]);
      assert.notEqual(outsideVerified.code, 0);
      assert.match(outsideVerified.stdout + outsideVerified.stderr, /excluded subtree/);
      assert.equal((await authenticate({ certificatePem: outside.pem }).expect(403)).body.type, `${PROBLEM}untrusted-issuer`);

      // Its issuer answers for it over OCSP; ccm answers nothing in its name.
      const rootPath = await scratch.write('intermediate-root.pem', pemBlocks(issued.chainPem)[0]!);
      const responder = `${ccm.url}/ocsp/${tenant.rootAuthorityId}`;
      const ask = async () => {
        const result = await openssl(['ocsp', '-issuer', rootPath, '-CAfile', chainPath, '-cert', intermediate.certPath, '-url', responder]);
        assert.match(result.stdout + result.stderr, /Response verify OK/);
        return result.stdout;
      };
      assert.match(await ask(), /intermediate\.pem: good/);
      await ccm.api().get(`/crl/${issued.id}.crl`).expect(404);

      const beforeRevocation = (await feed()).length;
      const revoked = (await asTenant().post(`${authorities()}/${issued.id}/revoke`).send({ reason: 'keyCompromise' }).expect(200)).body;
      assert.equal(revoked.revokedCertificates, 1);
      const events = (await feed()).slice(beforeRevocation);
      assert.deepEqual(events.map((e) => [e.type, e.authorityId, e.revokedCertificates, e.reason]), [['authority.revoked', issued.id, 1, 'keyCompromise']]);
      for (const event of events) assertValidEvent(withoutPosition(event));
      assert.equal((await authenticate({ certificatePem: device.pem }).expect(403)).body.type, `${PROBLEM}certificate-revoked`);
      assert.match(await ask(), /intermediate\.pem: revoked[\s\S]*Reason: keyCompromise/);
    });

    test('revoking the tenant root CA takes its delegated intermediates and their devices with it', async () => {
      const other = (await ccm.api().post('/v1/tenants').send({ name: unique('trust-cascade') }).expect(201)).body;
      const caKey = await ecKey('cascade');
      const csrPem = (await openssl(['req', '-new', '-key', caKey, '-subj', '/CN=cascade CA'])).stdout;
      const issued = (await ccm.api().post(`${authorities(other.id)}/intermediate`).send({ name: 'cascade', csrPem, registration: 'self' }).expect(201)).body;
      const intermediate: KeyPair = { keyPath: caKey, certPath: await scratch.write('cascade.pem', issued.certificatePem), pem: issued.certificatePem };
      const device = await deviceCertificate(intermediate, '/CN=cascade-dev');
      await authenticate({ certificatePem: device.pem }).expect(200);
      const revocation = (await ccm.api().post(`/v1/tenants/${other.id}/ca/revoke`).send({ reason: 'cessationOfOperation' }).expect(200)).body;
      assert.equal(revocation.revokedCertificates, 1);
      assert.equal((await ccm.api().get(`${authorities(other.id)}/${issued.id}`).expect(200)).body.status, 'revoked');
      assert.equal((await authenticate({ certificatePem: device.pem }).expect(403)).body.type, `${PROBLEM}certificate-revoked`);
    });

    test('a tenant key sees its own CAs only: another tenant\'s path is 404, and so is another tenant\'s CA by id under its own path', async () => {
      const ca = await selfSigned('/O=Acme/CN=Acme private CA');
      const mine = await uploadExternal(ca, 'self');
      const other = (await ccm.api().post('/v1/tenants').send({ name: unique('trust-b') }).expect(201)).body;
      const otherKey = await ccm.createApiKey('tenant', other.id);
      const theirCa = await selfSigned('/O=Beta/CN=Beta CA');
      const theirs = await uploadExternal(theirCa, 'self', otherKey, other.id);
      const before = await storedContent(installation.database);

      const foreign = ccm.api(otherKey);
      for (const res of [
        await foreign.get(authorities()),
        await foreign.get(`${authorities()}/${mine.id}`),
        await foreign.delete(`${authorities()}/${mine.id}`),
        await foreign.post(`${authorities()}/${mine.id}/revoke`).send({}),
        await foreign.get(`${authorities()}/${mine.id}/devices`),
        await foreign.post(`${authorities()}/${mine.id}/devices`).send({ identity: 'x' }),
        await foreign.post(`${authorities()}/external`).send({ name: 'x', certificatePem: (await selfSigned('/CN=x')).pem, registration: 'self' }),
      ]) {
        assert.equal(res.status, 404, res.text);
        assert.equal(res.body.type, `${PROBLEM}not-found`);
      }
      // By id under its own path: B's CA does not exist for A.
      for (const res of [
        await foreign.get(`${authorities(other.id)}/${mine.id}`),
        await foreign.delete(`${authorities(other.id)}/${mine.id}`),
        await foreign.get(`${authorities(other.id)}/${mine.id}/devices`),
        await asTenant().get(`${authorities()}/${theirs.id}`),
        await asTenant().delete(`${authorities()}/${theirs.id}`),
        await asTenant().post(`${authorities()}/${theirs.id}/devices`).send({ identity: 'x' }),
      ]) {
        assert.equal(res.status, 404, res.text);
        assert.equal(res.body.type, `${PROBLEM}not-found`);
      }
      assert.equal(await storedContent(installation.database), before, 'nothing changed');
      const theirList = (await foreign.get(authorities(other.id)).expect(200)).body.items.map((a: { id: string }) => a.id);
      assert.ok(theirList.includes(theirs.id) && !theirList.includes(mine.id));
    });
  });
}

function withoutPosition(event: FeedEvent): object {
  const { position: _position, ...rest } = event;
  return rest;
}

async function setIdentityRules(database: TestDatabase, authorityId: string, rules: object | null): Promise<void> {
  const value = rules === null ? 'NULL' : `'${JSON.stringify(rules)}'`;
  if (database.kind === 'postgres') {
    await database.query(`UPDATE authorities SET identity_rules = ${value} WHERE id = '${authorityId}'`);
    return;
  }
  // The SQLite helper opens the file read-only; write through better-sqlite3 directly.
  const { default: Database } = await import('better-sqlite3');
  const path = (database.env as { CCM_SQLITE_PATH: string }).CCM_SQLITE_PATH;
  const db = new Database(path);
  try {
    db.prepare(`UPDATE authorities SET identity_rules = ${value} WHERE id = ?`).run(authorityId);
  } finally {
    db.close();
  }
}


function binary(res: NodeJS.ReadableStream, callback: (error: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => callback(null, Buffer.concat(chunks)));
}
