/**
 * What a tenant's own CA may vouch for, over HTTP with real openssl on the
 * tenant's side: device certificates of an external CA or a delegated
 * intermediate with a weak key or a serial RFC 5280 forbids are refused at
 * their first authentication with nothing recorded and the refusal audited;
 * good ones (short sequential serials included) are accepted; a replica with
 * a lowered minimum accepts what the default refuses. PostgreSQL, local custody:
 * the policy is the use case's, whatever the backend.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { canonicalSerialNumber } from '../../src/certificates/certificate-queries.js';
import { TestInstallation, type CcmUnderTest } from '../support/ccm-under-test.js';
import { storedContent } from '../support/databases.js';
import { readWholeFeed } from '../support/event-feed.js';
import { openssl, Scratch } from '../support/openssl.js';

const PROBLEM = 'urn:ccm:problem:';
const CA_EXTENSIONS = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash'];
const DEVICE_EXTENSIONS = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';

interface KeyPair {
  readonly keyPath: string;
  readonly certPath: string;
  readonly pem: string;
}

interface AuditEntry {
  readonly action: string;
  readonly outcome: string;
  readonly reason: string | null;
  readonly tenantId: string | null;
  readonly targetId: string | null;
  readonly details: Record<string, unknown> | null;
}

/** genpkey arguments of the device keys the tests use. */
const KEYS = {
  'RSA-1024': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'],
  'RSA-2048': ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  'P-224': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-224'],
  'P-256': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'P-521': ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
} as const;
type DeviceKey = keyof typeof KEYS;

describe('what a tenant\'s own CA may vouch for, on postgres + local custody', () => {
  let installation: TestInstallation;
  let ccm: CcmUnderTest;
  let scratch: Scratch;
  let tenant: { id: string; rootAuthorityId: string };
  let tenantKey: string;
  let brokerKey: string;
  let counter = 0;

  before(async () => {
    installation = await TestInstallation.create({ database: 'postgres', custody: 'local' });
    ccm = await installation.start();
    scratch = await Scratch.create();
    const created = (await ccm.api().post('/v1/tenants').send({ name: `policy-${Date.now()}` }).expect(201)).body;
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
  const authoritiesOf = () => `/v1/tenants/${tenant.id}/authorities`;
  const authenticate = (target: CcmUnderTest, pem: string) => target.api(brokerKey).post('/v1/authentications').send({ certificatePem: pem });

  async function key(kind: DeviceKey): Promise<string> {
    const generated = await openssl(['genpkey', ...KEYS[kind]]);
    assert.equal(generated.code, 0, generated.stderr);
    return scratch.write(`${unique('key')}.key`, generated.stdout);
  }

  /** A tenant's CA made with openssl req -x509 and uploaded as an external CA with self-registration. */
  async function externalCa(): Promise<KeyPair & { id: string }> {
    const keyPath = await key('P-256');
    const subject = `/O=Acme/CN=${unique('Acme policy CA')}`;
    const made = await openssl(['req', '-x509', '-new', '-key', keyPath, '-subj', subject, '-days', '2', ...CA_EXTENSIONS.flatMap((e) => ['-addext', e])]);
    assert.equal(made.code, 0, made.stderr);
    const uploaded = (await ccm.api(tenantKey).post(`${authoritiesOf()}/external`).send({ name: unique('external'), certificatePem: made.stdout, registration: 'self' }).expect(201)).body;
    return { keyPath, certPath: await scratch.write(`${unique('ca')}.pem`, made.stdout), pem: made.stdout, id: uploaded.id };
  }

  /** A device certificate `issuer` signs with openssl x509 -req (SHA-256 unless `digest` says otherwise); `serial` as -set_serial takes it ("0", "-1", "0x1001"). */
  async function device(issuer: KeyPair, kind: DeviceKey, serial: string, digest = 'sha256', subjectSuffix = ''): Promise<{ pem: string; serial: string; commonName: string }> {
    const commonName = unique(`device-${kind.toLowerCase()}`);
    const keyPath = await key(kind);
    const csrPath = await scratch.write(`${commonName}.csr`, (await openssl(['req', '-new', '-utf8', '-key', keyPath, '-subj', `${subjectSuffix}/CN=${commonName}`])).stdout);
    const extPath = await scratch.write(`${commonName}.ext`, DEVICE_EXTENSIONS);
    const signed = await openssl(['x509', '-req', '-in', csrPath, '-CA', issuer.certPath, '-CAkey', issuer.keyPath, '-set_serial', serial, '-days', '1', '-extfile', extPath, `-${digest}`]);
    assert.equal(signed.code, 0, signed.stderr);
    const printed = (await openssl(['x509', '-noout', '-serial'], { input: signed.stdout })).stdout.trim().replace(/^serial=/, '');
    return { pem: signed.stdout, serial: printed, commonName };
  }

  const devicesOf = async (authorityId: string): Promise<{ identity: string }[]> => (await ccm.api(tenantKey).get(`${authoritiesOf()}/${authorityId}/devices`).expect(200)).body.items;

  /** The latest refused device.authenticate entry of the audit trail. */
  async function lastRefusal(): Promise<AuditEntry> {
    await ccm.auditWritten();
    const page = (await ccm.api().get('/v1/audit-log').query({ action: 'device.authenticate', outcome: 'refused', limit: '1000' }).expect(200)).body as { items: AuditEntry[] };
    return page.items.at(-1)!;
  }

  /** Refused with `type`, the database as it was, and the refusal audited under the tenant with the serial number (`serial` null: under no tenant, as ccm could not tell which CA's it is). */
  async function assertRefusedRecordingNothing(pem: string, type: string, serial: string | null): Promise<Record<string, unknown>> {
    const before = await storedContent(installation.database);
    const events = (await readWholeFeed(ccm)).length;
    const res = await authenticate(ccm, pem);
    assert.equal(res.status, 403, res.text);
    assert.equal(res.body.type, `${PROBLEM}${type}`, res.text);
    assert.equal(await storedContent(installation.database), before, 'no certificate, no device, no outbox event');
    assert.equal((await readWholeFeed(ccm)).length, events, 'no event in the feed');
    const audited = await lastRefusal();
    assert.deepEqual([audited.reason, audited.tenantId, audited.targetId, audited.details?.['serialNumber']], [type, serial === null ? null : tenant.id, null, serial ?? undefined]);
    return res.body;
  }

  test('a device certificate of an external CA whose subject holds a format or control character outside the identity attribute is refused (identity-unmapped), recording nothing', async () => {
    const ca = await externalCa();
    for (const [index, value] of ['Acme\u202Eevil', 'Acme\u200B', 'Acme\u009B31m'].entries()) {
      const refused = await device(ca, 'P-256', `0x7e570${index + 1}`, 'sha256', `/O=${value}`);
      const body = await assertRefusedRecordingNothing(refused.pem, 'identity-unmapped', canonicalSerialNumber(refused.serial));
      assert.equal(body.attribute, 'O');
    }
    const clean = await device(ca, 'P-256', '0x7e5710', 'sha256', '/O=Acme Zürich');
    assert.equal((await authenticate(ccm, clean.pem).expect(200)).body.deviceId, clean.commonName);
  });

  test('403 certificate-weak-key for RSA-1024 and P-224 device certificates of an external CA: nothing recorded, no device registered, the refusal audited', async () => {
    const ca = await externalCa();
    const rsa1024 = await device(ca, 'RSA-1024', '0x5eed0001');
    const refused = await assertRefusedRecordingNothing(rsa1024.pem, 'certificate-weak-key', canonicalSerialNumber(rsa1024.serial));
    assert.equal(refused['algorithm'], 'RSA-1024');
    assert.match(String(refused['detail']), /RSA-1024 key is below the 2048-bit RSA minimum/);
    const p224 = await device(ca, 'P-224', '0x5eed0002');
    assert.equal((await assertRefusedRecordingNothing(p224.pem, 'certificate-weak-key', canonicalSerialNumber(p224.serial)))['algorithm'], 'P-224');
    assert.deepEqual(await devicesOf(ca.id), []);
    // Refused again on the next try: nothing was bound that a second look would find.
    assert.equal((await authenticate(ccm, rsa1024.pem).expect(403)).body.type, `${PROBLEM}certificate-weak-key`);
  });

  test('403 certificate-serial-invalid for serial 0 and a negative serial: nothing recorded, no device registered', async () => {
    const ca = await externalCa();
    const zero = await device(ca, 'P-256', '0');
    assert.equal(zero.serial, '00');
    assert.match(String((await assertRefusedRecordingNothing(zero.pem, 'certificate-serial-invalid', '00'))['detail']), /serial number is zero; RFC 5280 §4\.1\.2\.2/);
    const negative = await device(ca, 'P-256', '-1');
    assert.equal(negative.serial, '-01', 'openssl writes the INTEGER -1 (content 0xff)');
    assert.match(String((await assertRefusedRecordingNothing(negative.pem, 'certificate-serial-invalid', 'ff'))['detail']), /serial number is negative/);
    assert.deepEqual(await devicesOf(ca.id), []);
  });

  test('403 certificate-signature-unsupported for a SHA-1 signed device certificate (it was a 400 unsupported-algorithm, counted as a failure of ccm\'s): nothing recorded', async () => {
    const ca = await externalCa();
    const sha1 = await device(ca, 'P-256', '0x5a1', 'sha1');
    const refused = await assertRefusedRecordingNothing(sha1.pem, 'certificate-signature-unsupported', null);
    assert.equal(refused['algorithm'], 'ecdsa-with-SHA1');
    assert.deepEqual(await devicesOf(ca.id), []);
  });

  test('200 for RSA-2048, P-256 and P-521 device certificates, short sequential serials included; each registers its device', async () => {
    const ca = await externalCa();
    for (const [kind, serial] of [['RSA-2048', '0x01'], ['P-256', '0x02'], ['P-521', '0x1003']] as const) {
      const certificate = await device(ca, kind, serial);
      const accepted = (await authenticate(ccm, certificate.pem).expect(200)).body;
      assert.deepEqual([accepted.deviceId, accepted.authorityId, accepted.serialNumber], [certificate.commonName, ca.id, canonicalSerialNumber(certificate.serial)]);
      const record = (await ccm.api(tenantKey).get(`/v1/tenants/${tenant.id}/certificates/${accepted.certificateId}`).expect(200)).body;
      assert.equal(record.keyAlgorithm, { 'RSA-2048': 'rsa-2048', 'P-256': 'ecdsa-p256', 'P-521': 'other' }[kind]);
    }
    assert.equal((await devicesOf(ca.id)).length, 3);
  });

  test('a delegated intermediate\'s device certificates are held to the same bar: RSA-1024 refused with nothing recorded, P-256 accepted', async () => {
    const keyPath = await key('P-256');
    const csrPem = (await openssl(['req', '-new', '-key', keyPath, '-subj', `/O=Acme/CN=${unique('Acme line CA')}`])).stdout;
    const issued = (await ccm.api(tenantKey).post(`${authoritiesOf()}/intermediate`).send({ name: unique('line'), csrPem }).expect(201)).body;
    const intermediate: KeyPair = { keyPath, certPath: await scratch.write(`${unique('intermediate')}.pem`, issued.certificatePem), pem: issued.certificatePem };
    const weak = await device(intermediate, 'RSA-1024', '0x7001');
    await assertRefusedRecordingNothing(weak.pem, 'certificate-weak-key', canonicalSerialNumber(weak.serial));
    const good = await device(intermediate, 'P-256', '0x7002');
    assert.equal((await authenticate(ccm, good.pem).expect(200)).body.authorityKind, 'intermediate');
    assert.deepEqual((await devicesOf(issued.id)).map((d) => d.identity), [good.commonName]);
  });

  test('a replica started with CCM_EXTERNAL_DEVICE_MIN_RSA_BITS=1024 accepts the RSA-1024 certificate the default refuses, and still refuses P-224', async () => {
    const ca = await externalCa();
    const rsa1024 = await device(ca, 'RSA-1024', '0x9001');
    const p224 = await device(ca, 'P-224', '0x9002');
    assert.equal((await authenticate(ccm, rsa1024.pem).expect(403)).body.type, `${PROBLEM}certificate-weak-key`);
    const lenient = await installation.start({ env: { CCM_EXTERNAL_DEVICE_MIN_RSA_BITS: '1024' } });
    try {
      const accepted = (await authenticate(lenient, rsa1024.pem).expect(200)).body;
      assert.equal(accepted.deviceId, rsa1024.commonName);
      const record = (await ccm.api(tenantKey).get(`/v1/tenants/${tenant.id}/certificates/${accepted.certificateId}`).expect(200)).body;
      assert.deepEqual([record.keyAlgorithm, record.keySource, record.state], ['other', 'external', 'active']);
      assert.equal((await authenticate(lenient, p224.pem).expect(403)).body.type, `${PROBLEM}certificate-weak-key`);
    } finally {
      await lenient.close();
    }
    assert.deepEqual((await devicesOf(ca.id)).map((d) => d.identity), [rsa1024.commonName]);
  });
});
