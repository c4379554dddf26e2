/**
 * The issuing CA end to end, over HTTP, on every backend (PostgreSQL and
 * SQLite × local and Vault custody): tenants, their root CAs, client
 * certificates both ways, checked by openssl, by curl against an openssl
 * TLS server and by a node:tls server, both requiring client certificates; each
 * certificate naming its record in one URI SAN (urn:uuid:<id>), or none when
 * CCM_CLIENT_CERTIFICATE_ID_URI=off; bad input answered with problem+json and
 * nothing stored; no private key anywhere in the database.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { BACKENDS, backendName, TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { dumpAllRows } from '../support/databases.js';
import { MutualTlsEndpoint, openssl, pemBlocks, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';

for (const backend of BACKENDS) {
  describe(`issuing CA on ${backendName(backend)}`, () => {
    let installation: TestInstallation;
    let ccm: CcmUnderTest;
    let scratch: Scratch;
    let tenantA: { id: string; chainPem: string };
    let tenantB: { id: string; chainPem: string };

    before(async () => {
      installation = await TestInstallation.create(backend);
      ccm = await installation.start();
      scratch = await Scratch.create();
      tenantA = await createTenant(ccm, `tenant-a-${Date.now()}`);
      tenantB = await createTenant(ccm, `tenant-b-${Date.now()}`);
    });

    after(async () => {
      await ccm?.close();
      await installation?.destroy();
      await scratch?.cleanup();
    });

    test('the platform CA exists after start: a self-signed P-256 CA', async () => {
      const res = await ccm.api().get('/v1/platform-ca').expect(200);
      assert.equal(res.body.status, 'active');
      assert.equal(res.body.keyAlgorithm, 'ecdsa-p256');
      const certificate = new X509Certificate(res.body.certificatePem);
      assert.equal(certificate.ca, true);
      assert.equal(certificate.subject, 'CN=ccm platform CA');
      assert.equal(certificate.checkIssued(certificate), true);
      assert.equal(certificate.verify(certificate.publicKey), true);
      assert.equal(certificate.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    });

    test('creating a tenant issues its root CA, signed by the platform CA and limited in path length', async () => {
      const tenant = await ccm.api().get(`/v1/tenants/${tenantA.id}`).expect(200);
      assert.equal(tenant.body.rootAuthority.kind, 'tenant-root');
      assert.equal(tenant.body.rootAuthority.status, 'active');
      const blocks = pemBlocks(tenantA.chainPem);
      assert.equal(blocks.length, 2, 'trust bundle = tenant root + platform CA');
      const platform = (await ccm.api().get('/v1/platform-ca')).body.certificatePem;
      assert.equal(blocks[1], platform);
      const rootPath = await scratch.write(`root-${tenantA.id}.pem`, blocks[0]!);
      const platformPath = await scratch.write('platform.pem', platform);
      const verified = await openssl(['verify', '-CAfile', platformPath, rootPath]);
      assert.equal(verified.code, 0, verified.stderr + verified.stdout);
      const text = await openssl(['x509', '-in', rootPath, '-noout', '-text']);
      assert.match(text.stdout, /CA:TRUE, pathlen:1/);
      assert.match(text.stdout, /Certificate Sign, CRL Sign/);
    });

    test('GET ca-chain serves the trust bundle as PEM', async () => {
      const res = await ccm.api().get(`/v1/tenants/${tenantA.id}/ca-chain`).expect(200);
      assert.match(res.headers['content-type'] ?? '', /application\/pem-certificate-chain/);
      assert.equal(res.text, tenantA.chainPem);
    });

    for (const keyAlgorithm of ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048']) {
      test(`a server-generated ${keyAlgorithm} certificate passes openssl verify -purpose sslclient and matches its key`, async () => {
        const res = await ccm.api()
          .post(`/v1/tenants/${tenantA.id}/certificates`)
          .send({ commonName: `dev-${keyAlgorithm}`, keyAlgorithm, ttlSeconds: 3600 })
          .expect(201);
        assert.equal(res.headers['cache-control'], 'no-store');
        assert.equal(res.body.state, 'inactive');
        assert.equal(res.body.keySource, 'server');
        assert.equal(res.body.keyAlgorithm, keyAlgorithm);
        assert.equal(res.body.chainPem, tenantA.chainPem);
        const certificate = new X509Certificate(res.body.certificatePem);
        assert.equal(certificate.subject, `CN=dev-${keyAlgorithm}`);
        assert.equal(certificate.fingerprint256.replace(/:/g, '').toLowerCase(), res.body.fingerprintSha256);
        assert.equal(certificate.serialNumber.toLowerCase().replace(/^(00)+/, ''), res.body.serialNumber);
        assert.equal(certificate.checkPrivateKey(createPrivateKey(res.body.privateKeyPem)), true);
        const lifetime = (Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / 1000;
        assert.ok(lifetime >= 3600 && lifetime <= 3600 + 61, `validity ${lifetime}s`);
        await verifyAsClient(scratch, tenantA.chainPem, res.body.certificatePem);
        const text = await openssl(['x509', '-noout', '-text'], { input: res.body.certificatePem });
        assert.match(text.stdout, /CA:FALSE/);
        assert.match(text.stdout, /TLS Web Client Authentication/);
        assert.match(text.stdout, /X509v3 Subject Key Identifier/);
        assert.match(text.stdout, /X509v3 Authority Key Identifier/);
        assert.match(text.stdout, keyAlgorithm === 'rsa-2048' ? /Digital Signature, Key Encipherment/ : /Digital Signature\n/);
      });
    }

    test('a certificate without a requested CN gets a generated one and the default TTL', async () => {
      const res = await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({}).expect(201);
      assert.match(res.body.commonName, /^[0-9a-f-]{36}$/);
      assert.equal(res.body.keyAlgorithm, 'ecdsa-p256');
      const days = (Date.parse(res.body.notAfter) - Date.parse(res.body.notBefore)) / 86_400_000;
      assert.ok(days > 364.9 && days < 365.1, `default validity ${days} days`);
    });

    test('a CSR is signed with its subject, and its extension requests are not copied', async () => {
      const key = await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
      const keyPath = await scratch.write('csr-device.key', key.stdout);
      const csr = await openssl([
        'req', '-new', '-key', keyPath, '-subj', '/O=Acme/OU=meters/CN=meter-7',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'extendedKeyUsage=serverAuth',
      ]);
      assert.equal(csr.code, 0, csr.stderr);
      const res = await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ csr: csr.stdout, ttlSeconds: 600 }).expect(201);
      assert.equal(res.body.privateKeyPem, null);
      assert.equal(res.body.keySource, 'csr');
      assert.equal(res.body.commonName, 'meter-7');
      const certificate = new X509Certificate(res.body.certificatePem);
      assert.equal(certificate.subject, 'O=Acme\nOU=meters\nCN=meter-7');
      assert.equal(certificate.ca, false);
      assert.equal(certificate.checkPrivateKey(createPrivateKey(key.stdout)), true);
      const text = await openssl(['x509', '-noout', '-text'], { input: res.body.certificatePem });
      assert.doesNotMatch(text.stdout, /Certificate Sign|TLS Web Server Authentication/);
      await verifyAsClient(scratch, tenantA.chainPem, res.body.certificatePem);
    });

    test('a server-key and a CSR certificate each carry exactly one SAN, URI:urn:uuid:<its id>, also in the record; the CSR\'s own names are not copied', async () => {
      const serverKey = (await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ commonName: 'urn-server-key', ttlSeconds: 600 }).expect(201)).body;
      const key = await scratch.write('urn-csr.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
      const csr = await openssl(['req', '-new', '-key', key, '-subj', '/CN=urn-csr', '-addext', 'subjectAltName=URI:urn:uuid:00000000-0000-7000-8000-000000000000,DNS:evil.example.com']);
      assert.equal(csr.code, 0, csr.stderr);
      const fromCsr = (await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ csr: csr.stdout, ttlSeconds: 600 }).expect(201)).body;
      assert.notEqual(serverKey.id, fromCsr.id);
      for (const issued of [serverKey, fromCsr]) {
        assert.match(issued.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a lowercase UUIDv7');
        const urn = `urn:uuid:${issued.id}`;
        assert.equal(await subjectAltNameOf(scratch, issued.certificatePem), `X509v3 Subject Alternative Name: \n    URI:${urn}`, issued.keySource);
        assert.equal(new X509Certificate(issued.certificatePem).subjectAltName, `URI:${urn}`);
        assert.deepEqual(issued.subjectAltNames, { uri: [urn] });
        const read = await ccm.api().get(`/v1/tenants/${tenantA.id}/certificates/${issued.id}`).expect(200);
        assert.deepEqual(read.body.subjectAltNames, { uri: [urn] });
        await verifyAsClient(scratch, tenantA.chainPem, issued.certificatePem);
      }
      const listed = await ccm.api().get(`/v1/tenants/${tenantA.id}/certificates`).query({ commonName: 'urn-csr' }).expect(200);
      assert.deepEqual(listed.body.items.map((item: { subjectAltNames: unknown }) => item.subjectAltNames), [{ uri: [`urn:uuid:${fromCsr.id}`] }]);
    });

    test('a renewed certificate names its own new id in its URN, and the renewed one keeps its own', async () => {
      const original = (await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ commonName: 'urn-renew', ttlSeconds: 600 }).expect(201)).body;
      const renewed = (await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates/${original.id}/renew`).send({ ttlSeconds: 600 }).expect(201)).body;
      assert.notEqual(renewed.id, original.id);
      assert.equal(renewed.previous.id, original.id);
      assert.equal(await subjectAltNameOf(scratch, renewed.certificatePem), `X509v3 Subject Alternative Name: \n    URI:urn:uuid:${renewed.id}`);
      assert.deepEqual(renewed.subjectAltNames, { uri: [`urn:uuid:${renewed.id}`] });
      assert.deepEqual(renewed.previous.subjectAltNames, { uri: [`urn:uuid:${original.id}`] });
      assert.deepEqual((await ccm.api().get(`/v1/tenants/${tenantA.id}/certificates/${renewed.id}`).expect(200)).body.subjectAltNames, { uri: [`urn:uuid:${renewed.id}`] });
    });

    test('with CCM_CLIENT_CERTIFICATE_ID_URI=off a certificate has no subjectAltName extension and its record none', async () => {
      // A second replica on the same installation, started with the setting off.
      const withoutUri = await installation.start({ env: { CCM_CLIENT_CERTIFICATE_ID_URI: 'off' } });
      try {
        const key = await scratch.write('no-urn-csr.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
        const csr = await openssl(['req', '-new', '-key', key, '-subj', '/CN=no-urn-csr', '-addext', 'subjectAltName=URI:urn:ccm:asked-for']);
        assert.equal(csr.code, 0, csr.stderr);
        const issued = [
          (await withoutUri.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ commonName: 'no-urn', ttlSeconds: 600 }).expect(201)).body,
          (await withoutUri.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ csr: csr.stdout, ttlSeconds: 600 }).expect(201)).body,
        ];
        for (const certificate of issued) {
          assert.equal(await subjectAltNameOf(scratch, certificate.certificatePem), '', certificate.keySource);
          const text = (await openssl(['x509', '-noout', '-text'], { input: certificate.certificatePem })).stdout;
          assert.doesNotMatch(text, /Subject Alternative Name|urn:/);
          assert.match(text, /X509v3 Authority Key Identifier/, 'the other extensions are still there');
          assert.equal(new X509Certificate(certificate.certificatePem).subjectAltName, undefined);
          assert.deepEqual(certificate.subjectAltNames, {});
          assert.deepEqual((await ccm.api().get(`/v1/tenants/${tenantA.id}/certificates/${certificate.id}`).expect(200)).body.subjectAltNames, {});
          await verifyAsClient(scratch, tenantA.chainPem, certificate.certificatePem);
        }
      } finally {
        await withoutUri.close();
      }
    });

    test('certificates are listed with filters and keyset pages, and read by id, serial and fingerprint', async () => {
      const commonName = `paged-${Date.now()}`;
      const issued = [];
      for (let i = 0; i < 3; i++) {
        issued.push((await ccm.api().post(`/v1/tenants/${tenantB.id}/certificates`).send({ commonName, ttlSeconds: 600 }).expect(201)).body);
      }
      const first = await ccm.api().get(`/v1/tenants/${tenantB.id}/certificates`).query({ commonName, limit: 2 }).expect(200);
      assert.deepEqual(first.body.items.map((c: { id: string }) => c.id), [issued[0].id, issued[1].id]);
      assert.equal(first.body.items[0].privateKeyPem, undefined);
      const second = await ccm.api().get(`/v1/tenants/${tenantB.id}/certificates`).query({ commonName, limit: 2, after: first.body.nextCursor }).expect(200);
      assert.deepEqual(second.body.items.map((c: { id: string }) => c.id), [issued[2].id]);
      assert.equal(second.body.nextCursor, null);
      const byState = await ccm.api().get(`/v1/tenants/${tenantB.id}/certificates`).query({ state: 'active' }).expect(200);
      assert.equal(byState.body.items.length, 0);
      const bySerialFilter = await ccm.api().get(`/v1/tenants/${tenantB.id}/certificates`).query({ serialNumber: issued[1].serialNumber.toUpperCase() }).expect(200);
      assert.deepEqual(bySerialFilter.body.items.map((c: { id: string }) => c.id), [issued[1].id]);

      const byId = await ccm.api().get(`/v1/tenants/${tenantB.id}/certificates/${issued[0].id}`).expect(200);
      assert.equal(byId.body.fingerprintSha256, issued[0].fingerprintSha256);
      assert.equal(byId.body.certificatePem, undefined);
      assert.equal(byId.body.privateKeyPem, undefined);
      const bySerial = await ccm.api().get(`/v1/tenants/${tenantB.id}/certificates/by-serial/${issued[0].serialNumber}`).expect(200);
      assert.equal(bySerial.body.id, issued[0].id);
      const colons = issued[0].fingerprintSha256.toUpperCase().match(/../g).join(':');
      const byFingerprint = await ccm.api().get(`/v1/tenants/${tenantB.id}/certificates/by-fingerprint/${colons}`).expect(200);
      assert.equal(byFingerprint.body.id, issued[0].id);
    });

    test('another tenant, or an unknown id, gets 404 problem+json', async () => {
      const issued = (await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ ttlSeconds: 600 }).expect(201)).body;
      for (const path of [
        `/v1/tenants/${tenantB.id}/certificates/${issued.id}`,
        `/v1/tenants/${tenantB.id}/certificates/by-serial/${issued.serialNumber}`,
        `/v1/tenants/${tenantB.id}/certificates/by-fingerprint/${issued.fingerprintSha256}`,
        `/v1/tenants/00000000-0000-7000-8000-000000000000`,
        `/v1/tenants/not-an-id/certificates`,
      ]) {
        const res = await ccm.api().get(path).expect(404);
        assert.match(res.headers['content-type'] ?? '', /application\/problem\+json/);
        assert.equal(res.body.type, `${PROBLEM}not-found`);
      }
      const list = await ccm.api().get(`/v1/tenants/${tenantB.id}/certificates`).query({ serialNumber: issued.serialNumber }).expect(200);
      assert.equal(list.body.items.length, 0);
    });

    // The server's only trust anchor is tenant A's root (a partial chain): trusting the whole
    // bundle would anchor at the platform CA and so accept every tenant's devices.
    test('a TLS endpoint trusting only tenant A\'s root accepts A\'s device and refuses B\'s, even with B\'s full chain', async () => {
      const a = (await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ commonName: 'tls-a', ttlSeconds: 600 }).expect(201)).body;
      const b = (await ccm.api().post(`/v1/tenants/${tenantB.id}/certificates`).send({ commonName: 'tls-b', ttlSeconds: 600 }).expect(201)).body;
      const endpoint = await MutualTlsEndpoint.start(pemBlocks(tenantA.chainPem)[0]!);
      try {
        const accepted = await endpoint.curl(a.certificatePem + a.chainPem, a.privateKeyPem);
        assert.equal(accepted.code, 0, accepted.stderr);
        assert.match(accepted.stdout, /s_server/);
        const refused = await endpoint.curl(b.certificatePem + b.chainPem, b.privateKeyPem);
        assert.notEqual(refused.code, 0, 'a device of tenant B got through');
      } finally {
        await endpoint.close();
      }
    });

    test('a node:tls server requiring client certificates of tenant A accepts A\'s device and rejects B\'s, even with B\'s full chain', async () => {
      const a = (await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ commonName: 'node-tls-a', ttlSeconds: 600 }).expect(201)).body;
      const b = (await ccm.api().post(`/v1/tenants/${tenantB.id}/certificates`).send({ commonName: 'node-tls-b', ttlSeconds: 600 }).expect(201)).body;
      const server = await NodeTlsServer.start(scratch, tenantA.chainPem);
      try {
        assert.equal(await server.connect(a.certificatePem + a.chainPem, a.privateKeyPem), 'hello node-tls-a');
        await assert.rejects(server.connect(b.certificatePem + b.chainPem, b.privateKeyPem));
        await assert.rejects(server.connect(b.certificatePem, b.privateKeyPem));
      } finally {
        await server.close();
      }
    });

    test('bad input gets a 4xx problem+json with a stable type, and stores nothing', async () => {
      const before = await certificateRowCount(installation);
      const goodKey = await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
      const goodCsr = (await openssl(['req', '-new', '-key', await scratch.write('bad-input.key', goodKey.stdout), '-subj', '/CN=bad-input'])).stdout;
      const tamperedCsr = tamperSignature(goodCsr);
      const rsa1024 = await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024']);
      const weakCsr = (await openssl(['req', '-new', '-key', await scratch.write('weak.key', rsa1024.stdout), '-subj', '/CN=weak'])).stdout;
      const cases: { body: unknown; status: number; type: string; raw?: string; contentType?: string }[] = [
        { body: { csr: 'not a pem at all' }, status: 400, type: 'malformed-pem' },
        { body: { csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }, status: 400, type: 'malformed-csr' },
        { body: { csr: tamperedCsr }, status: 400, type: 'bad-csr-signature' },
        { body: { csr: weakCsr }, status: 400, type: 'unsupported-algorithm' },
        { body: { csr: goodCsr, commonName: 'someone-else' }, status: 400, type: 'policy-violation' },
        { body: { csr: goodCsr, keyAlgorithm: 'ecdsa-p256' }, status: 400, type: 'invalid-request' },
        { body: { keyAlgorithm: 'dsa-1024' }, status: 400, type: 'unsupported-algorithm' },
        { body: { ttlSeconds: 0 }, status: 400, type: 'ttl-out-of-range' },
        { body: { ttlSeconds: 10 * 365 * 86400 }, status: 400, type: 'ttl-out-of-range' },
        { body: { ttlSeconds: 1.5 }, status: 400, type: 'invalid-request' },
        { body: { ttlSeconds: '3600' }, status: 400, type: 'invalid-request' },
        { body: { commonName: 'x'.repeat(65) }, status: 400, type: 'invalid-request' },
        { body: { commonName: 'bell\u0007' }, status: 400, type: 'invalid-request' },
        { body: { unexpected: true }, status: 400, type: 'invalid-request' },
        { body: null, raw: '{"commonName": ', status: 400, type: 'malformed-json' },
        { body: null, raw: JSON.stringify({ csr: 'A'.repeat(70_000) }), status: 413, type: 'payload-too-large' },
        { body: null, raw: 'commonName=x', contentType: 'text/plain', status: 415, type: 'unsupported-media-type' },
      ];
      for (const c of cases) {
        const req = ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`);
        const res = c.raw !== undefined ? await req.set('content-type', c.contentType ?? 'application/json').send(c.raw) : await req.send(c.body as object);
        assert.equal(res.status, c.status, `${JSON.stringify(c.body ?? c.raw).slice(0, 80)} → ${res.status} ${res.text.slice(0, 300)}`);
        assert.match(res.headers['content-type'] ?? '', /application\/problem\+json/);
        const problem = JSON.parse(res.text);
        assert.equal(problem.type, PROBLEM + c.type, res.text);
        assert.equal(problem.status, c.status);
        assert.equal(typeof problem.title, 'string');
        assert.doesNotMatch(res.text, /PRIVATE KEY|at .*\.js:\d+/);
      }
      const tenantCases: { body: object; status: number; type: string }[] = [
        { body: { name: '' }, status: 400, type: 'invalid-request' },
        { body: { name: '../etc' }, status: 400, type: 'invalid-request' },
        { body: { name: 'capped', maxTtlSeconds: 10 }, status: 400, type: 'ttl-out-of-range' },
        { body: { name: (await ccm.api().get(`/v1/tenants/${tenantA.id}`)).body.name }, status: 409, type: 'conflict' },
      ];
      for (const c of tenantCases) {
        const res = await ccm.api().post('/v1/tenants').send(c.body);
        assert.equal(res.status, c.status, res.text);
        assert.equal(res.body.type, PROBLEM + c.type, res.text);
      }
      assert.equal(await certificateRowCount(installation), before, 'no certificate row was stored by rejected requests');
    });

    test('a tenant cap on TTL is enforced', async () => {
      const capped = (await ccm.api().post('/v1/tenants').send({ name: `capped-${Date.now()}`, maxTtlSeconds: 3600 }).expect(201)).body;
      await ccm.api().post(`/v1/tenants/${capped.id}/certificates`).send({ ttlSeconds: 3600 }).expect(201);
      const over = await ccm.api().post(`/v1/tenants/${capped.id}/certificates`).send({ ttlSeconds: 3601 }).expect(400);
      assert.equal(over.body.type, `${PROBLEM}ttl-out-of-range`);
      assert.equal(over.body.maximum, 3600);
      const defaulted = (await ccm.api().post(`/v1/tenants/${capped.id}/certificates`).send({}).expect(201)).body;
      assert.ok(Date.parse(defaulted.notAfter) - Date.now() <= 3600_000);
    });

    test('tenants are listed in keyset pages', async () => {
      const page = await ccm.api().get('/v1/tenants').query({ limit: 1 }).expect(200);
      assert.equal(page.body.items.length, 1);
      assert.equal(typeof page.body.nextCursor, 'string');
      const rest = await ccm.api().get('/v1/tenants').query({ limit: 100, after: page.body.nextCursor }).expect(200);
      const ids = [page.body.items[0].id, ...rest.body.items.map((t: { id: string }) => t.id)];
      assert.ok(ids.includes(tenantA.id) && ids.includes(tenantB.id));
      assert.deepEqual([...ids].sort(), ids, 'creation order = id order');
      const bad = await ccm.api().get('/v1/tenants').query({ limit: 1000 }).expect(400);
      assert.equal(bad.body.type, `${PROBLEM}invalid-request`);
    });

    test('no private key is stored: every row of every table is free of key material', async () => {
      const keys: string[] = [];
      for (const keyAlgorithm of ['ecdsa-p256', 'ed25519', 'rsa-2048']) {
        const res = await ccm.api().post(`/v1/tenants/${tenantA.id}/certificates`).send({ keyAlgorithm, ttlSeconds: 600 }).expect(201);
        keys.push(res.body.privateKeyPem);
      }
      const dump = JSON.stringify(await dumpAllRows(installation.database));
      assert.ok(dump.includes(tenantA.id), 'the dump reads the real tables');
      assert.doesNotMatch(dump, /PRIVATE KEY/);
      for (const pem of keys) {
        const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
        const body = pem.split('\n').filter((l: string) => l && !l.startsWith('-----')).join('');
        for (const needle of [body.slice(0, 40), der.toString('hex').slice(-64), der.toString('base64').slice(-44, -4)]) {
          assert.ok(!dump.includes(needle), 'a fragment of a device private key was found in the database');
        }
      }
    });
  });
}

async function createTenant(ccm: CcmUnderTest, name: string): Promise<{ id: string; chainPem: string }> {
  const res = await ccm.api().post('/v1/tenants').send({ name }).expect(201);
  const chain = await ccm.api().get(`/v1/tenants/${res.body.id}/ca-chain`).expect(200);
  return { id: res.body.id, chainPem: chain.text };
}

async function verifyAsClient(scratch: Scratch, chainPem: string, certificatePem: string): Promise<void> {
  const chainPath = await scratch.write(`chain-${Math.random()}.pem`, chainPem);
  const leafPath = await scratch.write(`leaf-${Math.random()}.pem`, certificatePem);
  const result = await openssl(['verify', '-CAfile', chainPath, '-purpose', 'sslclient', leafPath]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /: OK/);
}

/** The subjectAltName extension as `openssl x509 -noout -ext subjectAltName` prints it; empty when there is none. */
async function subjectAltNameOf(scratch: Scratch, certificatePem: string): Promise<string> {
  const printed = await openssl(['x509', '-in', await scratch.write(`san-${Math.random()}.pem`, certificatePem), '-noout', '-ext', 'subjectAltName']);
  assert.equal(printed.code, 0, printed.stderr);
  return printed.stdout.trim();
}

async function certificateRowCount(installation: TestInstallation): Promise<number> {
  const [row] = await installation.database.query<{ count: string | number }>('SELECT COUNT(*) AS count FROM certificates');
  return Number(row!.count);
}

/** Flips one bit in the last byte of the CSR's DER: its signature no longer verifies, its structure still parses. */
function tamperSignature(pem: string): string {
  const body = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const der = Buffer.from(body, 'base64');
  der[der.length - 1]! ^= 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/**
 * A node:tls server that requires client certificates of one tenant. It trusts
 * the tenant's bundle; since the platform CA in it also certifies every other
 * tenant's root, it checks after the handshake that the device's issuer is the
 * tenant root itself (Node 20 ignores allowPartialTrustChain on servers).
 */
class NodeTlsServer {
  private constructor(
    private readonly server: tls.Server,
    private readonly port: number,
    private readonly serverCaPem: string,
  ) {}

  static async start(scratch: Scratch, tenantBundlePem: string): Promise<NodeTlsServer> {
    const tenantRoot = new X509Certificate(pemBlocks(tenantBundlePem)[0]!);
    const caKey = await scratch.write('node-tls-ca.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const caPem = (await openssl(['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=node tls server CA', '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE'])).stdout;
    const caPath = await scratch.write('node-tls-ca.pem', caPem);
    const serverKey = (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout;
    const csr = await scratch.write('node-tls.csr', (await openssl(['req', '-new', '-key', await scratch.write('node-tls.key', serverKey), '-subj', '/CN=127.0.0.1'])).stdout);
    const ext = await scratch.write('node-tls.ext', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    const serverPem = (await openssl(['x509', '-req', '-in', csr, '-CA', caPath, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-extfile', ext])).stdout;
    const server = tls.createServer({ key: serverKey, cert: serverPem, ca: tenantBundlePem, requestCert: true, rejectUnauthorized: true }, (socket) => {
      const device = socket.getPeerX509Certificate();
      if (!device || !device.checkIssued(tenantRoot) || !device.verify(tenantRoot.publicKey)) {
        socket.destroy();
        return;
      }
      socket.end(`hello ${socket.getPeerCertificate().subject.CN}`);
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    return new NodeTlsServer(server, address.port, caPem);
  }

  connect(certificateAndChainPem: string, privateKeyPem: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: this.port, ca: this.serverCaPem, key: privateKeyPem, cert: certificateAndChainPem });
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (data += chunk));
      socket.on('end', () => (data ? resolve(data) : reject(new Error('closed without a greeting'))));
      socket.on('close', () => (data ? resolve(data) : reject(new Error('closed without a greeting'))));
      socket.on('error', reject);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
