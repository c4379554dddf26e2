/**
 * The pre-signing CRL lint (lintRevocationList in src/ca/certificate-lint.ts)
 * over the TBSCertList the real CRL encoder asks custody to sign: what ccm
 * signs passes, and each rule, broken in a TBSCertList re-encoded with one
 * field changed, yields exactly its finding. Certificates are in
 * ca-certificate-lint.test.ts.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { REVOCATION_REASONS, type RevocationReason } from '@ccm/event-consumer/contract';
import { CertificateLintFailed, lintRevocationList, type LintIssuer, type RevocationListLintPolicy } from '../../src/ca/certificate-lint.js';
import { subjectKeyIdentifierOf } from '../../src/codec/certificate-encoder.js';
import { encodeCertificateList, type CertificateListRequest, type RevokedEntry } from '../../src/codec/certificate-list-encoder.js';
import { DerTag, contextTag, decodeObjectIdentifier, encodeElement, encodeObjectIdentifier, readChildren, readSingleElement } from '../../src/codec/der.js';
import { encodeDistinguishedName } from '../../src/codec/distinguished-name.js';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import type { Signer } from '../../src/codec/signer.js';
import { newTestKey } from '../support/test-keys.js';

const DAY = 86_400_000;
const THIS_UPDATE = new Date('2026-12-01T00:00:00Z');
const NEXT_UPDATE = new Date('2026-12-08T00:00:00Z');

const OID = {
  authorityKeyIdentifier: '2.5.29.35',
  crlNumber: '2.5.29.20',
  issuingDistributionPoint: '2.5.29.28',
  deltaCrlIndicator: '2.5.29.27',
  reasonCode: '2.5.29.21',
  invalidityDate: '2.5.29.24',
} as const;

/** A Signer that keeps the bytes it is asked to sign (the TBSCertList) and returns a dummy signature. */
function recordingSigner(algorithm: KeyAlgorithm): Signer & { readonly signed: Uint8Array[] } {
  const signed: Uint8Array[] = [];
  return { algorithm, signed, sign: async (data) => (signed.push(Uint8Array.from(data)), new Uint8Array(64).fill(1)) };
}

function findingsOf(lint: () => void): string[] {
  try {
    lint();
    return [];
  } catch (error) {
    if (!(error instanceof CertificateLintFailed)) throw error;
    return [...error.findings];
  }
}

// --- Re-encoding a TBSCertList with one field changed -----------------------

interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  /** DER of the extension's value (the extnValue OCTET STRING's content). */
  readonly value: Uint8Array;
}

interface TbsCertListParts {
  version: Uint8Array | null;
  signature: Uint8Array;
  issuer: Uint8Array;
  thisUpdate: Uint8Array;
  nextUpdate: Uint8Array | null;
  /** The whole revokedCertificates SEQUENCE, or null when absent. */
  revoked: Uint8Array | null;
  extensions: Extension[] | null;
}

function isTime(tag: number | undefined): boolean {
  return tag === DerTag.utcTime || tag === DerTag.generalizedTime;
}

function split(tbs: Uint8Array): TbsCertListParts {
  const fields = readChildren(readSingleElement(tbs));
  const version = fields[0]!.tag === DerTag.integer ? fields.shift()!.bytes : null;
  const [signature, issuer, thisUpdate] = fields.splice(0, 3).map((field) => field.bytes);
  const nextUpdate = isTime(fields[0]?.tag) ? fields.shift()!.bytes : null;
  const revoked = fields[0]?.tag === DerTag.sequence ? fields.shift()!.bytes : null;
  const extensions =
    fields[0]?.tag === contextTag(0, true)
      ? readChildren(readChildren(fields[0])[0]!).map((element) => {
          const parts = readChildren(element);
          return { oid: decodeObjectIdentifier(parts[0]!), critical: parts.length === 3 && parts[1]!.content[0] === 0xff, value: parts.at(-1)!.content };
        })
      : null;
  return { version, signature: signature!, issuer: issuer!, thisUpdate: thisUpdate!, nextUpdate, revoked, extensions };
}

function encodeExtension({ oid, critical, value }: Extension): Uint8Array {
  return encodeElement(DerTag.sequence, encodeObjectIdentifier(oid), ...(critical ? [Uint8Array.of(0x01, 0x01, 0xff)] : []), encodeElement(DerTag.octetString, value));
}

function join(parts: TbsCertListParts): Uint8Array {
  return encodeElement(
    DerTag.sequence,
    ...[parts.version, parts.signature, parts.issuer, parts.thisUpdate, parts.nextUpdate, parts.revoked].filter((field): field is Uint8Array => field !== null),
    ...(parts.extensions ? [encodeElement(contextTag(0, true), encodeElement(DerTag.sequence, ...parts.extensions.map(encodeExtension)))] : []),
  );
}

function edit(tbs: Uint8Array, change: (parts: TbsCertListParts) => void): Uint8Array {
  const parts = split(tbs);
  change(parts);
  return join(parts);
}

function setExtension(parts: TbsCertListParts, oid: string, value: Uint8Array, critical?: boolean): void {
  const list = parts.extensions ?? (parts.extensions = []);
  const index = list.findIndex((extension) => extension.oid === oid);
  if (index < 0) list.push({ oid, critical: critical ?? false, value });
  else list[index] = { oid, critical: critical ?? list[index]!.critical, value };
}

function removeExtension(parts: TbsCertListParts, oid: string): void {
  parts.extensions = parts.extensions!.filter((extension) => extension.oid !== oid);
}

function time(tag: number, value: string): Uint8Array {
  return encodeElement(tag, new Uint8Array(Buffer.from(value, 'latin1')));
}
const utcTime = (value: string) => time(DerTag.utcTime, value);
const generalizedTime = (value: string) => time(DerTag.generalizedTime, value);

/** A revokedCertificates entry: serial INTEGER content, a revocationDate, and crlEntryExtensions when given. */
function entry(serial: Uint8Array, revocationDate = utcTime('261130120000Z'), ...extensions: Uint8Array[]): Uint8Array {
  return encodeElement(DerTag.sequence, encodeElement(DerTag.integer, serial), revocationDate, ...(extensions.length > 0 ? [encodeElement(DerTag.sequence, ...extensions)] : []));
}
const revokedList = (...entries: Uint8Array[]) => encodeElement(DerTag.sequence, ...entries);
const withEntries = (tbs: Uint8Array, ...entries: Uint8Array[]) => edit(tbs, (parts) => (parts.revoked = revokedList(...entries)));
/** CRLReason ::= ENUMERATED (tag 0x0a), keyCompromise(1), as the encoder writes it. */
const REASON_KEY_COMPROMISE = encodeElement(0x0a, Uint8Array.of(0x01));

// ---------------------------------------------------------------------------

describe('lintRevocationList', () => {
  let issuer: LintIssuer;
  /** A CRL with two entries and an issuing distribution point: what the rules below are broken in. */
  let crl: Uint8Array;

  const requestFor = (overrides: Partial<CertificateListRequest> = {}): CertificateListRequest => ({
    issuerName: issuer.subjectName,
    authorityKeyIdentifier: issuer.subjectKeyIdentifier,
    crlNumber: 42n,
    thisUpdate: THIS_UPDATE,
    nextUpdate: NEXT_UPDATE,
    entries: [
      { serialNumber: '0a0b0c', revocationDate: new Date(THIS_UPDATE.getTime() - DAY), reason: 'keyCompromise' },
      { serialNumber: '7f01', revocationDate: new Date(THIS_UPDATE.getTime() - 2 * DAY), reason: 'unspecified' },
    ],
    issuingDistributionPointUri: 'http://ccm.example.com/crl/tenant-a.crl',
    ...overrides,
  });

  const tbsOf = async (request: CertificateListRequest, signingAlgorithm: KeyAlgorithm = 'ecdsa-p256'): Promise<Uint8Array> => {
    const signer = recordingSigner(signingAlgorithm);
    await encodeCertificateList(request, signer);
    assert.equal(signer.signed.length, 1);
    return signer.signed[0]!;
  };

  const policy = (overrides: Partial<RevocationListLintPolicy> = {}): RevocationListLintPolicy => ({ issuer, signingAlgorithm: 'ecdsa-p256', ...overrides });
  const lint = (tbs: Uint8Array, overrides: Partial<RevocationListLintPolicy> = {}) => findingsOf(() => lintRevocationList(tbs, policy(overrides)));

  before(async () => {
    const caKey = await newTestKey('ecdsa-p256');
    issuer = {
      subjectName: encodeDistinguishedName([{ attribute: 'O', value: 'Tenant A' }, { attribute: 'CN', value: 'Tenant A Root' }]),
      subjectKeyIdentifier: subjectKeyIdentifierOf(caKey.spki),
      notBefore: new Date('2026-01-01T00:00:00Z'),
      notAfter: new Date('2036-01-01T00:00:00Z'),
    };
    crl = await tbsOf(requestFor());
  });

  describe('passes what ccm signs', () => {
    it('a CRL with entries and an issuing distribution point', () => assert.deepEqual(lint(crl), []));

    it('a CRL without entries, whose revokedCertificates is then absent', async () => {
      const empty = await tbsOf(requestFor({ entries: [], issuingDistributionPointUri: undefined }));
      assert.equal(split(empty).revoked, null);
      assert.deepEqual(lint(empty), []);
    });

    it('entries for every revocation reason', async () => {
      const entries: RevokedEntry[] = (Object.keys(REVOCATION_REASONS) as RevocationReason[]).map((reason, index) => ({
        serialNumber: (index + 1).toString(16).padStart(2, '0'),
        revocationDate: new Date(THIS_UPDATE.getTime() - DAY),
        reason,
      }));
      assert.deepEqual(lint(await tbsOf(requestFor({ entries }))), []);
    });

    it('CRLs signed by a custody key of each algorithm', async () => {
      for (const signingAlgorithm of KEY_ALGORITHMS) assert.deepEqual(lint(await tbsOf(requestFor(), signingAlgorithm), { signingAlgorithm }), [], signingAlgorithm);
    });

    it('the largest CRL number and serial number that fit in 20 octets', async () => {
      const tbs = await tbsOf(
        requestFor({
          crlNumber: (1n << 159n) - 1n,
          entries: [{ serialNumber: `80${'00'.repeat(18)}`, revocationDate: new Date(THIS_UPDATE.getTime() - DAY), reason: 'superseded' }],
        }),
      );
      assert.deepEqual(lint(tbs), []);
    });

    it('a CRL number of zero, which RFC 5280 §5.2.3 allows', () =>
      assert.deepEqual(lint(edit(crl, (parts) => setExtension(parts, OID.crlNumber, encodeElement(DerTag.integer, Uint8Array.of(0x00))))), []));

    it('a nextUpdate past 2049, in GeneralizedTime', async () => {
      const tbs = await tbsOf(requestFor({ nextUpdate: new Date('2050-01-01T00:00:00Z') }));
      assert.ok(Buffer.from(tbs).includes('20500101000000Z'));
      assert.deepEqual(lint(tbs), []);
    });

    it('ten thousand entries', async () => {
      const entries: RevokedEntry[] = Array.from({ length: 10_000 }, (_, index) => ({
        serialNumber: (0x100000 + index).toString(16),
        revocationDate: new Date(THIS_UPDATE.getTime() - DAY),
        reason: index % 2 === 0 ? 'keyCompromise' : 'unspecified',
      }));
      assert.deepEqual(lint(await tbsOf(requestFor({ entries }))), []);
    });
  });

  describe('version, signature algorithm and issuer', () => {
    it('finds a v1 CRL, which has no version field', () => assert.deepEqual(lint(edit(crl, (parts) => (parts.version = null))), ['version is not v2']));
    it('finds a version field other than v2', () =>
      assert.deepEqual(lint(edit(crl, (parts) => (parts.version = encodeElement(DerTag.integer, Uint8Array.of(0x02))))), ['version is not v2']));
    it('finds an AlgorithmIdentifier of another algorithm than the signing key', () =>
      assert.deepEqual(lint(crl, { signingAlgorithm: 'ed25519' }), ['signature algorithm does not match the signing key']));
    it("finds an issuer name that is not the CA's subject", () =>
      assert.deepEqual(lint(crl, { issuer: { ...issuer, subjectName: encodeDistinguishedName([{ attribute: 'CN', value: 'Tenant B Root' }]) } }), [
        "issuer name is not the issuer's subject name",
      ]));
  });

  describe('thisUpdate and nextUpdate', () => {
    it('finds a nextUpdate equal to thisUpdate', () =>
      assert.deepEqual(lint(edit(crl, (parts) => (parts.nextUpdate = parts.thisUpdate))), ['nextUpdate is not after thisUpdate']));
    it('finds a nextUpdate before thisUpdate', () =>
      assert.deepEqual(lint(edit(crl, (parts) => (parts.nextUpdate = utcTime('261130235959Z')))), ['nextUpdate is not after thisUpdate']));
    it('finds nextUpdate missing (RFC 5280 §5.1.2.5)', () => assert.deepEqual(lint(edit(crl, (parts) => (parts.nextUpdate = null))), ['nextUpdate missing']));
    it('finds a GeneralizedTime before 2050', () =>
      assert.deepEqual(lint(edit(crl, (parts) => (parts.thisUpdate = generalizedTime('20261201000000Z')))), ['thisUpdate is GeneralizedTime before 2050']));
    it('finds a time that is not whole seconds in UTC', () =>
      assert.deepEqual(lint(edit(crl, (parts) => (parts.nextUpdate = utcTime('261208000000+0100')))), ['nextUpdate is not a UTCTime or GeneralizedTime of whole seconds in UTC']));
  });

  describe('CRL extensions', () => {
    it('finds the authority key identifier missing', () =>
      assert.deepEqual(lint(edit(crl, (parts) => removeExtension(parts, OID.authorityKeyIdentifier))), ['authority key identifier missing']));
    it("finds an authority key identifier that is not the CA's", () =>
      assert.deepEqual(lint(crl, { issuer: { ...issuer, subjectKeyIdentifier: new Uint8Array(20).fill(9) } }), [
        "authority key identifier does not match the issuer's key identifier",
      ]));
    it('finds a critical authority key identifier', () =>
      assert.deepEqual(lint(edit(crl, (parts) => setExtension(parts, OID.authorityKeyIdentifier, parts.extensions![0]!.value, true))), ['authority key identifier is critical']));

    const withCrlNumber = (content: Uint8Array, critical?: boolean) => edit(crl, (parts) => setExtension(parts, OID.crlNumber, encodeElement(DerTag.integer, content), critical));
    it('finds the CRL number missing', () => assert.deepEqual(lint(edit(crl, (parts) => removeExtension(parts, OID.crlNumber))), ['CRL number missing']));
    it('finds a critical CRL number', () => assert.deepEqual(lint(withCrlNumber(Uint8Array.of(0x2a), true)), ['CRL number is critical']));
    it('finds a negative CRL number', () => assert.deepEqual(lint(withCrlNumber(Uint8Array.of(0xff))), ['CRL number is negative']));
    it('finds a CRL number longer than 20 octets', () =>
      assert.deepEqual(lint(withCrlNumber(Uint8Array.of(0x00, ...new Uint8Array(20).fill(0x80)))), ['CRL number longer than 20 octets']));
    it('finds a CRL number that is not minimally encoded', () => assert.deepEqual(lint(withCrlNumber(Uint8Array.of(0x00, 0x2a))), ['CRL number is not minimally encoded']));

    it('finds an issuing distribution point that is not critical (RFC 5280 §5.2.5)', () =>
      assert.deepEqual(lint(edit(crl, (parts) => setExtension(parts, OID.issuingDistributionPoint, parts.extensions!.at(-1)!.value, false))), [
        'issuing distribution point not critical',
      ]));
    it('finds a critical extension ccm does not write', () =>
      assert.deepEqual(lint(edit(crl, (parts) => setExtension(parts, OID.deltaCrlIndicator, encodeElement(DerTag.integer, Uint8Array.of(0x29)), true))), [
        'critical extension delta CRL indicator that ccm does not write',
      ]));
    it('finds an extension that appears twice', () =>
      assert.deepEqual(lint(edit(crl, (parts) => parts.extensions!.push(parts.extensions![1]!))), ['CRL number appears more than once']));
    it('finds a CRL without extensions missing both required ones', () =>
      assert.deepEqual(lint(edit(crl, (parts) => (parts.extensions = null))), ['authority key identifier missing', 'CRL number missing']));
  });

  describe('revoked certificates', () => {
    it('finds a revokedCertificates list that is present but empty (RFC 5280 §5.1.2.6)', () =>
      assert.deepEqual(lint(withEntries(crl)), ['revokedCertificates is present but empty']));
    it('finds a zero serial number', () => assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x01)), entry(Uint8Array.of(0x00)))), ['revoked serial number is zero (entry 1)']));
    it('finds a negative serial number', () => assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x8a, 0x0b)))), ['revoked serial number is negative (entry 0)']));
    it('finds a serial number longer than 20 octets', () =>
      assert.deepEqual(lint(withEntries(crl, entry(new Uint8Array(21).fill(0x11)))), ['revoked serial number longer than 20 octets (entry 0)']));
    it('finds a serial number that is not minimally encoded', () =>
      assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x00, 0x11)))), ['revoked serial number is not minimally encoded (entry 0)']));
    it('finds a serial listed twice', () =>
      assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x0a)), entry(Uint8Array.of(0x0b)), entry(Uint8Array.of(0x0a)))), [
        'revoked serial number listed more than once (entry 2)',
      ]));
    it('reports a finding of many entries once, with the first and how many more', () =>
      assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x01)), entry(Uint8Array.of(0x00)), entry(Uint8Array.of(0x00)), entry(Uint8Array.of(0x00)))), [
        'revoked serial number is zero (entry 1 and 2 more)',
        'revoked serial number listed more than once (entry 2 and 1 more)',
      ]));
    it('finds a revocation date in GeneralizedTime before 2050', () =>
      assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x01), generalizedTime('20261130120000Z')))), ['revocationDate is GeneralizedTime before 2050 (entry 0)']));
    it('finds a revocation date that is not a valid time', () =>
      assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x01), utcTime('261131120000Z')))), [
        'revocationDate is not a UTCTime or GeneralizedTime of whole seconds in UTC (entry 0)',
      ]));

    const reasonCode = (critical: Uint8Array[] = []) =>
      encodeElement(DerTag.sequence, encodeObjectIdentifier(OID.reasonCode), ...critical, encodeElement(DerTag.octetString, REASON_KEY_COMPROMISE));
    it('passes a non-critical reason code', () => assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x01), undefined, reasonCode()))), []));
    it('finds a critical reason code (RFC 5280 §5.3.1)', () =>
      assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x01), undefined, reasonCode([Uint8Array.of(0x01, 0x01, 0xff)])))), ['reason code is critical (entry 0)']));
    it('finds an entry extension critical FALSE written out', () =>
      assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x01), undefined, reasonCode([Uint8Array.of(0x01, 0x01, 0x00)])))), [
        'entry extension critical FALSE written out (DER omits the default) (entry 0)',
      ]));
    it('finds entry extensions present but empty', () =>
      assert.deepEqual(lint(withEntries(crl, encodeElement(DerTag.sequence, encodeElement(DerTag.integer, Uint8Array.of(0x01)), utcTime('261130120000Z'), encodeElement(DerTag.sequence)))), [
        'entry extensions present but empty (entry 0)',
      ]));
    it('finds a critical entry extension ccm does not write', () => {
      const invalidity = encodeElement(DerTag.sequence, encodeObjectIdentifier(OID.invalidityDate), Uint8Array.of(0x01, 0x01, 0xff), encodeElement(DerTag.octetString, generalizedTime('20261129000000Z')));
      assert.deepEqual(lint(withEntries(crl, entry(Uint8Array.of(0x01), undefined, invalidity))), ['critical entry extension that ccm does not write (entry 0)']);
    });
  });

  describe('malformed input', () => {
    const malformed = (tbs: Uint8Array, what = /^TBSCertList is malformed: /) => {
      const findings = lint(tbs);
      assert.equal(findings.length, 1, findings.join('\n'));
      assert.match(findings[0]!, what);
    };
    it('finds a truncated TBSCertList', () => malformed(crl.subarray(0, crl.length - 1)));
    it('finds bytes after the TBSCertList', () => malformed(Uint8Array.of(...crl, 0x00)));
    it('finds thisUpdate missing', () => malformed(encodeElement(DerTag.sequence, ...readChildren(readSingleElement(crl)).slice(0, 3).map((field) => field.bytes))));
    it('finds an entry without a revocation date', () =>
      malformed(withEntries(crl, encodeElement(DerTag.sequence, encodeElement(DerTag.integer, Uint8Array.of(0x01)))), /^revokedCertificates is malformed: revoked entry 0 has no revocationDate$/));
    it('finds an entry with an indefinite length', () =>
      malformed(withEntries(crl, Uint8Array.of(0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00)), /^revokedCertificates is malformed: revoked entry: indefinite length/));
    it('never throws anything but CertificateLintFailed, whatever the bytes', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: crl.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 8 }), (at, octet, cut) => {
          const mutated = Uint8Array.from(crl);
          mutated[at] = octet;
          for (const tbs of [mutated, mutated.subarray(0, mutated.length - cut)]) {
            try {
              lintRevocationList(tbs, policy());
            } catch (error) {
              if (!(error instanceof CertificateLintFailed)) throw error;
            }
          }
        }),
        { numRuns: 2000 },
      );
    });
  });
});
