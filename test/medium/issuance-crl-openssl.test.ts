/**
 * CRLs built by the CRL encoder, judged by the openssl command line the way a
 * broker checks revocation: the CRL's signature against the CA certificate,
 * its extensions as openssl prints them, and `openssl verify -crl_check` on
 * listed and unlisted client certificates, for every CA key algorithm.
 */
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_ALGORITHMS } from '../../src/codec/key-algorithm.js';
import { subjectKeyIdentifierOf, type CertificateProfile } from '../../src/codec/certificate-encoder.js';
import { encodeCertificateList, type CertificateListRequest, type RevokedEntry } from '../../src/codec/certificate-list-encoder.js';
import { inspectCertificate } from '../../src/codec/certificate-inspection.js';
import type { DistinguishedName } from '../../src/codec/distinguished-name.js';
import { encodePem } from '../../src/codec/pem.js';
import { newSerialNumber, serialNumberToHex } from '../../src/codec/serial-number.js';
import { openssl, Scratch, type CommandResult } from '../support/openssl.js';
import { issueTestCertificate, newTestKey, type TestKey } from '../support/test-keys.js';

interface IssuedCertificate {
  readonly der: Uint8Array;
  readonly key: TestKey;
  readonly serialNumber: string;
}

const HOUR = 3_600_000;
const CRL_URL = 'http://ccm.example.com/v1/crl/tenant-a.crl';

async function issue(subject: DistinguishedName, key: TestKey, profile: CertificateProfile, issuer: IssuedCertificate | null): Promise<IssuedCertificate> {
  const der = await issueTestCertificate(subject, key, profile, issuer, { lifetimeHours: 24 * 365, crlDistributionPoints: [CRL_URL] });
  return { der, key, serialNumber: inspectCertificate(der).serialNumberHex };
}

/** The CRL request a CA would make now: issuer name and AKI from the CA certificate, valid for a day. */
function crlRequestFor(ca: IssuedCertificate, entries: readonly RevokedEntry[], overrides: Partial<CertificateListRequest> = {}): CertificateListRequest {
  const now = Date.now();
  return {
    issuerName: inspectCertificate(ca.der).subjectName,
    authorityKeyIdentifier: subjectKeyIdentifierOf(ca.key.spki),
    crlNumber: 1n,
    thisUpdate: new Date(now - HOUR),
    nextUpdate: new Date(now + 24 * HOUR),
    entries,
    ...overrides,
  };
}

function output(result: CommandResult): string {
  return `${result.stdout}${result.stderr}`;
}

describe('CRLs checked by openssl', () => {
  let scratch: Scratch;

  before(async () => {
    scratch = await Scratch.create();
  });

  after(() => scratch.cleanup());

  async function writeCertificate(name: string, certificate: IssuedCertificate): Promise<string> {
    return scratch.write(name, encodePem(certificate.der, 'CERTIFICATE'));
  }

  /** Writes the CRL as DER (`name`.crl) and PEM (`name`.crl.pem); returns both paths. */
  async function writeCrl(name: string, der: Uint8Array): Promise<{ der: string; pem: string }> {
    const derPath = scratch.path(`${name}.crl`);
    await writeFile(derPath, der);
    return { der: derPath, pem: await scratch.write(`${name}.crl.pem`, encodePem(der, 'X509 CRL')) };
  }

  function verifyCrlSignature(crlDerPath: string, caPath: string): Promise<CommandResult> {
    return openssl(['crl', '-inform', 'DER', '-in', crlDerPath, '-CAfile', caPath, '-noout', '-verify']);
  }

  function verifyWithCrl(caPath: string, crlPemPath: string, leafPath: string): Promise<CommandResult> {
    return openssl(['verify', '-crl_check', '-CAfile', caPath, '-CRLfile', crlPemPath, leafPath]);
  }

  for (const algorithm of KEY_ALGORITHMS) {
    it(`openssl verifies a ${algorithm} CA's CRL, prints its number, reasons and IDP, and refuses the leaves it lists`, async () => {
      const ca = await issue([{ attribute: 'O', value: 'Tenant A' }, { attribute: 'CN', value: `Tenant A Root ${algorithm}` }], await newTestKey(algorithm), { kind: 'ca', pathLenConstraint: 0 }, null);
      const leafKey = await newTestKey('ecdsa-p256');
      const compromised = await issue([{ attribute: 'CN', value: 'device-compromised' }], leafKey, { kind: 'client' }, ca);
      const suspended = await issue([{ attribute: 'CN', value: 'device-suspended' }], leafKey, { kind: 'client' }, ca);
      const good = await issue([{ attribute: 'CN', value: 'device-good' }], leafKey, { kind: 'client' }, ca);
      const retired = serialNumberToHex(newSerialNumber());
      const revokedAt = new Date(Date.now() - HOUR / 2);
      const crlNumber = 0x1234_5678_9abc_def0_1234n;

      const der = await encodeCertificateList(
        crlRequestFor(
          ca,
          [
            { serialNumber: compromised.serialNumber, revocationDate: revokedAt, reason: 'keyCompromise' },
            { serialNumber: suspended.serialNumber, revocationDate: revokedAt, reason: 'certificateHold' },
            { serialNumber: retired, revocationDate: revokedAt, reason: 'unspecified' },
          ],
          { crlNumber, issuingDistributionPointUri: CRL_URL },
        ),
        ca.key.signer,
      );
      const name = `crl-${algorithm}`;
      const caPath = await writeCertificate(`${name}-ca.pem`, ca);
      const crl = await writeCrl(name, der);

      const signature = await verifyCrlSignature(crl.der, caPath);
      assert.equal(signature.code, 0, output(signature));
      assert.match(output(signature), /verify OK/);

      const text = await openssl(['crl', '-inform', 'DER', '-in', crl.der, '-noout', '-text']);
      assert.equal(text.code, 0, output(text));
      assert.match(text.stdout, /Version 2 \(0x1\)/);
      // openssl prints the number in decimal; this one needs 10 octets, beyond a JS number.
      assert.match(text.stdout, new RegExp(`X509v3 CRL Number:\\s*\\n\\s*${crlNumber.toString()}\\n`));
      assert.match(text.stdout, /X509v3 Authority Key Identifier:\s*\n\s*(keyid:)?([0-9A-F]{2}:){19}[0-9A-F]{2}/);
      assert.match(text.stdout, new RegExp(`X509v3 Issuing Distribution Point: critical\\s*\\n\\s*Full Name:\\s*\\n\\s*URI:${CRL_URL.replaceAll('.', '\\.')}\\s*Only User Certificates`));
      assert.match(text.stdout, new RegExp(`Serial Number: ${compromised.serialNumber.toUpperCase()}\\s*\\n\\s*Revocation Date: .*\\n\\s*CRL entry extensions:\\s*\\n\\s*X509v3 CRL Reason Code:\\s*\\n\\s*Key Compromise`));
      assert.match(text.stdout, new RegExp(`Serial Number: ${suspended.serialNumber.toUpperCase()}\\s*\\n\\s*Revocation Date: .*\\n\\s*CRL entry extensions:\\s*\\n\\s*X509v3 CRL Reason Code:\\s*\\n\\s*Certificate Hold`));
      // unspecified: no reasonCode, so no entry extensions at all.
      assert.match(text.stdout, new RegExp(`Serial Number: ${retired.toUpperCase()}\\s*\\n\\s*Revocation Date: [^\\n]*\\n(?!\\s*CRL entry extensions)`));
      assert.equal(text.stdout.match(/CRL Reason Code/g)?.length, 2);

      for (const [leaf, expectRevoked] of [
        [compromised, true],
        [suspended, true],
        [good, false],
      ] as const) {
        const leafPath = await writeCertificate(`${name}-leaf-${leaf.serialNumber}.pem`, leaf);
        const result = await verifyWithCrl(caPath, crl.pem, leafPath);
        if (expectRevoked) {
          assert.notEqual(result.code, 0, output(result));
          assert.match(output(result), /certificate revoked/);
        } else {
          assert.equal(result.code, 0, output(result));
          assert.match(result.stdout, /: OK\s*$/);
        }
      }
    });
  }

  it('openssl accepts an empty CRL without IDP (no revokedCertificates) and a nextUpdate in GeneralizedTime', async () => {
    const ca = await issue([{ attribute: 'CN', value: 'Tenant B Root' }], await newTestKey('ed25519'), { kind: 'ca', pathLenConstraint: 0 }, null);
    const leaf = await issue([{ attribute: 'CN', value: 'device-b' }], await newTestKey('ed25519'), { kind: 'client' }, ca);
    const der = await encodeCertificateList(crlRequestFor(ca, [], { crlNumber: 2n, nextUpdate: new Date('2050-06-01T00:00:00Z') }), ca.key.signer);
    const caPath = await writeCertificate('empty-ca.pem', ca);
    const crl = await writeCrl('empty', der);

    const signature = await verifyCrlSignature(crl.der, caPath);
    assert.equal(signature.code, 0, output(signature));
    assert.match(output(signature), /verify OK/);
    const text = await openssl(['crl', '-inform', 'DER', '-in', crl.der, '-noout', '-text']);
    assert.equal(text.code, 0, output(text));
    assert.match(text.stdout, /No Revoked Certificates/);
    assert.match(text.stdout, /Next Update: Jun {2}1 00:00:00 2050 GMT/);
    assert.doesNotMatch(text.stdout, /Issuing Distribution Point/);

    const result = await verifyWithCrl(caPath, crl.pem, await writeCertificate('empty-leaf.pem', leaf));
    assert.equal(result.code, 0, output(result));
  });

  it('openssl refuses a CRL signed by another key than the CA certificate names', async () => {
    const ca = await issue([{ attribute: 'CN', value: 'Tenant C Root' }], await newTestKey('ecdsa-p256'), { kind: 'ca', pathLenConstraint: 0 }, null);
    const leaf = await issue([{ attribute: 'CN', value: 'device-c' }], await newTestKey('ecdsa-p256'), { kind: 'client' }, ca);
    const impostor = await newTestKey('ecdsa-p256');
    // Issuer name and AKI of the CA, signature by another key.
    const der = await encodeCertificateList(crlRequestFor(ca, []), impostor.signer);
    const caPath = await writeCertificate('forged-ca.pem', ca);
    const crl = await writeCrl('forged', der);

    const signature = await verifyCrlSignature(crl.der, caPath);
    assert.doesNotMatch(output(signature), /verify OK/);
    const result = await verifyWithCrl(caPath, crl.pem, await writeCertificate('forged-leaf.pem', leaf));
    assert.notEqual(result.code, 0);
    assert.match(output(result), /CRL signature failure/);
  });

  it('openssl reads a CRL of 100,000 entries and finds a leaf listed last', async () => {
    const ca = await issue([{ attribute: 'CN', value: 'Tenant D Root' }], await newTestKey('ecdsa-p384'), { kind: 'ca', pathLenConstraint: 0 }, null);
    const leafKey = await newTestKey('ecdsa-p256');
    const listed = await issue([{ attribute: 'CN', value: 'device-listed' }], leafKey, { kind: 'client' }, ca);
    const unlisted = await issue([{ attribute: 'CN', value: 'device-unlisted' }], leafKey, { kind: 'client' }, ca);
    const revokedAt = new Date(Date.now() - HOUR / 2);
    const entries: RevokedEntry[] = [];
    const serials = new Set([listed.serialNumber, unlisted.serialNumber]);
    while (entries.length < 99_999) {
      const serialNumber = serialNumberToHex(newSerialNumber());
      if (serials.has(serialNumber)) continue;
      serials.add(serialNumber);
      entries.push({ serialNumber, revocationDate: revokedAt, reason: entries.length % 3 === 0 ? 'unspecified' : 'cessationOfOperation' });
    }
    entries.push({ serialNumber: listed.serialNumber, revocationDate: revokedAt, reason: 'keyCompromise' });
    const der = await encodeCertificateList(crlRequestFor(ca, entries, { crlNumber: 99n, issuingDistributionPointUri: CRL_URL }), ca.key.signer);
    const caPath = await writeCertificate('large-ca.pem', ca);
    const crl = await writeCrl('large', der);

    const signature = await verifyCrlSignature(crl.der, caPath);
    assert.equal(signature.code, 0, output(signature));
    assert.match(output(signature), /verify OK/);
    const revoked = await verifyWithCrl(caPath, crl.pem, await writeCertificate('large-listed.pem', listed));
    assert.notEqual(revoked.code, 0, output(revoked));
    assert.match(output(revoked), /certificate revoked/);
    const accepted = await verifyWithCrl(caPath, crl.pem, await writeCertificate('large-unlisted.pem', unlisted));
    assert.equal(accepted.code, 0, output(accepted));
  });
});
