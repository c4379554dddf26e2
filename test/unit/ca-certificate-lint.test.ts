/**
 * The pre-signing certificate lint (src/ca/certificate-lint.ts) over the
 * bytes the real encoder asks custody to sign: every profile ccm signs
 * passes, through the client template and the generic encoder alike; then
 * each rule is broken in a TBSCertificate re-encoded with one field changed,
 * and the lint names exactly that. The CA role's use of the lint (nothing
 * signed, the record marked failed) is in ca-certificate-authority.test.ts;
 * CRLs are in ca-revocation-list-lint.test.ts.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { AsnConvert } from '@peculiar/asn1-schema';
import { BasicConstraints, ExtendedKeyUsage, GeneralName, KeyUsage, KeyUsageFlags, SubjectAlternativeName } from '@peculiar/asn1-x509';
import { CertificateLintFailed, lintCertificate, serialNumberFindings, type CertificateLintPolicy, type LintIssuer } from '../../src/ca/certificate-lint.js';
import {
  encodeCertificate,
  encodeCertificateGeneric,
  subjectKeyIdentifierOf,
  usesClientCertificateTemplate,
  type CertificateRequest,
} from '../../src/codec/certificate-encoder.js';
import { DerTag, contextTag, decodeObjectIdentifier, encodeElement, encodeObjectIdentifier, readChildren, readSingleElement } from '../../src/codec/der.js';
import { encodeDistinguishedName, type DistinguishedName } from '../../src/codec/distinguished-name.js';
import { KEY_ALGORITHMS, type KeyAlgorithm } from '../../src/codec/key-algorithm.js';
import type { Signer } from '../../src/codec/signer.js';
import { DomainError } from '../../src/shared/errors.js';
import { newTestKey, type TestKey } from '../support/test-keys.js';

const DAY = 86_400_000;
const NOW = new Date('2026-12-01T00:00:00Z');
const ISSUER_SUBJECT: DistinguishedName = [
  { attribute: 'C', value: 'DE' },
  { attribute: 'O', value: 'Tenant A' },
  { attribute: 'CN', value: 'Tenant A Root' },
];
const DEVICE_SUBJECT: DistinguishedName = [
  { attribute: 'O', value: 'Tenant A' },
  { attribute: 'CN', value: 'device-1' },
];
const URN = 'urn:uuid:0b7c7f3c-4b5e-4a55-9bd1-8d5ff7e3c0a1';

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  nameConstraints: '2.5.29.30',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
} as const;

/** A Signer that keeps the bytes it is asked to sign (the TBSCertificate) and returns a dummy signature. */
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

// --- Re-encoding a TBSCertificate with one field changed -------------------

interface Extension {
  readonly oid: string;
  /** 'written-false': a critical FALSE written out, which DER leaves out. */
  readonly critical: boolean | 'written-false';
  /** DER of the extension's value (the extnValue OCTET STRING's content). */
  readonly value: Uint8Array;
}

/** The fields of a TBSCertificate as DER, to be changed and joined again. */
interface TbsParts {
  version: Uint8Array | null;
  serialNumber: Uint8Array;
  signature: Uint8Array;
  issuer: Uint8Array;
  validity: Uint8Array;
  subject: Uint8Array;
  subjectPublicKeyInfo: Uint8Array;
  /** Fields between the key and the extensions (unique identifiers). */
  between: Uint8Array[];
  /** null: no extensions field at all. */
  extensions: Extension[] | null;
}

function split(tbs: Uint8Array): TbsParts {
  const fields = readChildren(readSingleElement(tbs));
  const version = fields[0]!.tag === contextTag(0, true) ? fields.shift()!.bytes : null;
  const [serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ...rest] = fields.map((field) => field.bytes);
  const last = fields.at(-1)!;
  const extensions =
    last.tag === contextTag(3, true)
      ? readChildren(readChildren(last)[0]!).map((element) => {
          const parts = readChildren(element);
          const critical = parts.length === 3 && parts[1]!.content[0] === 0xff;
          return { oid: decodeObjectIdentifier(parts[0]!), critical, value: parts.at(-1)!.content };
        })
      : null;
  return {
    version,
    serialNumber: serialNumber!,
    signature: signature!,
    issuer: issuer!,
    validity: validity!,
    subject: subject!,
    subjectPublicKeyInfo: subjectPublicKeyInfo!,
    between: extensions === null ? rest : rest.slice(0, -1),
    extensions,
  };
}

function encodeExtension({ oid, critical, value }: Extension): Uint8Array {
  const flag = critical === true ? [Uint8Array.of(0x01, 0x01, 0xff)] : critical === 'written-false' ? [Uint8Array.of(0x01, 0x01, 0x00)] : [];
  return encodeElement(DerTag.sequence, encodeObjectIdentifier(oid), ...flag, encodeElement(DerTag.octetString, value));
}

function join(parts: TbsParts): Uint8Array {
  return encodeElement(
    DerTag.sequence,
    ...(parts.version ? [parts.version] : []),
    parts.serialNumber,
    parts.signature,
    parts.issuer,
    parts.validity,
    parts.subject,
    parts.subjectPublicKeyInfo,
    ...parts.between,
    ...(parts.extensions ? [encodeElement(contextTag(3, true), encodeElement(DerTag.sequence, ...parts.extensions.map(encodeExtension)))] : []),
  );
}

function edit(tbs: Uint8Array, change: (parts: TbsParts) => void): Uint8Array {
  const parts = split(tbs);
  change(parts);
  return join(parts);
}

function extensionOf(parts: TbsParts, oid: string): Extension {
  const found = parts.extensions?.find((extension) => extension.oid === oid);
  assert.ok(found, `extension ${oid} present`);
  return found;
}

/** Replaces (or, when absent, appends) the extension `oid`; criticality stays as it was unless given. */
function setExtension(parts: TbsParts, oid: string, value: Uint8Array | ArrayBuffer, critical?: Extension['critical']): void {
  const bytes = value instanceof Uint8Array ? value : new Uint8Array(value);
  const list = parts.extensions ?? (parts.extensions = []);
  const index = list.findIndex((extension) => extension.oid === oid);
  if (index < 0) list.push({ oid, critical: critical ?? false, value: bytes });
  else list[index] = { oid, critical: critical ?? list[index]!.critical, value: bytes };
}

function removeExtension(parts: TbsParts, oid: string): void {
  parts.extensions = parts.extensions!.filter((extension) => extension.oid !== oid);
}

function keyUsage(...flags: KeyUsageFlags[]): ArrayBuffer {
  return AsnConvert.serialize(new KeyUsage(flags.reduce((all, flag) => all | flag, 0)));
}

function text(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, 'utf8'));
}

/** A Name of one attribute per RDN, each value written with the tag given (whatever the attribute's own rules). */
function nameOf(...attributes: ReadonlyArray<readonly [oid: string, tag: number, value: Uint8Array]>): Uint8Array {
  return encodeElement(
    DerTag.sequence,
    ...attributes.map(([oid, tag, value]) => encodeElement(DerTag.set, encodeElement(DerTag.sequence, encodeObjectIdentifier(oid), encodeElement(tag, value)))),
  );
}

function time(tag: number, value: string): Uint8Array {
  return encodeElement(tag, new Uint8Array(Buffer.from(value, 'latin1')));
}
const utcTime = (value: string) => time(DerTag.utcTime, value);
const generalizedTime = (value: string) => time(DerTag.generalizedTime, value);
const validity = (notBefore: Uint8Array, notAfter: Uint8Array) => encodeElement(DerTag.sequence, notBefore, notAfter);

// ---------------------------------------------------------------------------

describe('lintCertificate', () => {
  let caKey: TestKey;
  let issuer: LintIssuer;
  const deviceKeys = new Map<KeyAlgorithm, TestKey>();
  /** A client certificate from the template with the P-256 device key: what the rules below are broken in. */
  let client: Uint8Array;
  let clientEd25519: Uint8Array;
  let clientRsa: Uint8Array;
  let responder: Uint8Array;
  let root: Uint8Array;

  const requestFor = (overrides: Partial<CertificateRequest> = {}): CertificateRequest => ({
    serialNumber: Uint8Array.of(0x3c, 0x11, 0x02),
    issuerName: issuer.subjectName,
    issuerKeyIdentifier: issuer.subjectKeyIdentifier,
    subject: DEVICE_SUBJECT,
    subjectPublicKeyInfo: deviceKeys.get('ecdsa-p256')!.spki,
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + 365 * DAY),
    profile: { kind: 'client' },
    subjectAltNames: { uri: [URN] },
    ...overrides,
  });

  /** The TBSCertificate `encodeCertificate` (or, with `generic`, `encodeCertificateGeneric`) has the signer sign. */
  const tbsOf = async (request: CertificateRequest, options: { generic?: boolean; signingAlgorithm?: KeyAlgorithm } = {}): Promise<Uint8Array> => {
    const signer = recordingSigner(options.signingAlgorithm ?? 'ecdsa-p256');
    await (options.generic ? encodeCertificateGeneric(request, signer) : encodeCertificate(request, signer));
    assert.equal(signer.signed.length, 1);
    return signer.signed[0]!;
  };

  const policy = (purpose: CertificateLintPolicy['purpose'], overrides: Partial<CertificateLintPolicy> = {}): CertificateLintPolicy => ({
    purpose,
    issuer,
    signingAlgorithm: 'ecdsa-p256',
    ...overrides,
  });
  const lint = (tbs: Uint8Array, purpose: CertificateLintPolicy['purpose'] = 'client', overrides: Partial<CertificateLintPolicy> = {}) =>
    findingsOf(() => lintCertificate(tbs, policy(purpose, overrides)));

  before(async () => {
    caKey = await newTestKey('ecdsa-p256');
    issuer = {
      subjectName: encodeDistinguishedName(ISSUER_SUBJECT),
      subjectKeyIdentifier: subjectKeyIdentifierOf(caKey.spki),
      notBefore: new Date('2026-01-01T00:00:00Z'),
      notAfter: new Date('2036-01-01T00:00:00Z'),
    };
    for (const algorithm of ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa-2048'] as const) deviceKeys.set(algorithm, await newTestKey(algorithm));
    client = await tbsOf(requestFor());
    clientEd25519 = await tbsOf(requestFor({ subjectPublicKeyInfo: deviceKeys.get('ed25519')!.spki }));
    clientRsa = await tbsOf(requestFor({ subjectPublicKeyInfo: deviceKeys.get('rsa-2048')!.spki }));
    responder = await tbsOf(requestFor({ profile: { kind: 'ocsp-responder' }, subject: [{ attribute: 'CN', value: 'Tenant A OCSP' }], subjectAltNames: undefined }));
    root = await tbsOf(requestFor({ profile: { kind: 'ca', pathLenConstraint: 0 }, subject: [{ attribute: 'CN', value: 'Tenant A Issuing CA' }], subjectAltNames: undefined }));
  });

  describe('passes what ccm signs', () => {
    it('client certificates from the template, for every device key algorithm, with CRL and OCSP locations', async () => {
      for (const [algorithm, key] of deviceKeys) {
        const request = requestFor({
          subjectPublicKeyInfo: key.spki,
          crlDistributionPoints: ['http://ccm.example.com/crl/tenant-a.crl'],
          ocspUrls: ['http://ccm.example.com/ocsp'],
          caIssuersUrls: ['http://ccm.example.com/ca/tenant-a.cer'],
        });
        assert.ok(usesClientCertificateTemplate(request));
        assert.deepEqual(lint(await tbsOf(request)), [], algorithm);
      }
    });

    it('client certificates from the generic encoder, with DNS, wildcard, email and IP names', async () => {
      for (const [algorithm, key] of deviceKeys) {
        const request = requestFor({
          subjectPublicKeyInfo: key.spki,
          subjectAltNames: { dns: ['device-1.devices.example.com', '*.sensors.example.com'], uri: [URN], email: ['ops@example.com'], ip: ['192.0.2.7', '2001:db8::7'] },
        });
        assert.ok(!usesClientCertificateTemplate(request));
        assert.deepEqual(lint(await tbsOf(request)), [], algorithm);
        assert.deepEqual(lint(await tbsOf(requestFor({ subjectPublicKeyInfo: key.spki }), { generic: true })), [], `${algorithm}, generic`);
      }
    });

    it('a client certificate with an empty subject, its identity in a critical URI name', async () => {
      assert.deepEqual(lint(await tbsOf(requestFor({ subject: [] }))), []);
    });

    it('certificates signed by a custody key of each algorithm', async () => {
      for (const signingAlgorithm of KEY_ALGORITHMS) {
        const tbs = await tbsOf(requestFor(), { signingAlgorithm });
        assert.deepEqual(lint(tbs, 'client', { signingAlgorithm }), [], signingAlgorithm);
      }
    });

    it('OCSP responder certificates, tenant roots, delegated intermediates and the self-signed platform CA', async () => {
      assert.deepEqual(lint(responder, 'ocsp-responder'), []);
      assert.deepEqual(lint(root, 'ca'), []);
      const unconstrained = await tbsOf(requestFor({ profile: { kind: 'ca', pathLenConstraint: null }, subject: [{ attribute: 'CN', value: 'Root' }], subjectAltNames: undefined }));
      assert.deepEqual(lint(unconstrained, 'ca'), []);
      const delegated = await tbsOf(
        requestFor({
          profile: { kind: 'delegated-ca', permittedDnsDomains: ['devices.example.com'], excludedDnsDomains: ['admin.devices.example.com'] },
          subject: [{ attribute: 'O', value: 'Acme' }, { attribute: 'CN', value: 'Acme Devices CA' }],
          subjectPublicKeyInfo: deviceKeys.get('rsa-2048')!.spki,
          subjectAltNames: undefined,
        }),
      );
      assert.deepEqual(lint(delegated, 'ca'), []);
      const platformSubject: DistinguishedName = [{ attribute: 'O', value: 'ccm' }, { attribute: 'CN', value: 'ccm Platform CA' }];
      const platform = await tbsOf(
        requestFor({
          profile: { kind: 'ca', pathLenConstraint: 1 },
          subject: platformSubject,
          issuerName: encodeDistinguishedName(platformSubject),
          issuerKeyIdentifier: null,
          subjectPublicKeyInfo: caKey.spki,
          subjectAltNames: undefined,
          notBefore: new Date('2020-01-01T00:00:00Z'),
          notAfter: new Date('2045-01-01T00:00:00Z'),
        }),
      );
      // Self-signed: checked against itself, not against any issuer's validity.
      assert.deepEqual(lint(platform, 'ca', { issuer: null }), []);
    });

    it('a validity reaching past 2049, written in GeneralizedTime', async () => {
      const tbs = await tbsOf(requestFor({ notAfter: new Date('2060-06-30T12:00:00Z') }));
      assert.ok(Buffer.from(tbs).includes('20600630120000Z'));
      assert.deepEqual(lint(tbs, 'client', { issuer: { ...issuer, notAfter: new Date('2070-01-01T00:00:00Z') } }), []);
    });

    it('subject attributes at their RFC 5280 upper bounds, counted in characters', async () => {
      const subject: DistinguishedName = [
        { attribute: 'DC', value: 'a'.repeat(63) },
        { attribute: 'C', value: 'DE' },
        { attribute: 'ST', value: 'S'.repeat(128) },
        { attribute: 'L', value: 'L'.repeat(128) },
        { attribute: 'O', value: 'Ö'.repeat(64) },
        { attribute: 'OU', value: 'U'.repeat(64) },
        { attribute: 'title', value: 'T'.repeat(64) },
        { attribute: 'serialNumber', value: '7'.repeat(64) },
        { attribute: 'emailAddress', value: `${'e'.repeat(243)}@example.com` },
        { attribute: 'CN', value: '設備'.repeat(32) },
      ];
      assert.deepEqual(lint(await tbsOf(requestFor({ subject }))), []);
    });
  });

  describe('version and serial number', () => {
    it('finds a v1 certificate, which has no version field', () => assert.deepEqual(lint(edit(client, (parts) => (parts.version = null))), ['version is not v3']));
    it('finds a v2 certificate', () =>
      assert.deepEqual(lint(edit(client, (parts) => (parts.version = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x01)))), ['version is not v3']));

    const withSerial = (content: Uint8Array) => edit(client, (parts) => (parts.serialNumber = encodeElement(DerTag.integer, content)));
    it('passes a 20-octet serial number', () => assert.deepEqual(lint(withSerial(Uint8Array.from({ length: 20 }, (_, i) => i + 1))), []));
    it('finds a serial number longer than 20 octets', () =>
      assert.deepEqual(lint(withSerial(Uint8Array.from({ length: 21 }, (_, i) => i + 1))), ['serial number longer than 20 octets']));
    it('finds a 160-bit serial number whose sign octet makes 21', () =>
      assert.deepEqual(lint(withSerial(Uint8Array.of(0x00, ...new Uint8Array(20).fill(0x80)))), ['serial number longer than 20 octets']));
    it('finds a negative serial number', () => assert.deepEqual(lint(withSerial(Uint8Array.of(0x80, 0x01))), ['serial number is negative']));
    it('finds a serial number that is not minimally encoded', () => assert.deepEqual(lint(withSerial(Uint8Array.of(0x00, 0x01))), ['serial number is not minimally encoded']));
    it('finds a zero serial number', () => assert.deepEqual(lint(withSerial(Uint8Array.of(0x00))), ['serial number is zero']));
    it('finds an empty serial number INTEGER', () => assert.deepEqual(lint(withSerial(new Uint8Array(0))), ['serial number is empty']));

    it('names the same defects for a serial the CA is about to use (serialNumberFindings)', () => {
      assert.deepEqual(serialNumberFindings(Uint8Array.of(0x01)), []);
      assert.deepEqual(serialNumberFindings(new Uint8Array(21).fill(1)), ['serial number longer than 20 octets']);
      assert.deepEqual(serialNumberFindings(Uint8Array.of(0xff)), ['serial number is negative']);
      assert.deepEqual(serialNumberFindings(Uint8Array.of(0x00)), ['serial number is zero']);
      assert.deepEqual(serialNumberFindings(new Uint8Array(0), 'revoked serial number'), ['revoked serial number is empty']);
    });
  });

  describe('signature algorithm', () => {
    it('finds an AlgorithmIdentifier of another algorithm than the signing key', () =>
      assert.deepEqual(lint(client, 'client', { signingAlgorithm: 'ecdsa-p384' }), ['signature algorithm does not match the signing key']));
    it('finds an RSA AlgorithmIdentifier without its NULL parameters (RFC 4055 §5)', async () => {
      const rsaSigned = await tbsOf(requestFor(), { signingAlgorithm: 'rsa-2048' });
      const broken = edit(rsaSigned, (parts) => (parts.signature = encodeElement(DerTag.sequence, encodeObjectIdentifier('1.2.840.113549.1.1.11'))));
      assert.deepEqual(lint(broken, 'client', { signingAlgorithm: 'rsa-2048' }), ['signature algorithm does not match the signing key']);
    });
  });

  describe('issuer name', () => {
    it('finds an empty issuer name (RFC 5280 §4.1.2.4)', () =>
      assert.deepEqual(lint(edit(client, (parts) => (parts.issuer = Uint8Array.of(0x30, 0x00)))), ['issuer name is empty', "issuer name is not the issuer's subject name"]));
    it("finds an issuer name that is not the issuer's subject", () =>
      assert.deepEqual(lint(client, 'client', { issuer: { ...issuer, subjectName: encodeDistinguishedName([{ attribute: 'CN', value: 'Someone else' }]) } }), [
        "issuer name is not the issuer's subject name",
      ]));
    it('finds an issuer name that differs only in its string type, since names are matched byte for byte', () => {
      const printable = nameOf(['2.5.4.6', DerTag.printableString, text('DE')], ['2.5.4.10', DerTag.printableString, text('Tenant A')], ['2.5.4.3', DerTag.utf8String, text('Tenant A Root')]);
      assert.deepEqual(lint(edit(client, (parts) => (parts.issuer = printable))), ["issuer name is not the issuer's subject name"]);
    });
    it('finds a self-signed certificate whose issuer is not its subject', () =>
      assert.deepEqual(lint(root, 'ca', { issuer: null }), ['issuer name is not the subject name of a self-signed certificate', "authority key identifier does not match the certificate's own key identifier"]));
    it('finds a self-signed device certificate', async () => {
      const selfSigned = await tbsOf(requestFor({ issuerName: encodeDistinguishedName(DEVICE_SUBJECT), issuerKeyIdentifier: null }));
      assert.deepEqual(lint(selfSigned, 'client', { issuer: null }), ['self-signed client certificate']);
    });
  });

  describe('validity', () => {
    const withValidity = (notBefore: Uint8Array, notAfter: Uint8Array) => edit(client, (parts) => (parts.validity = validity(notBefore, notAfter)));
    it('finds a notAfter before notBefore', () => assert.deepEqual(lint(withValidity(utcTime('270101000000Z'), utcTime('261231235959Z'))), ['notAfter is before notBefore']));
    it('passes a validity of a single second (notBefore = notAfter)', () => assert.deepEqual(lint(withValidity(utcTime('270101000000Z'), utcTime('270101000000Z'))), []));
    it('finds a GeneralizedTime before 2050, where RFC 5280 §4.1.2.5 wants UTCTime', () =>
      assert.deepEqual(lint(withValidity(utcTime('261201000000Z'), generalizedTime('20271201000000Z'))), ['notAfter is GeneralizedTime before 2050']));
    // A UTCTime cannot say 2050 or later: "50" reads as 1950, which the issuer's validity then refuses.
    it('reads a two-digit year of 50 as 1950', () => assert.deepEqual(lint(withValidity(utcTime('500101000000Z'), utcTime('271201000000Z'))), ["notBefore is before the issuer's notBefore"]));
    for (const [what, element] of [
      ['fractional seconds', generalizedTime('20271201000000.5Z')],
      ['no seconds', utcTime('2712010000Z')],
      ['a time zone offset', utcTime('271201000000+0100')],
      ['no such day', utcTime('270230000000Z')],
      ['no such hour', utcTime('271201240000Z')],
      ['letters for digits', utcTime('27120100000aZ')],
    ] as const) {
      it(`finds a time with ${what}`, () =>
        assert.deepEqual(lint(withValidity(utcTime('261201000000Z'), element)), ['notAfter is not a UTCTime or GeneralizedTime of whole seconds in UTC']));
    }
    it('passes 29 February of a leap year, and finds it in another year', () => {
      assert.deepEqual(lint(withValidity(utcTime('261201000000Z'), utcTime('280229000000Z'))), []);
      assert.deepEqual(lint(withValidity(utcTime('261201000000Z'), utcTime('270229000000Z'))), ['notAfter is not a UTCTime or GeneralizedTime of whole seconds in UTC']);
    });
    it("finds a validity starting before the issuer's", () =>
      assert.deepEqual(lint(withValidity(utcTime('251231235959Z'), utcTime('271201000000Z'))), ["notBefore is before the issuer's notBefore"]));
    it("finds a validity ending after the issuer's", () =>
      assert.deepEqual(lint(withValidity(utcTime('261201000000Z'), utcTime('360101000001Z'))), ["notAfter is after the issuer's notAfter"]));
    it("passes a validity exactly the issuer's", () => assert.deepEqual(lint(withValidity(utcTime('260101000000Z'), utcTime('360101000000Z'))), []));
  });

  describe('subject', () => {
    const withSubject = (subject: Uint8Array, tbs = client) => edit(tbs, (parts) => (parts.subject = subject));
    const lintSubject = (...attributes: ReadonlyArray<readonly [string, number, Uint8Array]>) => lint(withSubject(nameOf(...attributes)));

    const BOUNDS = [
      ['CN', '2.5.4.3', DerTag.utf8String, 64],
      ['O', '2.5.4.10', DerTag.utf8String, 64],
      ['OU', '2.5.4.11', DerTag.utf8String, 64],
      ['title', '2.5.4.12', DerTag.utf8String, 64],
      ['L', '2.5.4.7', DerTag.utf8String, 128],
      ['ST', '2.5.4.8', DerTag.printableString, 128],
      ['serialNumber', '2.5.4.5', DerTag.printableString, 64],
      ['emailAddress', '1.2.840.113549.1.9.1', DerTag.ia5String, 255],
      ['DC', '0.9.2342.19200300.100.1.25', DerTag.ia5String, 63],
      ['pseudonym', '2.5.4.65', DerTag.utf8String, 128],
    ] as const;
    for (const [attribute, oid, tag, maximum] of BOUNDS) {
      it(`passes ${attribute} of ${maximum} characters and finds ${maximum + 1}`, () => {
        assert.deepEqual(lintSubject([oid, tag, text('a'.repeat(maximum))]), []);
        assert.deepEqual(lintSubject([oid, tag, text('a'.repeat(maximum + 1))]), [`subject ${attribute} longer than ${maximum} characters`]);
      });
    }
    it('counts UTF-8 in characters, not octets', () => {
      assert.deepEqual(lintSubject(['2.5.4.3', DerTag.utf8String, text('€'.repeat(64))]), []);
      assert.deepEqual(lintSubject(['2.5.4.3', DerTag.utf8String, text('€'.repeat(65))]), ['subject CN longer than 64 characters']);
    });
    it('finds a country that is not two characters', () => assert.deepEqual(lintSubject(['2.5.4.6', DerTag.printableString, text('DEU')]), ['subject C is not two characters']));
    it('finds a country that is not a PrintableString', () => assert.deepEqual(lintSubject(['2.5.4.6', DerTag.utf8String, text('DE')]), ['subject C is not a PrintableString']));
    it('finds a serialNumber that is not a PrintableString', () =>
      assert.deepEqual(lintSubject(['2.5.4.5', DerTag.ia5String, text('1234')]), ['subject serialNumber is not a PrintableString']));
    it('finds characters a PrintableString cannot hold', () =>
      assert.deepEqual(lintSubject(['2.5.4.3', DerTag.printableString, text('device_1')]), ['subject CN has characters outside PrintableString']));
    it('finds a UTF8String that is not UTF-8, an overlong form included', () => {
      assert.deepEqual(lintSubject(['2.5.4.3', DerTag.utf8String, Uint8Array.of(0x64, 0xc3, 0x28)]), ['subject CN is not valid UTF-8']);
      assert.deepEqual(lintSubject(['2.5.4.3', DerTag.utf8String, Uint8Array.of(0xc0, 0xaf)]), ['subject CN is not valid UTF-8']);
      assert.deepEqual(lintSubject(['2.5.4.3', DerTag.utf8String, Uint8Array.of(0xed, 0xa0, 0x80)]), ['subject CN is not valid UTF-8']);
    });
    it('finds a DirectoryString in a legacy string type', () =>
      assert.deepEqual(lintSubject(['2.5.4.3', DerTag.bmpString, Uint8Array.of(0x00, 0x41)]), ['subject CN is not a UTF8String or PrintableString']));
    it('finds an emailAddress that is not ASCII, or not an IA5String', () => {
      assert.deepEqual(lintSubject(['1.2.840.113549.1.9.1', DerTag.ia5String, text('müller@example.com')]), ['subject emailAddress is not ASCII']);
      assert.deepEqual(lintSubject(['1.2.840.113549.1.9.1', DerTag.utf8String, text('ops@example.com')]), ['subject emailAddress is not an IA5String']);
    });
    it('finds a domainComponent that is not a DNS label', () => {
      assert.deepEqual(lintSubject(['0.9.2342.19200300.100.1.25', DerTag.ia5String, text('under_score')]), ['subject DC is not a DNS label']);
      assert.deepEqual(lintSubject(['0.9.2342.19200300.100.1.25', DerTag.ia5String, text('-leading')]), ['subject DC is not a DNS label']);
      assert.deepEqual(lintSubject(['0.9.2342.19200300.100.1.25', DerTag.ia5String, text('example.com')]), ['subject DC is not a DNS label']);
    });
    it('finds an empty value', () => assert.deepEqual(lintSubject(['2.5.4.10', DerTag.utf8String, text('')]), ['subject O is empty']));
    it('finds an attribute ccm does not write', () =>
      assert.deepEqual(lintSubject(['2.5.4.97', DerTag.utf8String, text('VATDE-123')]), ['subject attribute 2.5.4.97 is not one ccm writes']));
    it('finds an empty RDN', () => assert.deepEqual(lint(withSubject(encodeElement(DerTag.sequence, encodeElement(DerTag.set)))), ['subject has an empty RDN']));
    it('reports every bad attribute of a subject', () =>
      assert.deepEqual(lintSubject(['2.5.4.6', DerTag.printableString, text('D')], ['2.5.4.3', DerTag.utf8String, text('x'.repeat(65))]), [
        'subject C is not two characters',
        'subject CN longer than 64 characters',
      ]));

    const EMPTY_NAME = Uint8Array.of(0x30, 0x00);
    it('finds a CA certificate with an empty subject', () =>
      assert.deepEqual(lint(withSubject(EMPTY_NAME, root), 'ca'), ['subject is empty in a CA certificate', 'empty subject without a critical subject alternative name']));
    it('finds an empty subject whose subject alternative name is not critical', async () => {
      const anonymous = await tbsOf(requestFor({ subject: [] }));
      assert.deepEqual(lint(edit(anonymous, (parts) => setExtension(parts, OID.subjectAltName, extensionOf(parts, OID.subjectAltName).value, false))), [
        'empty subject without a critical subject alternative name',
      ]);
    });
    it('finds an empty subject without a subject alternative name', async () => {
      const anonymous = await tbsOf(requestFor({ subject: [] }));
      assert.deepEqual(lint(edit(anonymous, (parts) => removeExtension(parts, OID.subjectAltName))), ['empty subject without a critical subject alternative name']);
    });
  });

  describe('extensions', () => {
    it('finds an extension that appears twice', () =>
      assert.deepEqual(lint(edit(client, (parts) => parts.extensions!.push(extensionOf(parts, OID.keyUsage)))), ['key usage appears more than once']));
    it('finds a critical FALSE written out, which DER leaves out', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.extKeyUsage, extensionOf(parts, OID.extKeyUsage).value, 'written-false'))), [
        'extended key usage critical FALSE written out (DER omits the default)',
      ]));
    it('finds a critical extension ccm does not write, and passes a non-critical one', () => {
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, '1.3.6.1.4.1.99999.1', Uint8Array.of(0x05, 0x00), true))), [
        'critical extension 1.3.6.1.4.1.99999.1 that ccm does not write',
      ]);
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, '1.3.6.1.4.1.99999.1', Uint8Array.of(0x05, 0x00), false))), []);
    });
    it('finds a certificate without extensions missing every required one', () =>
      assert.deepEqual(lint(edit(client, (parts) => (parts.extensions = null))), [
        'basic constraints missing',
        'key usage missing',
        'extended key usage missing',
        'subject key identifier missing',
        'authority key identifier missing',
      ]));
    it('finds an empty extensions field', () => assert.ok(lint(edit(client, (parts) => (parts.extensions = []))).includes('extensions present but empty')));
    it('finds unique identifiers (RFC 5280 §4.1.2.8)', () =>
      assert.deepEqual(lint(edit(client, (parts) => (parts.between = [Uint8Array.of(0x81, 0x02, 0x00, 0x01)]))), ['unique identifiers present']));
    it('finds name constraints that are not critical (RFC 5280 §4.2.1.10)', () =>
      assert.deepEqual(lint(edit(root, (parts) => setExtension(parts, OID.nameConstraints, Uint8Array.of(0x30, 0x00), false)), 'ca'), ['name constraints not critical']));
    it('finds a critical authority information access (RFC 5280 §4.2.2.1)', () =>
      assert.deepEqual(
        lint(edit(client, (parts) => setExtension(parts, '1.3.6.1.5.5.7.1.1', encodeElement(DerTag.sequence, encodeElement(DerTag.sequence, encodeObjectIdentifier('1.3.6.1.5.5.7.48.1'), encodeElement(contextTag(6, false), text('http://ccm.example.com/ocsp')))), true))),
        ['authority information access is critical'],
      ));
    it('finds a subject key of an algorithm ccm does not certify', () => {
      const x25519 = new Uint8Array(generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }));
      assert.deepEqual(lint(edit(client, (parts) => (parts.subjectPublicKeyInfo = x25519))), [
        'subject public key algorithm 1.3.101.110 is not one ccm certifies',
        'subject key identifier does not match the subject key',
      ]);
    });
    it('finds name constraints in a device certificate', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.nameConstraints, Uint8Array.of(0x30, 0x00), true))), ['name constraints in a client certificate']));
  });

  describe('basic constraints', () => {
    it('finds them missing', () => assert.deepEqual(lint(edit(client, (parts) => removeExtension(parts, OID.basicConstraints))), ['basic constraints missing']));
    it('finds them not critical', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.basicConstraints, Uint8Array.of(0x30, 0x00), false))), ['basic constraints not critical']));
    const CA_TRUE = AsnConvert.serialize(new BasicConstraints({ cA: true }));
    it('finds cA TRUE in a device certificate', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.basicConstraints, CA_TRUE))), ['basic constraints cA is TRUE in a client certificate']));
    it('finds cA TRUE in an OCSP responder certificate', () =>
      assert.deepEqual(lint(edit(responder, (parts) => setExtension(parts, OID.basicConstraints, CA_TRUE)), 'ocsp-responder'), [
        'basic constraints cA is TRUE in a OCSP responder certificate',
      ]));
    it('finds a CA certificate without cA TRUE', () =>
      assert.deepEqual(lint(edit(root, (parts) => setExtension(parts, OID.basicConstraints, Uint8Array.of(0x30, 0x00))), 'ca'), ['basic constraints cA is not TRUE in a CA certificate']));
    it('finds cA FALSE written out', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.basicConstraints, Uint8Array.of(0x30, 0x03, 0x01, 0x01, 0x00)))), [
        'basic constraints cA FALSE written out (DER omits the default)',
      ]));
    it('finds a path length without cA', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.basicConstraints, Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00)))), [
        'basic constraints pathLenConstraint without cA',
      ]));
    it('finds a negative path length', () =>
      assert.deepEqual(lint(edit(root, (parts) => setExtension(parts, OID.basicConstraints, Uint8Array.of(0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0xff))), 'ca'), [
        'basic constraints pathLenConstraint is negative',
      ]));
  });

  describe('key usage', () => {
    const withKeyUsage = (tbs: Uint8Array, value: Uint8Array | ArrayBuffer, critical?: boolean) => edit(tbs, (parts) => setExtension(parts, OID.keyUsage, value, critical));
    it('finds it missing', () => assert.deepEqual(lint(edit(client, (parts) => removeExtension(parts, OID.keyUsage))), ['key usage missing']));
    it('finds it not critical', () => assert.deepEqual(lint(withKeyUsage(client, keyUsage(KeyUsageFlags.digitalSignature), false)), ['key usage not critical']));
    it('finds a device certificate without digitalSignature', () =>
      assert.deepEqual(lint(withKeyUsage(client, keyUsage(KeyUsageFlags.nonRepudiation))), ['key usage lacks digitalSignature']));
    it('finds an OCSP responder certificate without digitalSignature', () =>
      assert.deepEqual(lint(withKeyUsage(responder, keyUsage(KeyUsageFlags.nonRepudiation)), 'ocsp-responder'), ['key usage lacks digitalSignature']));
    it('finds keyCertSign in a device certificate', () =>
      assert.deepEqual(lint(withKeyUsage(client, keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.keyCertSign))), ['key usage has keyCertSign in a client certificate']));
    it('finds cRLSign in an OCSP responder certificate', () =>
      assert.deepEqual(lint(withKeyUsage(responder, keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.cRLSign)), 'ocsp-responder'), [
        'key usage has cRLSign in a OCSP responder certificate',
      ]));
    it('finds a CA certificate without keyCertSign', () =>
      assert.deepEqual(lint(withKeyUsage(root, keyUsage(KeyUsageFlags.cRLSign, KeyUsageFlags.digitalSignature)), 'ca'), ['key usage lacks keyCertSign in a CA certificate']));
    it('finds an EC key asked to encipher', () => {
      assert.deepEqual(lint(withKeyUsage(client, keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.keyEncipherment))), ['key usage keyEncipherment is not for an EC key']);
      assert.deepEqual(lint(withKeyUsage(client, keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.dataEncipherment))), ['key usage dataEncipherment is not for an EC key']);
    });
    it('passes an EC key for key agreement, and an RSA key for key transport', () => {
      assert.deepEqual(lint(withKeyUsage(client, keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.keyAgreement))), []);
      assert.deepEqual(lint(clientRsa), []);
      assert.ok(Buffer.from(clientRsa).includes(Buffer.from([0x03, 0x02, 0x05, 0xa0])), 'the encoder gives RSA keys keyEncipherment');
    });
    it('finds an Ed25519 key asked to encipher or agree keys', () => {
      assert.deepEqual(lint(clientEd25519), []);
      assert.deepEqual(lint(withKeyUsage(clientEd25519, keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.keyAgreement))), ['key usage keyAgreement is not for an Ed25519 key']);
      assert.deepEqual(lint(withKeyUsage(clientEd25519, keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.keyEncipherment))), [
        'key usage keyEncipherment is not for an Ed25519 key',
      ]);
    });
    it('finds an RSA key asked to agree keys', () =>
      assert.deepEqual(lint(withKeyUsage(clientRsa, keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.keyAgreement))), ['key usage keyAgreement is not for an RSA key']));
    it('finds encipherOnly without keyAgreement', () =>
      assert.deepEqual(lint(withKeyUsage(client, keyUsage(KeyUsageFlags.digitalSignature, KeyUsageFlags.encipherOnly))), ['key usage encipherOnly or decipherOnly without keyAgreement']));
    it('finds trailing zero bits, which DER drops', () =>
      assert.deepEqual(lint(withKeyUsage(client, Uint8Array.of(0x03, 0x02, 0x00, 0x80))), ['key usage is not DER (trailing zero bits)']));
    it('finds bits beyond decipherOnly, which name no usage', () =>
      assert.deepEqual(lint(withKeyUsage(client, Uint8Array.of(0x03, 0x03, 0x06, 0x80, 0x40))), ['key usage has bits beyond decipherOnly']));
    it('finds no bits set', () => assert.deepEqual(lint(withKeyUsage(client, Uint8Array.of(0x03, 0x01, 0x00))), ['key usage has no bits set', 'key usage lacks digitalSignature']));
  });

  describe('extended key usage', () => {
    const withPurposes = (tbs: Uint8Array, ...purposes: string[]) => edit(tbs, (parts) => setExtension(parts, OID.extKeyUsage, AsnConvert.serialize(new ExtendedKeyUsage(purposes))));
    it('finds it missing in a device certificate', () => assert.deepEqual(lint(edit(client, (parts) => removeExtension(parts, OID.extKeyUsage))), ['extended key usage missing']));
    it('finds a device certificate without id-kp-clientAuth', () => assert.deepEqual(lint(withPurposes(client, OID.serverAuth)), ['extended key usage lacks id-kp-clientAuth']));
    it('passes id-kp-clientAuth among others', () => assert.deepEqual(lint(withPurposes(client, OID.serverAuth, OID.clientAuth)), []));
    it('finds an OCSP responder certificate without id-kp-OCSPSigning', () =>
      assert.deepEqual(lint(withPurposes(responder, OID.clientAuth), 'ocsp-responder'), ['extended key usage lacks id-kp-OCSPSigning']));
    it('finds a device certificate linted as an OCSP responder', () => assert.deepEqual(lint(client, 'ocsp-responder'), ['extended key usage lacks id-kp-OCSPSigning']));
    it('finds an empty list', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.extKeyUsage, Uint8Array.of(0x30, 0x00)))), [
        'extended key usage is empty',
        'extended key usage lacks id-kp-clientAuth',
      ]));
  });

  describe('key identifiers', () => {
    const keyIdentifier = (octets: Uint8Array) => encodeElement(DerTag.octetString, octets);
    it('finds the subject key identifier missing', () =>
      assert.deepEqual(lint(edit(client, (parts) => removeExtension(parts, OID.subjectKeyIdentifier))), ['subject key identifier missing']));
    it('finds a subject key identifier that is not the key’s (RFC 5280 §4.2.1.2 method 1)', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.subjectKeyIdentifier, keyIdentifier(subjectKeyIdentifierOf(caKey.spki))))), [
        'subject key identifier does not match the subject key',
      ]));
    it('finds a critical subject key identifier', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.subjectKeyIdentifier, extensionOf(parts, OID.subjectKeyIdentifier).value, true))), [
        'subject key identifier is critical',
      ]));
    it('finds the authority key identifier missing', () =>
      assert.deepEqual(lint(edit(client, (parts) => removeExtension(parts, OID.authorityKeyIdentifier))), ['authority key identifier missing']));
    it("finds an authority key identifier that is not the issuer's", () =>
      assert.deepEqual(lint(client, 'client', { issuer: { ...issuer, subjectKeyIdentifier: new Uint8Array(20).fill(7) } }), [
        "authority key identifier does not match the issuer's key identifier",
      ]));
    it('finds an authority key identifier without keyIdentifier', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.authorityKeyIdentifier, encodeElement(DerTag.sequence, Uint8Array.of(0x82, 0x01, 0x01))))), [
        'authority key identifier has no keyIdentifier',
      ]));
    it('finds an empty keyIdentifier', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.authorityKeyIdentifier, Uint8Array.of(0x30, 0x02, 0x80, 0x00)))), [
        'authority key identifier keyIdentifier is empty',
      ]));
    it('finds a critical authority key identifier', () =>
      assert.deepEqual(lint(edit(client, (parts) => setExtension(parts, OID.authorityKeyIdentifier, extensionOf(parts, OID.authorityKeyIdentifier).value, true))), [
        'authority key identifier is critical',
      ]));
  });

  describe('subject alternative names', () => {
    const withNames = (...names: GeneralName[]) => edit(client, (parts) => setExtension(parts, OID.subjectAltName, AsnConvert.serialize(new SubjectAlternativeName(names))));
    const withRawNames = (...names: Uint8Array[]) => edit(client, (parts) => setExtension(parts, OID.subjectAltName, encodeElement(DerTag.sequence, ...names)));
    it('finds an empty list', () => assert.deepEqual(lint(withRawNames()), ['subject alternative name is empty']));
    for (const name of ['under_score.example.com', 'a..b.example.com', '-x.example.com', 'x'.repeat(64) + '.example.com', '*.', 'host.example.com.', '']) {
      it(`finds the dNSName "${name.length > 20 ? `${name.slice(0, 20)}…` : name}"`, () =>
        assert.deepEqual(lint(withRawNames(encodeElement(contextTag(2, false), text(name)))), ['subject alternative name dNSName is not a valid host name']));
    }
    it('finds a non-ASCII dNSName (IDNs go in as A-labels)', () =>
      assert.deepEqual(lint(withRawNames(encodeElement(contextTag(2, false), text('gerät.example.com')))), ['subject alternative name dNSName is not a valid host name']));
    it('passes a wildcard and an A-label', () => assert.deepEqual(lint(withNames(new GeneralName({ dNSName: '*.example.com' }), new GeneralName({ dNSName: 'xn--gert-7qa.example.com' }))), []));
    it('finds a URI without a scheme', () =>
      assert.deepEqual(lint(withRawNames(encodeElement(contextTag(6, false), text('//ccm.example.com/x')))), ['subject alternative name URI has no scheme']));
    it('finds a URI with a space or non-ASCII', () => {
      assert.deepEqual(lint(withRawNames(encodeElement(contextTag(6, false), text('urn:a b')))), ['subject alternative name URI is not printable ASCII']);
      assert.deepEqual(lint(withRawNames(encodeElement(contextTag(6, false), text('urn:gerät')))), ['subject alternative name URI is not printable ASCII']);
    });
    it('finds an iPAddress that is neither 4 nor 16 octets', () =>
      assert.deepEqual(lint(withRawNames(encodeElement(contextTag(7, false), Uint8Array.of(10, 0, 0, 1, 0)))), ['subject alternative name iPAddress is not 4 or 16 octets']));
    it('finds an rfc822Name that is not a mailbox', () => {
      assert.deepEqual(lint(withRawNames(encodeElement(contextTag(1, false), text('example.com')))), ['subject alternative name rfc822Name is not a mailbox']);
      assert.deepEqual(lint(withRawNames(encodeElement(contextTag(1, false), text('a@b@example.com')))), ['subject alternative name rfc822Name is not a mailbox']);
    });
    it('finds a name form ccm does not write', () =>
      assert.deepEqual(lint(withNames(new GeneralName({ registeredID: '1.3.6.1.4.1.99999.2' }))), ['subject alternative name has a name form ccm does not write']));
  });

  describe('malformed input', () => {
    const malformed = (tbs: Uint8Array) => {
      const findings = lint(tbs);
      assert.equal(findings.length, 1, findings.join('\n'));
      assert.match(findings[0]!, /^TBSCertificate is malformed: /);
    };
    it('finds a truncated TBSCertificate', () => malformed(client.subarray(0, client.length - 3)));
    it('finds bytes after the TBSCertificate', () => malformed(Uint8Array.of(...client, 0x00)));
    it('finds an indefinite length', () => malformed(Uint8Array.of(0x30, 0x80, ...client.subarray(client[1]! & 0x80 ? 2 + (client[1]! & 0x7f) : 2), 0x00, 0x00)));
    it('finds something that is not a SEQUENCE', () => malformed(Uint8Array.of(0x04, 0x00)));
    it('finds a field missing', () => malformed(encodeElement(DerTag.sequence, ...readChildren(readSingleElement(client)).slice(0, 4).map((field) => field.bytes))));
    it('reports a malformed extension value next to the other findings', () => {
      const broken = edit(client, (parts) => {
        setExtension(parts, OID.keyUsage, Uint8Array.of(0x04, 0x01, 0x80));
        parts.serialNumber = encodeElement(DerTag.integer, Uint8Array.of(0x00));
      });
      assert.deepEqual(lint(broken), ['serial number is zero', 'key usage is malformed: KeyUsage: expected tag 0x3, found 0x4']);
    });
    it('never throws anything but CertificateLintFailed, whatever the bytes', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: client.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 8 }), (at, octet, cut) => {
          const mutated = Uint8Array.from(client);
          mutated[at] = octet;
          for (const tbs of [mutated, mutated.subarray(0, mutated.length - cut)]) {
            try {
              lintCertificate(tbs, policy('client'));
            } catch (error) {
              if (!(error instanceof CertificateLintFailed)) throw error;
            }
          }
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('CertificateLintFailed', () => {
    it('lists every finding at once, as a 500-kind domain error with the findings in its details', () => {
      const broken = edit(client, (parts) => {
        parts.version = null;
        removeExtension(parts, OID.basicConstraints);
      });
      try {
        lintCertificate(broken, policy('client', { signingAlgorithm: 'ed25519' }));
        assert.fail('expected a lint failure');
      } catch (error) {
        assert.ok(error instanceof CertificateLintFailed);
        assert.ok(error instanceof DomainError);
        assert.equal(error.kind, 'certificate-lint-failed');
        assert.deepEqual(error.findings, ['version is not v3', 'signature algorithm does not match the signing key', 'basic constraints missing']);
        assert.deepEqual(error.details, { findings: error.findings });
        assert.equal(error.message, 'the pre-signing lint refused to sign: version is not v3; signature algorithm does not match the signing key; basic constraints missing');
        assert.ok(Object.isFrozen(error.findings));
      }
    });
  });
});
