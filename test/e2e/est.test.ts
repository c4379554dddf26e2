/**
 * EST (RFC 7030) over HTTPS, driven by curl and checked by openssl: cacerts,
 * simpleenroll with an enrollment credential made through the API, and
 * simplereenroll authorised by the device's current certificate in the TLS
 * handshake. Refusals store nothing.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { openssl, pemBlocks, run, Scratch, type CommandResult } from '../support/openssl.js';

describe('EST over HTTPS (PostgreSQL + local custody)', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let scratch: Scratch;
  let serverCa: string;
  let tenant: { id: string; chainPem: string };
  let credential: { id: string; secret: string };

  before(async () => {
    scratch = await Scratch.create();
    const caKey = await scratch.write('server-ca.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    serverCa = await scratch.write('server-ca.pem', (await openssl(['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=EST test server CA', '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE'])).stdout);
    const serverKey = await scratch.write('server.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const csr = await scratch.write('server.csr', (await openssl(['req', '-new', '-key', serverKey, '-subj', '/CN=127.0.0.1'])).stdout);
    const ext = await scratch.write('server.ext', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    const serverCert = await scratch.write('server.pem', (await openssl(['x509', '-req', '-in', csr, '-CA', serverCa, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-extfile', ext])).stdout);
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' }, { CCM_TLS_CERT_FILE: serverCert, CCM_TLS_KEY_FILE: serverKey });
    ccm = await installation.start();
    assert.match(ccm.url, /^https:/);
    const created = (await api().post('/v1/tenants').send({ name: `est-${Date.now()}` }).expect(201)).body;
    tenant = { id: created.id, chainPem: (await api().get(`/v1/tenants/${created.id}/ca-chain`).expect(200)).text };
    credential = (await api().post(`/v1/tenants/${tenant.id}/enrollment-credentials`).send({ name: 'factory line 1' }).expect(201)).body;
  });

  after(async () => {
    await ccm?.close();
    await installation?.destroy();
    await scratch?.cleanup();
  });

  /** supertest over ccm's HTTPS, trusting the test server CA. */
  function api() {
    const agent = ccm.api();
    (agent as unknown as { ca(pem: Buffer): void }).ca(readFileSync(serverCa));
    return agent;
  }

  const est = (path: string, args: string[] = []): Promise<CommandResult> =>
    run('curl', ['-sS', '--max-time', '20', '--cacert', serverCa, '-o', '-', '-w', '\n%{http_code}', ...args, `${ccm.url}/.well-known/est/${tenant.id}/${path}`]);
  const status = (result: CommandResult): number => Number(result.stdout.trim().split('\n').pop());
  const body = (result: CommandResult): string => result.stdout.trim().split('\n').slice(0, -1).join('\n');

  /** base64 PKCS#7 → the PEM certificates in it, through openssl. */
  async function certificatesIn(base64: string): Promise<string[]> {
    const p7 = await scratch.write(`p7-${Math.random()}.b64`, `${base64}\n`);
    const der = scratch.path(`p7-${Math.random()}.der`);
    assert.equal((await openssl(['base64', '-d', '-in', p7, '-out', der])).code, 0);
    const printed = await openssl(['pkcs7', '-inform', 'DER', '-in', der, '-print_certs']);
    assert.equal(printed.code, 0, printed.stderr);
    return pemBlocks(printed.stdout);
  }

  async function csrBase64(keyPath: string, subject: string): Promise<string> {
    const der = scratch.path(`csr-${Math.random()}.der`);
    await openssl(['req', '-new', '-key', keyPath, '-subj', subject, '-outform', 'DER', '-out', der]);
    return (await openssl(['base64', '-in', der])).stdout;
  }

  /** The one URI of a certificate's subjectAltName, as openssl prints it. */
  async function uriOf(certPath: string): Promise<string> {
    const printed = (await openssl(['x509', '-in', certPath, '-noout', '-ext', 'subjectAltName'])).stdout;
    const match = /^X509v3 Subject Alternative Name: \n {4}URI:(\S+)\n$/.exec(printed);
    assert.ok(match, printed);
    return match[1]!;
  }

  async function certificateCount(): Promise<number> {
    const [row] = await installation.database.query<{ count: string | number }>('SELECT COUNT(*) AS count FROM certificates');
    return Number(row!.count);
  }

  test('cacerts returns the tenant chain as a base64 certs-only PKCS#7', async () => {
    const result = await est('cacerts', ['-D', scratch.path('cacerts.headers')]);
    assert.equal(status(result), 200, result.stderr);
    const certificates = await certificatesIn(body(result));
    assert.deepEqual(certificates.map((c) => c.replace(/\s+/g, '')), pemBlocks(tenant.chainPem).map((c) => c.replace(/\s+/g, '')));
  });

  test('simpleenroll with the enrollment credential issues a certificate that openssl verifies; a wrong or revoked credential gets 401 and nothing is stored', async () => {
    const key = await scratch.write('device.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const csr = await scratch.write('device.csr.b64', await csrBase64(key, '/CN=est-device-1'));
    const enrolled = await est('simpleenroll', ['-u', `${credential.id}:${credential.secret}`, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`]);
    assert.equal(status(enrolled), 200, enrolled.stdout + enrolled.stderr);
    const [certificate] = await certificatesIn(body(enrolled));
    const certPath = await scratch.write('device.pem', certificate!);
    const chainPath = await scratch.write('chain.pem', tenant.chainPem);
    const verified = await openssl(['verify', '-CAfile', chainPath, '-purpose', 'sslclient', certPath]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match((await openssl(['x509', '-in', certPath, '-noout', '-subject'])).stdout, /CN ?= ?est-device-1/);
    const [record] = (await api().get(`/v1/tenants/${tenant.id}/certificates`).query({ commonName: 'est-device-1' }).expect(200)).body.items;
    assert.equal(await uriOf(certPath), `urn:uuid:${record.id}`, 'an enrolled certificate names its record like any other');

    const before = await certificateCount();
    for (const auth of [[], ['-u', `${credential.id}:wrong`], ['-u', `01a20000-0000-7000-8000-000000000000:${credential.secret}`]]) {
      const refused = await est('simpleenroll', [...auth, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`, '-D', scratch.path('refused.headers')]);
      assert.equal(status(refused), 401, refused.stdout);
    }
    const garbage = await est('simpleenroll', ['-u', `${credential.id}:${credential.secret}`, '-H', 'Content-Type: application/pkcs10', '--data-binary', 'not base64 at all!']);
    assert.equal(status(garbage), 400);
    await api().delete(`/v1/tenants/${tenant.id}/enrollment-credentials/${credential.id}`).expect(204);
    const revoked = await est('simpleenroll', ['-u', `${credential.id}:${credential.secret}`, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`]);
    assert.equal(status(revoked), 401);
    assert.equal(await certificateCount(), before, 'refused enrollments store nothing');
    const listed = (await api().get(`/v1/tenants/${tenant.id}/enrollment-credentials`).expect(200)).body;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].secret, undefined, 'the secret is never listed');
    assert.notEqual(listed[0].revokedAt, null);
    const [row] = await installation.database.query<{ secret_hash: string }>('SELECT secret_hash FROM enrollment_credentials');
    assert.ok(!row!.secret_hash.includes(credential.secret), 'only a hash is stored');
  });

  test('simplereenroll is authorised by the current certificate over mutual TLS and keeps the identity', async () => {
    credential = (await api().post(`/v1/tenants/${tenant.id}/enrollment-credentials`).send({ name: 'line 2' }).expect(201)).body;
    const key = await scratch.write('re.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const csr = await scratch.write('re.csr.b64', await csrBase64(key, '/CN=est-device-2'));
    const enroll = await est('simpleenroll', ['-u', `${credential.id}:${credential.secret}`, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`]);
    const current = await scratch.write('re-current.pem', (await certificatesIn(body(enroll)))[0]!);

    const reenrolled = await est('simplereenroll', ['--cert', current, '--key', key, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`]);
    assert.equal(status(reenrolled), 200, reenrolled.stdout + reenrolled.stderr);
    const renewed = await scratch.write('re-new.pem', (await certificatesIn(body(reenrolled)))[0]!);
    const serial = async (path: string) => (await openssl(['x509', '-in', path, '-noout', '-serial'])).stdout;
    assert.notEqual(await serial(renewed), await serial(current));
    assert.match((await openssl(['x509', '-in', renewed, '-noout', '-subject'])).stdout, /CN ?= ?est-device-2/);
    const records = (await api().get(`/v1/tenants/${tenant.id}/certificates`).query({ commonName: 'est-device-2' }).expect(200)).body.items as { id: string }[];
    assert.deepEqual([await uriOf(current), await uriOf(renewed)], records.map((item) => `urn:uuid:${item.id}`), 'each certificate names its own record, in issuance order');

    const before = await certificateCount();
    const noCertificate = await est('simplereenroll', ['-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`]);
    assert.equal(status(noCertificate), 401);
    const otherIdentity = await scratch.write('other.csr.b64', await csrBase64(key, '/CN=someone-else'));
    const renamed = await est('simplereenroll', ['--cert', current, '--key', key, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${otherIdentity}`]);
    assert.equal(status(renamed), 400, 'the identity cannot change');
    const certificateId = (await api().get(`/v1/tenants/${tenant.id}/certificates`).query({ commonName: 'est-device-2', limit: 1 }).expect(200)).body.items[0].id;
    await api().post(`/v1/tenants/${tenant.id}/certificates/${certificateId}/suspend`).send({}).expect(200);
    const suspended = await est('simplereenroll', ['--cert', current, '--key', key, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`]);
    assert.equal(status(suspended), 403, 'a suspended certificate cannot renew itself');
    assert.equal(await certificateCount(), before, 'refused re-enrollments store nothing');

    // A device never used before, refused: it stays inactive and no event is written.
    const freshKey = await scratch.write('fresh.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const freshCsr = await scratch.write('fresh.csr.b64', await csrBase64(freshKey, '/CN=est-device-3'));
    const enrolled = await est('simpleenroll', ['-u', `${credential.id}:${credential.secret}`, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${freshCsr}`]);
    const fresh = await scratch.write('fresh.pem', (await certificatesIn(body(enrolled)))[0]!);
    const events = async () => (await api().get('/v1/events').query({ limit: 1000 }).expect(200)).body.items.length;
    const eventsBefore = await events();
    const notMe = await scratch.write('fresh-other.csr.b64', await csrBase64(freshKey, '/CN=not-me'));
    assert.equal(status(await est('simplereenroll', ['--cert', fresh, '--key', freshKey, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${notMe}`])), 400);
    assert.equal(await events(), eventsBefore, 'a refused re-enrollment writes no event');
    const record = (await api().get(`/v1/tenants/${tenant.id}/certificates`).query({ commonName: 'est-device-3' }).expect(200)).body.items[0];
    assert.equal(record.state, 'inactive', 'and is not a first use');
    assert.equal(record.lastUsedAt, null);
  });

  test('after a root rollover, cacerts carries both roots and a device of the old root re-enrolls onto the new one, same identity', async () => {
    const key = await scratch.write('rolled.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const csr = await scratch.write('rolled.csr.b64', await csrBase64(key, '/CN=est-device-rolled'));
    const enroll = await est('simpleenroll', ['-u', `${credential.id}:${credential.secret}`, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`]);
    const current = await scratch.write('rolled-current.pem', (await certificatesIn(body(enroll)))[0]!);
    const rollover = (await api().post(`/v1/tenants/${tenant.id}/ca/rollover`).send({}).expect(201)).body as { rootAuthority: { certificatePem: string }; previousAuthority: { certificatePem: string } };

    const cacerts = await certificatesIn(body(await est('cacerts')));
    assert.equal(cacerts.length, 3);
    assert.ok(cacerts.includes(pemBlocks(rollover.rootAuthority.certificatePem)[0]!) && cacerts.includes(pemBlocks(rollover.previousAuthority.certificatePem)[0]!));
    const reenrolled = await est('simplereenroll', ['--cert', current, '--key', key, '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}`]);
    assert.equal(status(reenrolled), 200, reenrolled.stdout + reenrolled.stderr);
    const renewed = await scratch.write('rolled-new.pem', (await certificatesIn(body(reenrolled)))[0]!);
    const issuerOf = async (path: string) => (await openssl(['x509', '-in', path, '-noout', '-issuer', '-nameopt', 'RFC2253'])).stdout.trim();
    const subjectOf = async (pem: string) => (await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], { input: pem })).stdout.trim().replace(/^subject=/, 'issuer=');
    assert.equal(await issuerOf(current), await subjectOf(rollover.previousAuthority.certificatePem));
    assert.equal(await issuerOf(renewed), await subjectOf(rollover.rootAuthority.certificatePem), 'signed by the active root');
    assert.match((await openssl(['x509', '-in', renewed, '-noout', '-subject'])).stdout, /CN ?= ?est-device-rolled/);
    const bundle = await scratch.write('rolled-bundle.pem', cacerts.join(''));
    for (const certificate of [current, renewed]) {
      const verified = await openssl(['verify', '-CAfile', bundle, certificate]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    }
  });
});
