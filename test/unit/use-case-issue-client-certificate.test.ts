/**
 * IssueClientCertificate against in-memory ports and custody, with the real
 * CA role: a policy refusal leaves no record and asks custody nothing; an
 * issuance records pending then inactive, and its certificate verifies under
 * the tenant root, stays inside the root's validity and names its record
 * (urn:uuid) unless told not to; a custody failure leaves the record failed.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, id_ce_subjectAltName } from '@peculiar/asn1-x509';
import { IssueClientCertificate, type IssueClientCertificateCommand } from '../../src/certificates/issue-client-certificate.js';
import { inspectCertificate, verifyCertificateSignature } from '../../src/codec/certificate-inspection.js';
import type { Environment } from '@ccm/configuration';
import { RecordingIssuanceMetrics } from '../support/in-memory-ports.js';
import { MemoryInstallation, NOW, certificationRequest, derOf, foreignCertificationRequest, rejectsWith } from '../support/memory-installation.js';

const DAY_SECONDS = 86_400;

async function issuing(env: Environment = {}) {
  const installation = await MemoryInstallation.withTenant(env);
  const metrics = new RecordingIssuanceMetrics();
  const { ports } = installation;
  const issue = new IssueClientCertificate(installation.config, ports.tenants, ports.authorities, installation.issuers, ports.certificates, installation.ca, installation.clock, metrics);
  return { installation, metrics, issue, execute: (command: Omit<IssueClientCertificateCommand, 'tenantId'>) => issue.execute({ tenantId: installation.tenant.id, ...command }) };
}

function hasSubjectAltNameExtension(der: Uint8Array): boolean {
  return (AsnConvert.parse(der, Certificate).tbsCertificate.extensions ?? []).some((extension) => extension.extnID === id_ce_subjectAltName);
}

describe('IssueClientCertificate', () => {
  before(() => Logger.overrideLogger(false));

  describe('refuses by policy, recording nothing and asking custody nothing', () => {
    const refusals: { name: string; kind: string; command: () => Promise<Omit<IssueClientCertificateCommand, 'tenantId'>> }[] = [
      { name: 'a TTL under a minute', kind: 'ttl-out-of-range', command: async () => ({ ttlSeconds: 59 }) },
      { name: 'a TTL over the installation maximum', kind: 'ttl-out-of-range', command: async () => ({ ttlSeconds: 63_072_001 }) },
      { name: 'a TTL that is no integer', kind: 'ttl-out-of-range', command: async () => ({ ttlSeconds: 90.5 }) },
      { name: 'both a CSR and a keyAlgorithm', kind: 'invalid-request', command: async () => ({ csr: (await certificationRequest([{ attribute: 'CN', value: 'device-1' }])).pem, keyAlgorithm: 'ecdsa-p256' }) },
      { name: 'a key algorithm ccm does not generate for devices', kind: 'unsupported-algorithm', command: async () => ({ keyAlgorithm: 'rsa-4096' }) },
      { name: 'an unknown key algorithm', kind: 'unsupported-algorithm', command: async () => ({ keyAlgorithm: 'dsa-1024' }) },
      { name: 'a commonName of 65 characters', kind: 'invalid-request', command: async () => ({ commonName: 'x'.repeat(65) }) },
      { name: 'an empty commonName', kind: 'invalid-request', command: async () => ({ commonName: '' }) },
      { name: 'a CSR whose CN has 65 characters', kind: 'invalid-request', command: async () => ({ csr: await foreignCertificationRequest(`CN=${'x'.repeat(65)}`) }) },
      {
        name: 'a CSR subject attribute devices may not carry (DC)',
        kind: 'policy-violation',
        command: async () => ({ csr: (await certificationRequest([{ attribute: 'DC', value: 'example' }, { attribute: 'CN', value: 'device-1' }])).pem }),
      },
      { name: 'a commonName other than the CSR\'s CN', kind: 'policy-violation', command: async () => ({ csr: (await certificationRequest([{ attribute: 'CN', value: 'device-1' }])).pem, commonName: 'device-2' }) },
      { name: 'a renewal whose subject is not the renewed one\'s', kind: 'policy-violation', command: async () => ({ commonName: 'device-2', expectedSubject: 'CN=device-1', via: 'renew' as const }) },
      { name: 'a malformed CSR', kind: 'malformed-pem', command: async () => ({ csr: 'not a CSR' }) },
    ];
    for (const refusal of refusals) {
      it(`${refusal.kind} for ${refusal.name}`, async () => {
        const { installation, metrics, execute } = await issuing();
        const command = await refusal.command();
        const callsBefore = installation.custody.calls.length;

        await rejectsWith(execute(command), refusal.kind);

        assert.equal(installation.ports.tables.certificates.size, 0, 'no record');
        assert.equal(installation.custody.calls.length, callsBefore, 'no custody call');
        assert.deepEqual(metrics.failures, [refusal.kind]);
      });
    }

    it('ttl-out-of-range for a TTL over the tenant\'s own cap', async () => {
      const installation = new MemoryInstallation();
      await installation.platform.ensure();
      const { tenant } = await installation.createTenant.execute({ name: 'Capped', maxTtlSeconds: 3600 });
      const { ports } = installation;
      const issue = new IssueClientCertificate(installation.config, ports.tenants, ports.authorities, installation.issuers, ports.certificates, installation.ca, installation.clock, new RecordingIssuanceMetrics());
      const callsBefore = installation.custody.calls.length;

      const refusal = await rejectsWith(issue.execute({ tenantId: tenant.id, ttlSeconds: 3601 }), 'ttl-out-of-range');

      assert.equal(refusal.details['maximum'], 3600);
      assert.equal(ports.tables.certificates.size, 0);
      assert.equal(installation.custody.calls.length, callsBefore);
    });

    it('not-found for a tenant that does not exist', async () => {
      const { installation, issue } = await issuing();
      await rejectsWith(issue.execute({ tenantId: '01890000-0000-7000-8000-000000000000' }), 'not-found');
      assert.equal(installation.ports.tables.certificates.size, 0);
    });

    it('conflict when the tenant has no active root CA', async () => {
      const installation = new MemoryInstallation();
      await installation.platform.ensure();
      installation.custody.failingSign = 'unavailable';
      await rejectsWith(installation.createTenant.execute({ name: 'Rootless' }), 'custody-unavailable');
      installation.custody.failingSign = null;
      const tenant = (await installation.ports.tenants.findByName('Rootless'))!;
      const { ports } = installation;
      const issue = new IssueClientCertificate(installation.config, ports.tenants, ports.authorities, installation.issuers, ports.certificates, installation.ca, installation.clock, new RecordingIssuanceMetrics());
      const callsBefore = installation.custody.calls.length;

      await rejectsWith(issue.execute({ tenantId: tenant.id, commonName: 'device-1' }), 'conflict');

      assert.equal(ports.tables.certificates.size, 0);
      assert.equal(installation.custody.calls.length, callsBefore);
    });
  });

  it('records pending then inactive with the fingerprints of a certificate that verifies under the tenant root', async () => {
    const { installation, metrics, execute } = await issuing();
    const issued = await execute({ commonName: 'device-1', ttlSeconds: DAY_SECONDS });

    const der = derOf(issued.certificatePem);
    const record = installation.ports.tables.certificates.get(issued.certificate.id)!;
    assert.deepEqual(installation.ports.tables.statesOf(record.id), ['pending', 'inactive']);
    assert.deepEqual(record, issued.certificate);
    assert.equal(record.fingerprintSha256, createHash('sha256').update(der).digest('hex'));
    assert.equal(record.fingerprintSha1, createHash('sha1').update(der).digest('hex'));
    assert.equal(record.authorityId, installation.root.id);
    assert.equal(record.keySource, 'server');
    assert.equal(record.subject, 'CN=device-1');
    assert.ok(verifyCertificateSignature(der, installation.publicKeyOf(installation.root)), 'signed by the tenant root CA');
    const inspected = inspectCertificate(der);
    assert.equal(inspected.serialNumberHex, record.serialNumber);
    assert.equal(inspected.notAfter.getTime(), NOW.getTime() + DAY_SECONDS * 1000);
    assert.equal(inspected.notBefore.getTime(), NOW.getTime() - 60_000, 'backdated by CCM_CLIENT_CERT_BACKDATE_SECONDS');
    assert.match(issued.privateKeyPem ?? '', /BEGIN PRIVATE KEY/);
    assert.ok(issued.chainPem.includes(installation.root.certificatePem!), 'the chain starts at the tenant root');
    assert.deepEqual(await installation.ports.certificates.findById(installation.tenant.id, record.id), record);
    assert.deepEqual(metrics.issuedCertificates, [{ tenantId: installation.tenant.id, algorithm: 'ecdsa-p256', method: 'keygen' }]);
  });

  it('certifies the key and subject of a CSR', async () => {
    const { installation, execute } = await issuing();
    const request = await certificationRequest([{ attribute: 'O', value: 'Acme' }, { attribute: 'CN', value: 'sensor-7' }], undefined, 'ed25519');
    const issued = await execute({ csr: request.pem });

    const inspected = inspectCertificate(derOf(issued.certificatePem));
    assert.deepEqual(inspected.subjectPublicKeyInfo, request.key.spki);
    assert.equal(issued.privateKeyPem, null);
    assert.equal(issued.certificate.keySource, 'csr');
    assert.equal(issued.certificate.keyAlgorithm, 'ed25519');
    assert.equal(issued.certificate.commonName, 'sensor-7');
    assert.equal(issued.certificate.publicKeySha256, createHash('sha256').update(request.key.spki).digest('hex'));
    assert.ok(verifyCertificateSignature(derOf(issued.certificatePem), installation.publicKeyOf(installation.root)));
  });

  it('ends the certificate with its issuer when the TTL asked for reaches past it', async () => {
    const { installation, execute } = await issuing({ CCM_TENANT_CA_VALIDITY_DAYS: '1' });
    const issued = await execute({ commonName: 'device-1', ttlSeconds: 2 * DAY_SECONDS });

    const root = inspectCertificate(derOf(installation.root.certificatePem!));
    assert.equal(issued.certificate.notAfter.getTime(), root.notAfter.getTime());
    assert.equal(inspectCertificate(derOf(issued.certificatePem)).notAfter.getTime(), root.notAfter.getTime());
  });

  it('starts the certificate no earlier than its issuer when the backdating reaches before it', async () => {
    // The tenant root is backdated 5 minutes; an hour of client backdating would reach before that.
    const { installation, execute } = await issuing({ CCM_CLIENT_CERT_BACKDATE_SECONDS: '3600' });
    const issued = await execute({ commonName: 'device-1' });

    const root = inspectCertificate(derOf(installation.root.certificatePem!));
    assert.equal(issued.certificate.notBefore.getTime(), root.notBefore.getTime());
    assert.equal(inspectCertificate(derOf(issued.certificatePem)).notBefore.getTime(), root.notBefore.getTime());
  });

  it('names its record as urn:uuid:<id> by default', async () => {
    const { execute } = await issuing();
    const issued = await execute({ commonName: 'device-1' });

    assert.deepEqual(inspectCertificate(derOf(issued.certificatePem)).subjectAltNames.uri, [`urn:uuid:${issued.certificate.id}`]);
    assert.deepEqual(issued.certificate.subjectAltNames, { uri: [`urn:uuid:${issued.certificate.id}`] });
  });

  it('carries no subject alternative name with CCM_CLIENT_CERTIFICATE_ID_URI=off', async () => {
    const { execute } = await issuing({ CCM_CLIENT_CERTIFICATE_ID_URI: 'off' });
    const issued = await execute({ commonName: 'device-1' });

    assert.equal(hasSubjectAltNameExtension(derOf(issued.certificatePem)), false);
    assert.deepEqual(issued.certificate.subjectAltNames, {});
  });

  for (const failing of ['unavailable', 'error'] as const) {
    it(`marks the record failed when custody is ${failing}`, async () => {
      const { installation, metrics, execute } = await issuing();
      installation.custody.failing = failing;

      await rejectsWith(execute({ commonName: 'device-1' }), `custody-${failing}`);

      const [record] = [...installation.ports.tables.certificates.values()];
      assert.ok(record, 'the record stays');
      assert.equal(record.state, 'failed');
      assert.equal(record.fingerprintSha256, null);
      assert.deepEqual(installation.ports.tables.statesOf(record.id), ['pending', 'failed']);
      assert.equal(await installation.ports.certificates.findById(installation.tenant.id, record.id), null, 'a failed record is no certificate');
      assert.deepEqual(metrics.failures, [`custody-${failing}`]);
    });
  }
});
