/**
 * Structure tests for the CRL encoder: CRLs read back with @peculiar/asn1-x509
 * (an independent decoder) and with ccm's strict DER reader, signatures checked
 * with node:crypto. openssl's view of the same CRLs is in
 * test/medium/issuance-crl-openssl.test.ts.
 */
import { verify } from 'node:crypto';
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  CRLReason,
  CRLReasons,
  CertificateList,
  IssuingDistributionPoint,
  RevokedCertificate,
  type Extension,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  id_ce_issuingDistributionPoint,
} from '@peculiar/asn1-x509';
import { signatureSchemeFor, type KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import { REVOCATION_REASONS, type RevocationReason } from '@ccm/event-consumer/contract';
import { DomainError } from '../../src/shared/errors.js';
import { encodeCertificate } from '../../src/codec/certificate-encoder.js';
import { encodeCertificateList, type CertificateListRequest, type RevokedEntry } from '../../src/codec/certificate-list-encoder.js';
import { DerTag, readChildren, readSingleElement, type DerElement } from '../../src/codec/der.js';
import { encodeDistinguishedName, type DistinguishedName } from '../../src/codec/distinguished-name.js';
import { serialNumberFromHex, serialNumberToHex } from '../../src/codec/serial-number.js';
import type { Signer } from '../../src/codec/signer.js';
import { newTestKey, type TestKey } from '../support/test-keys.js';

const CA_SUBJECT: DistinguishedName = [
  { attribute: 'O', value: 'ccm test' },
  { attribute: 'CN', value: 'Tenant A Root' },
];
const THIS_UPDATE = new Date('2024-05-01T12:00:00Z');
const NEXT_UPDATE = new Date('2024-05-08T12:00:00Z');
const KEY_IDENTIFIER = Uint8Array.from(Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex'));
const IDP_URI = 'http://ccm.example.com/v1/crl/tenant-a.crl';

function listRequest(overrides: Partial<CertificateListRequest> = {}): CertificateListRequest {
  return {
    issuerName: encodeDistinguishedName(CA_SUBJECT),
    authorityKeyIdentifier: KEY_IDENTIFIER,
    crlNumber: 7n,
    thisUpdate: THIS_UPDATE,
    nextUpdate: NEXT_UPDATE,
    entries: [],
    ...overrides,
  };
}

function hex(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('hex');
}

function parse(der: Uint8Array): CertificateList {
  return AsnConvert.parse(der, CertificateList);
}

/** Children of the TBSCertList, read with the strict DER reader. */
function tbsElements(der: Uint8Array): DerElement[] {
  return readChildren(readChildren(readSingleElement(der))[0]!);
}

function crlExtension(list: CertificateList, oid: string): Extension | undefined {
  return list.tbsCertList.crlExtensions?.find((extension) => extension.extnID === oid);
}

/** The DER INTEGER in an extnValue as a bigint (asn1-x509's CRLNumber holds a JS number). */
function integerValue(der: ArrayBuffer): bigint {
  const element = readSingleElement(new Uint8Array(der));
  assert.equal(element.tag, DerTag.integer);
  assert.equal(element.content[0]! & 0x80, 0, 'positive');
  return BigInt(`0x${hex(element.content)}`);
}

function timeOf(time: { utcTime?: Date; generalTime?: Date }): { kind: 'utc' | 'generalized'; iso: string } {
  if (time.utcTime !== undefined) return { kind: 'utc', iso: time.utcTime.toISOString() };
  return { kind: 'generalized', iso: time.generalTime!.toISOString() };
}

function reasonCodeOf(entry: RevokedCertificate): number | null {
  if (entry.crlEntryExtensions === undefined) return null;
  assert.equal(entry.crlEntryExtensions.length, 1);
  const [extension] = entry.crlEntryExtensions;
  assert.equal(extension!.extnID, id_ce_cRLReasons);
  assert.equal(extension!.critical, false);
  return AsnConvert.parse(extension!.extnValue.buffer, CRLReason).reason;
}

function verifiesWith(key: TestKey, der: Uint8Array): boolean {
  const list = parse(der);
  const hash = signatureSchemeFor(key.signer.algorithm).hash;
  return verify(hash, new Uint8Array(list.tbsCertListRaw!), key.publicKey, new Uint8Array(list.signature));
}

async function rejection(promise: Promise<unknown>, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
    assert.equal(error.kind, 'invalid-request');
    if (message) assert.match(error.message, message);
    return true;
  });
}

describe('encodeCertificateList', () => {
  const keys = new Map<KeyAlgorithm, TestKey>();
  const ALGORITHMS: KeyAlgorithm[] = ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048'];

  before(async () => {
    await Promise.all(ALGORITHMS.map(async (algorithm) => keys.set(algorithm, await newTestKey(algorithm))));
  });

  for (const algorithm of ALGORITHMS) {
    it(`signs a ${algorithm} CRL with the AlgorithmIdentifier encodeCertificate writes, inside and outside`, async () => {
      const key = keys.get(algorithm)!;
      const der = await encodeCertificateList(listRequest(), key.signer);
      assert.ok(verifiesWith(key, der), 'signature verifies over the TBSCertList');

      const certificate = await encodeCertificate(
        {
          serialNumber: Uint8Array.of(1),
          issuerName: encodeDistinguishedName(CA_SUBJECT),
          issuerKeyIdentifier: null,
          subject: CA_SUBJECT,
          subjectPublicKeyInfo: key.spki,
          notBefore: THIS_UPDATE,
          notAfter: NEXT_UPDATE,
          profile: { kind: 'ca', pathLenConstraint: null },
        },
        key.signer,
      );
      const certificateAlgorithm = readChildren(readSingleElement(certificate))[1]!.bytes;
      const [tbs, outer] = readChildren(readSingleElement(der));
      assert.equal(hex(outer!.bytes), hex(certificateAlgorithm), 'CertificateList.signatureAlgorithm');
      assert.equal(hex(readChildren(tbs!)[1]!.bytes), hex(certificateAlgorithm), 'TBSCertList.signature');
      const list = parse(der);
      assert.equal(list.signatureAlgorithm.algorithm, signatureSchemeFor(algorithm).signatureOid);
    });
  }

  it('writes a v2 CRL with issuer, times, AKI and CRL number, and omits the IDP unless asked', async () => {
    const key = keys.get('ecdsa-p256')!;
    const der = await encodeCertificateList(listRequest({ crlNumber: 7n }), key.signer);
    const list = parse(der);
    const tbs = list.tbsCertList;
    assert.equal(tbs.version, 1, 'v2');
    assert.deepEqual(timeOf(tbs.thisUpdate), { kind: 'utc', iso: THIS_UPDATE.toISOString() });
    assert.deepEqual(timeOf(tbs.nextUpdate!), { kind: 'utc', iso: NEXT_UPDATE.toISOString() });
    assert.equal(hex(tbsElements(der)[2]!.bytes), hex(encodeDistinguishedName(CA_SUBJECT)));

    assert.deepEqual(
      tbs.crlExtensions!.map((extension) => extension.extnID),
      [id_ce_authorityKeyIdentifier, id_ce_cRLNumber],
    );
    const aki = crlExtension(list, id_ce_authorityKeyIdentifier)!;
    assert.equal(aki.critical, false);
    const authorityKeyIdentifier = AsnConvert.parse(aki.extnValue.buffer, AuthorityKeyIdentifier);
    assert.equal(hex(authorityKeyIdentifier.keyIdentifier!.buffer), hex(KEY_IDENTIFIER));
    assert.equal(authorityKeyIdentifier.authorityCertIssuer, undefined);
    assert.equal(authorityKeyIdentifier.authorityCertSerialNumber, undefined);
    const crlNumber = crlExtension(list, id_ce_cRLNumber)!;
    assert.equal(crlNumber.critical, false);
    assert.equal(integerValue(crlNumber.extnValue.buffer), 7n);
    assert.equal(crlExtension(list, id_ce_issuingDistributionPoint), undefined);
  });

  it('writes CRL numbers up to 2^159 - 1 as minimal positive INTEGERs', async () => {
    const key = keys.get('ed25519')!;
    for (const crlNumber of [1n, 127n, 128n, 255n, 256n, (1n << 159n) - 1n]) {
      const list = parse(await encodeCertificateList(listRequest({ crlNumber }), key.signer));
      const value = new Uint8Array(crlExtension(list, id_ce_cRLNumber)!.extnValue.buffer);
      assert.equal(integerValue(value.buffer as ArrayBuffer), crlNumber);
      const content = readSingleElement(value).content;
      assert.ok(content.length <= 20, 'at most 20 octets');
      assert.ok(content.length === 1 || content[0] !== 0 || (content[1]! & 0x80) !== 0, 'minimal');
    }
  });

  it('writes the IDP as a critical extension: one full-name URI, only user certificates', async () => {
    const key = keys.get('ecdsa-p256')!;
    const list = parse(await encodeCertificateList(listRequest({ issuingDistributionPointUri: IDP_URI }), key.signer));
    const extension = crlExtension(list, id_ce_issuingDistributionPoint)!;
    assert.equal(extension.critical, true);
    const point = AsnConvert.parse(extension.extnValue.buffer, IssuingDistributionPoint);
    assert.equal(point.distributionPoint!.fullName!.length, 1);
    assert.equal(point.distributionPoint!.fullName![0]!.uniformResourceIdentifier, IDP_URI);
    assert.equal(point.onlyContainsUserCerts, true);
    assert.equal(point.onlyContainsCACerts, false);
    assert.equal(point.indirectCRL, false);
    assert.equal(point.onlySomeReasons, undefined);
    // SEQUENCE { [0] { [0] { [6] uri } }, [1] TRUE }: the FALSE defaults are absent (DER, X.690 §11.5).
    const uri = Buffer.from(IDP_URI);
    const generalName = `86${uri.length.toString(16).padStart(2, '0')}${uri.toString('hex')}`;
    const fullName = `a0${(generalName.length / 2).toString(16).padStart(2, '0')}${generalName}`;
    const distributionPoint = `a0${(fullName.length / 2).toString(16).padStart(2, '0')}${fullName}`;
    const body = `${distributionPoint}8101ff`;
    assert.equal(hex(extension.extnValue.buffer), `30${(body.length / 2).toString(16).padStart(2, '0')}${body}`);
  });

  it('lists entries in order with serial, revocation date and reason code, leaving the reason out for unspecified', async () => {
    const key = keys.get('ecdsa-p256')!;
    const reasons = Object.keys(REVOCATION_REASONS) as RevocationReason[];
    const entries: RevokedEntry[] = reasons.map((reason, index) => ({
      serialNumber: (0x1000 + index).toString(16),
      revocationDate: new Date(Date.UTC(2024, 3, 20 + index, 8, 30, index)),
      reason,
    }));
    const der = await encodeCertificateList(listRequest({ entries }), key.signer);
    const revoked = parse(der).tbsCertList.revokedCertificates!;
    assert.equal(revoked.length, entries.length);
    revoked.forEach((entry, index) => {
      const expected = entries[index]!;
      assert.equal(serialNumberToHex(new Uint8Array(entry.userCertificate)), expected.serialNumber);
      assert.deepEqual(timeOf(entry.revocationDate), { kind: 'utc', iso: expected.revocationDate.toISOString() });
      const code = reasonCodeOf(entry);
      if (expected.reason === 'unspecified') assert.equal(code, null, 'reasonCode omitted for unspecified (RFC 5280 §5.3.1)');
      else assert.equal(code, REVOCATION_REASONS[expected.reason], expected.reason);
    });
    assert.equal(reasonCodeOf(revoked[reasons.indexOf('keyCompromise')]!), CRLReasons.keyCompromise);
    assert.equal(reasonCodeOf(revoked[reasons.indexOf('certificateHold')]!), CRLReasons.certificateHold);
    // ENUMERATED (0x0a), not INTEGER, inside a non-critical extension.
    assert.ok(hex(der).includes('300c300a0603551d1504030a0106'), 'certificateHold reasonCode');
    assert.ok(verifiesWith(key, der));
  });

  it('writes serials as positive DER INTEGERs, adding the 0x00 sign octet when the top bit is set', async () => {
    const key = keys.get('ed25519')!;
    const serials = ['01', '7f', '80', '0abc', 'c0ffee00000000000000000000000001', '7fffffffffffffffffffffffffffffffffffffff', 'ffffffffffffffffffffffffffffffffffffff'];
    const der = await encodeCertificateList(
      listRequest({ entries: serials.map((serialNumber) => ({ serialNumber, revocationDate: THIS_UPDATE, reason: 'superseded' })) }),
      key.signer,
    );
    const revoked = readChildren(tbsElements(der)[5]!);
    assert.deepEqual(
      revoked.map((entry) => hex(readChildren(entry)[0]!.content)),
      serials.map((serial) => hex(serialNumberFromHex(serial))),
    );
    assert.equal(hex(readChildren(revoked[2]!)[0]!.bytes), '02020080');
    assert.equal(hex(readChildren(revoked[3]!)[0]!.bytes), '02020abc');
  });

  it('leaves revokedCertificates out entirely when there are no entries', async () => {
    const key = keys.get('ecdsa-p256')!;
    const der = await encodeCertificateList(listRequest({ entries: [] }), key.signer);
    const elements = tbsElements(der);
    // version, signature, issuer, thisUpdate, nextUpdate, [0] crlExtensions: no SEQUENCE in between.
    assert.deepEqual(
      elements.map((element) => element.tag),
      [DerTag.integer, DerTag.sequence, DerTag.sequence, DerTag.utcTime, DerTag.utcTime, 0xa0],
    );
    assert.equal(parse(der).tbsCertList.revokedCertificates, undefined);
    assert.ok(verifiesWith(key, der));
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050, without fractions, for the update times and entries', async () => {
    const key = keys.get('ed25519')!;
    const der = await encodeCertificateList(
      listRequest({
        thisUpdate: new Date('2049-12-31T23:59:59.999Z'),
        nextUpdate: new Date('2050-01-01T00:00:00.500Z'),
        entries: [
          { serialNumber: 'a1', revocationDate: new Date('2049-12-31T23:59:59.250Z'), reason: 'keyCompromise' },
          { serialNumber: 'a2', revocationDate: new Date('2050-01-01T00:00:00Z'), reason: 'keyCompromise' },
          { serialNumber: 'a3', revocationDate: new Date('1950-01-01T00:00:00Z'), reason: 'keyCompromise' },
          { serialNumber: 'a4', revocationDate: new Date('1949-12-31T23:59:59Z'), reason: 'keyCompromise' },
        ],
      }),
      key.signer,
    );
    const elements = tbsElements(der);
    assert.equal(hex(elements[3]!.bytes), `170d${Buffer.from('491231235959Z').toString('hex')}`);
    assert.equal(hex(elements[4]!.bytes), `180f${Buffer.from('20500101000000Z').toString('hex')}`);
    assert.deepEqual(
      readChildren(elements[5]!).map((entry) => hex(readChildren(entry)[1]!.bytes)),
      ['491231235959Z', '20500101000000Z', '500101000000Z', '19491231235959Z'].map((text) => `${text.length === 13 ? '170d' : '180f'}${Buffer.from(text).toString('hex')}`),
    );
    const list = parse(der);
    assert.deepEqual(timeOf(list.tbsCertList.thisUpdate), { kind: 'utc', iso: '2049-12-31T23:59:59.000Z' });
    assert.deepEqual(timeOf(list.tbsCertList.nextUpdate!), { kind: 'generalized', iso: '2050-01-01T00:00:00.000Z' });
    assert.deepEqual(
      list.tbsCertList.revokedCertificates!.map((entry) => timeOf(entry.revocationDate).kind),
      ['utc', 'generalized', 'utc', 'generalized'],
    );
  });

  it('copies the issuer name byte for byte, even in a string type ccm would not write', async () => {
    const key = keys.get('ecdsa-p256')!;
    // CN=Old CA as a TeletexString.
    const issuerName = Buffer.from('3011310f300d06035504031406' + Buffer.from('Old CA').toString('hex'), 'hex');
    const der = await encodeCertificateList(listRequest({ issuerName }), key.signer);
    assert.equal(hex(tbsElements(der)[2]!.bytes), hex(issuerName));
  });

  it('is deterministic for Ed25519: the same request gives the same bytes', async () => {
    const key = keys.get('ed25519')!;
    const request = listRequest({
      issuingDistributionPointUri: IDP_URI,
      entries: [{ serialNumber: 'c0ffee', revocationDate: THIS_UPDATE, reason: 'cessationOfOperation' }],
    });
    assert.equal(hex(await encodeCertificateList(request, key.signer)), hex(await encodeCertificateList(request, key.signer)));
  });

  it('encodes 100,000 entries correctly', async (t) => {
    const key = keys.get('ecdsa-p256')!;
    const reasons: RevocationReason[] = ['unspecified', 'keyCompromise', 'certificateHold', 'superseded', 'cessationOfOperation'];
    const base = Date.UTC(2024, 0, 1);
    const entries: RevokedEntry[] = Array.from({ length: 100_000 }, (_, index) => ({
      // 128-bit-ish serials like newSerialNumber's, distinct, about half with the top bit set.
      serialNumber: serialNumberToHex(serialNumberFromHex(((BigInt(index + 1) * 0x9e3779b97f4a7c15f39cc0605cedc835n) % (1n << 128n)).toString(16))),
      revocationDate: new Date(base + index * 1000),
      reason: reasons[index % reasons.length]!,
    }));
    const started = performance.now();
    const der = await encodeCertificateList(listRequest({ entries, crlNumber: 100_000n }), key.signer);
    t.diagnostic(`100,000 entries: ${der.length} octets in ${(performance.now() - started).toFixed(0)} ms`);

    const [tbs, , signature] = readChildren(readSingleElement(der));
    const hash = signatureSchemeFor(key.signer.algorithm).hash;
    assert.ok(verify(hash, tbs!.bytes, key.publicKey, signature!.content.subarray(1)), 'signature verifies');
    const revoked = readChildren(readChildren(tbs!)[5]!);
    assert.equal(revoked.length, entries.length);
    for (let index = 0; index < revoked.length; index++) {
      const [serial, date, extensions, extra] = readChildren(revoked[index]!);
      const expected = entries[index]!;
      assert.equal(serial!.tag, DerTag.integer);
      assert.equal(serialNumberToHex(serial!.content), expected.serialNumber);
      assert.equal(date!.tag, DerTag.utcTime);
      assert.equal(extensions === undefined, expected.reason === 'unspecified');
      if (extensions !== undefined) assert.equal(extensions.bytes.at(-1), REVOCATION_REASONS[expected.reason]);
      assert.equal(extra, undefined);
    }
    // The independent decoder, entry by entry (asn1js refuses a tree this large in one piece).
    for (let index = 0; index < revoked.length; index += 997) {
      const entry = AsnConvert.parse(revoked[index]!.bytes, RevokedCertificate);
      assert.equal(serialNumberToHex(new Uint8Array(entry.userCertificate)), entries[index]!.serialNumber);
      assert.equal(entry.revocationDate.utcTime!.getTime(), entries[index]!.revocationDate.getTime());
      const code = reasonCodeOf(entry);
      assert.equal(code, entries[index]!.reason === 'unspecified' ? null : REVOCATION_REASONS[entries[index]!.reason]);
    }
  });

  describe('refuses requests it cannot encode', () => {
    const entry = (overrides: Partial<RevokedEntry>): RevokedEntry => ({ serialNumber: '0abc', revocationDate: THIS_UPDATE, reason: 'keyCompromise', ...overrides });

    it('invalid-request for serials not in serialNumberToHex form, zero, or longer than 20 octets', async () => {
      const signer = keys.get('ecdsa-p256')!.signer;
      for (const serialNumber of ['', '0', '00', '1', 'abc', '000abc', '0ABC', 'ab:cd', 'xyz', '-1', ' 0abc', '11'.repeat(21), `80${'00'.repeat(19)}`]) {
        await rejection(encodeCertificateList(listRequest({ entries: [entry({}), entry({ serialNumber: '0def' }), entry({ serialNumber })] }), signer), /entries\[2\]/);
      }
      // 20 octets without a sign octet is the largest allowed.
      await encodeCertificateList(listRequest({ entries: [entry({ serialNumber: `7${'f'.repeat(39)}` })] }), signer);
    });

    it('invalid-request for a serial listed twice', async () => {
      await rejection(encodeCertificateList(listRequest({ entries: [entry({}), entry({ reason: 'certificateHold' })] }), keys.get('ecdsa-p256')!.signer), /more than once/);
    });

    it('invalid-request when nextUpdate is not after thisUpdate (to the second)', async () => {
      const signer = keys.get('ecdsa-p256')!.signer;
      await rejection(encodeCertificateList(listRequest({ nextUpdate: THIS_UPDATE }), signer), /nextUpdate/);
      await rejection(encodeCertificateList(listRequest({ nextUpdate: new Date(THIS_UPDATE.getTime() - 1000) }), signer), /nextUpdate/);
      await rejection(encodeCertificateList(listRequest({ nextUpdate: new Date(THIS_UPDATE.getTime() + 999) }), signer), /nextUpdate/);
    });

    it('invalid-request for invalid dates', async () => {
      const signer = keys.get('ecdsa-p256')!.signer;
      await rejection(encodeCertificateList(listRequest({ thisUpdate: new Date(Number.NaN) }), signer), /thisUpdate/);
      await rejection(encodeCertificateList(listRequest({ nextUpdate: new Date('10000-01-01T00:00:00Z') }), signer), /nextUpdate/);
      await rejection(encodeCertificateList(listRequest({ entries: [entry({ revocationDate: new Date(Number.NaN) })] }), signer), /entries\[0\]\.revocationDate/);
    });

    it('invalid-request for a CRL number that is not positive or needs more than 20 octets', async () => {
      const signer = keys.get('ecdsa-p256')!.signer;
      for (const crlNumber of [0n, -1n, 1n << 159n, 1n << 160n]) {
        await rejection(encodeCertificateList(listRequest({ crlNumber }), signer), /crlNumber/);
      }
      await rejection(encodeCertificateList(listRequest({ crlNumber: 5 as unknown as bigint }), signer), /crlNumber/);
    });

    it('invalid-request for a malformed issuer name, an empty key identifier, an unknown reason or a non-HTTP IDP', async () => {
      const signer = keys.get('ecdsa-p256')!.signer;
      await rejection(encodeCertificateList(listRequest({ issuerName: Uint8Array.of(0x30, 0x00) }), signer), /issuer name/);
      await rejection(encodeCertificateList(listRequest({ issuerName: Uint8Array.of(0x30, 0x03, 0x31) }), signer), /issuer name/);
      await rejection(encodeCertificateList(listRequest({ authorityKeyIdentifier: new Uint8Array(0) }), signer), /key identifier/);
      await rejection(encodeCertificateList(listRequest({ entries: [entry({ reason: 'removeFromCRL' as RevocationReason })] }), signer), /reason/);
      await rejection(encodeCertificateList(listRequest({ issuingDistributionPointUri: 'file:///etc/crl' }), signer), /issuing distribution point/);
      await rejection(encodeCertificateList(listRequest({ issuingDistributionPointUri: 'not a uri' }), signer), /URI/);
    });

    it('asks the signer for nothing when the request is refused', async () => {
      let calls = 0;
      const signer: Signer = { algorithm: 'ed25519', sign: async () => (calls++, new Uint8Array(64)) };
      await rejection(encodeCertificateList(listRequest({ crlNumber: 0n }), signer));
      await rejection(encodeCertificateList(listRequest({ entries: [entry({ serialNumber: 'XYZ' })] }), signer));
      assert.equal(calls, 0);
    });
  });
});
