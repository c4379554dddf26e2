/**
 * The CA role on its own, against an in-memory custody: the order it works
 * in (record, then lint, then sign, then record the certificate), and
 * deliberately broken orders handed straight to it, bypassing every use
 * case, which the lint must refuse before anything is signed, leaving the
 * pending record marked failed.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CertificateAuthority, type CertificateOrder, type CertificateRecord, type Issuer } from '../../src/ca/certificate-authority.js';
import { CertificateLintFailed } from '../../src/ca/certificate-lint.js';
import { SerialNumbers } from '../../src/ca/serial-numbers.js';
import { inspectCertificate, verifyCertificateSignature } from '../../src/codec/certificate-inspection.js';
import type { DistinguishedName } from '../../src/codec/distinguished-name.js';
import { CustodyUnavailable, DomainError } from '../../src/shared/errors.js';
import { MemoryKeyCustody } from '../support/memory-key-custody.js';
import { newTestKey } from '../support/test-keys.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T00:00:00Z');
/** DER of the Name CN=abc: a well-formed name that is not the root's. */
const OTHER_NAME = Uint8Array.from([0x30, 0x0e, 0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, 0x61, 0x62, 0x63]);

class FixedSerialNumbers extends SerialNumbers {
  constructor(private readonly content: Uint8Array) {
    super();
  }
  override next(): Uint8Array {
    return Uint8Array.from(this.content);
  }
}

/** A record that notes what the CA asked of it, in order. */
function notingRecord(events: string[], custody: MemoryKeyCustody): CertificateRecord<Uint8Array> {
  return {
    pending: async (serial) => {
      events.push(`pending:${serial} after ${custody.signed.length} signatures`);
    },
    issued: async (der) => {
      events.push('issued');
      return der;
    },
    failed: async () => {
      events.push('failed');
    },
  };
}

async function rootOf(ca: CertificateAuthority, custody: MemoryKeyCustody, name: string, validity: { notBefore: Date; notAfter: Date }): Promise<Issuer> {
  const subject: DistinguishedName = [{ attribute: 'CN', value: name }];
  const { der } = await ca.issue(
    { purpose: 'ca', issuer: 'self', subject, subjectKey: { custodyKeyName: name, keyAlgorithm: 'ecdsa-p256' }, ...validity, profile: { kind: 'ca', pathLenConstraint: 1 } },
    notingRecord([], custody),
  );
  const inspected = inspectCertificate(der);
  return { custodyKeyName: name, keyAlgorithm: 'ecdsa-p256', certificateDer: der, subjectName: inspected.subjectName, subjectKeyIdentifier: inspected.subjectKeyIdentifier! };
}

describe('the CA role', () => {
  let custody: MemoryKeyCustody;
  let ca: CertificateAuthority;
  let root: Issuer;
  let deviceKey: Uint8Array;
  const clientOrder = (overrides: Partial<CertificateOrder> = {}): CertificateOrder => ({
    purpose: 'client',
    issuer: root,
    subject: [{ attribute: 'CN', value: 'device-1' }],
    subjectKey: { publicKeyInfo: deviceKey },
    notBefore: new Date(NOW),
    notAfter: new Date(NOW + DAY),
    profile: { kind: 'client' },
    subjectAltNames: { uri: ['urn:uuid:5f0c3a8e-8a43-4c8e-9d53-0b5ad3d0e1a1'] },
    ...overrides,
  });

  before(async () => {
    custody = new MemoryKeyCustody();
    ca = new CertificateAuthority(custody, new SerialNumbers());
    root = await rootOf(ca, custody, 'Test root CA', { notBefore: new Date(NOW - DAY), notAfter: new Date(NOW + 365 * DAY) });
    deviceKey = (await newTestKey('ecdsa-p256')).spki;
  });

  it('records the serial before custody signs, then records the certificate', async () => {
    const events: string[] = [];
    const signaturesBefore = custody.signed.length;
    const { der, recorded } = await ca.issue(clientOrder(), notingRecord(events, custody));
    assert.equal(recorded, der);
    const inspected = inspectCertificate(der);
    assert.deepEqual(events, [`pending:${inspected.serialNumberHex} after ${signaturesBefore} signatures`, 'issued']);
    assert.equal(custody.signed.length, signaturesBefore + 1);
    assert.ok(verifyCertificateSignature(der, inspectCertificate(root.certificateDer).subjectPublicKeyInfo));
  });

  it('creates a subject key custody is to hold only after the record is committed', async () => {
    const events: string[] = [];
    const record = notingRecord(events, custody);
    const callsBefore = custody.calls.length;
    await ca.issue(
      { ...clientOrder(), purpose: 'ocsp-responder', profile: { kind: 'ocsp-responder' }, subjectKey: { custodyKeyName: 'responder-1', keyAlgorithm: 'ecdsa-p256' }, subjectAltNames: undefined },
      { ...record, pending: async (serial) => { events.push(`pending, custody calls so far: ${custody.calls.slice(callsBefore).join(',')}`); await record.pending(serial); } },
    );
    assert.equal(events[0], 'pending, custody calls so far: ');
    assert.deepEqual(custody.calls.slice(callsBefore), ['createKey:responder-1', 'sign:Test root CA']);
  });

  it('signs nothing when the record cannot be committed', async () => {
    const signaturesBefore = custody.signed.length;
    const failure = new Error('database down');
    await assert.rejects(ca.issue(clientOrder(), { ...notingRecord([], custody), pending: async () => { throw failure; } }), (error) => error === failure);
    assert.equal(custody.signed.length, signaturesBefore);
  });

  it('marks the record failed when custody fails, and says why', async () => {
    const events: string[] = [];
    custody.failingSign = 'unavailable';
    try {
      await assert.rejects(ca.issue(clientOrder(), notingRecord(events, custody)), CustodyUnavailable);
    } finally {
      custody.failingSign = null;
    }
    assert.equal(events.length, 2);
    assert.equal(events[1], 'failed');
  });

  it('marks the record failed when recording the certificate fails (the certificate never leaves)', async () => {
    const events: string[] = [];
    const record = notingRecord(events, custody);
    await assert.rejects(ca.issue(clientOrder(), { ...record, issued: async () => { throw new Error('lost the row'); } }), /lost the row/);
    assert.deepEqual(events.slice(1), ['failed']);
  });

  describe('refuses broken orders before signing', () => {
    /** `finding` matches a lint finding; 'encoder' when the codec itself refuses to encode it (also before any signature). */
    const refused = async (order: CertificateOrder, finding: RegExp | 'encoder', serials?: SerialNumbers) => {
      const signer = serials ? new CertificateAuthority(custody, serials) : ca;
      const events: string[] = [];
      const signaturesBefore = custody.signed.length;
      await assert.rejects(signer.issue(order, notingRecord(events, custody)), (error: unknown) => {
        if (finding === 'encoder') {
          if (!(error instanceof DomainError)) assert.fail(`expected the encoder's refusal, got ${String(error)}`);
          assert.equal(error.kind, 'invalid-request');
          return true;
        }
        if (!(error instanceof CertificateLintFailed)) assert.fail(`expected a lint failure, got ${String(error)}`);
        assert.equal(error.kind, 'certificate-lint-failed');
        assert.match(error.findings.join('\n'), finding);
        return true;
      });
      assert.equal(custody.signed.length, signaturesBefore, 'nothing was signed');
      assert.equal(events.at(-1), 'failed', 'the pending record is marked failed');
      assert.match(events[0]!, /^pending:/);
    };

    it('a validity that ends after the issuer\'s', () => refused(clientOrder({ notAfter: new Date(NOW + 400 * DAY) }), /issuer/i));
    it('a validity that starts before the issuer\'s', () => refused(clientOrder({ notBefore: new Date(NOW - 2 * DAY) }), /issuer/i));
    it('a device certificate built as a CA', () => refused(clientOrder({ profile: { kind: 'ca', pathLenConstraint: 0 } }), /CA|keyCertSign/));
    it('a device certificate without the client-authentication EKU', () => refused(clientOrder({ profile: { kind: 'ocsp-responder' } }), /clientAuth|extended key usage/i));
    it('a CA certificate built as a leaf', () => refused(clientOrder({ purpose: 'ca' }), /CA|keyCertSign/));
    it('an issuer name that is not the issuer certificate\'s subject', () =>
      refused(clientOrder({ issuer: { ...root, subjectName: OTHER_NAME } }), /issuer/i));
    it('an authority key identifier that is not the issuer\'s', () => refused(clientOrder({ issuer: { ...root, subjectKeyIdentifier: new Uint8Array(20).fill(7) } }), /authority key identifier|AKI/i));
    it('a common name longer than RFC 5280 allows (the encoder refuses it first)', () => refused(clientOrder({ subject: [{ attribute: 'CN', value: 'x'.repeat(65) }] }), 'encoder'));
    it('a serial number longer than 20 octets', () => refused(clientOrder(), /serial/i, new FixedSerialNumbers(Uint8Array.from({ length: 21 }, (_, i) => i + 1))));
    it('a negative serial number', () => refused(clientOrder(), /serial/i, new FixedSerialNumbers(Uint8Array.of(0x80, 0x01))));
    it('a zero serial number', () => refused(clientOrder(), /serial/i, new FixedSerialNumbers(Uint8Array.of(0x00))));

    it('an issuer whose custody key is of another algorithm than its certificate\'s key', async () => {
      await custody.addKey('p384-key', 'ecdsa-p384');
      await refused(clientOrder({ issuer: { ...root, custodyKeyName: 'p384-key', keyAlgorithm: 'ecdsa-p384' } }), /ecdsa-p384|algorithm/i);
    });
  });

  describe('revocation lists', () => {
    it('are signed by the issuer after the lint', async () => {
      const signaturesBefore = custody.signed.length;
      const der = await ca.signRevocationList(root, {
        crlNumber: 1n,
        thisUpdate: new Date(NOW),
        nextUpdate: new Date(NOW + DAY),
        entries: [{ serialNumber: '0a1b2c', revocationDate: new Date(NOW - 1000), reason: 'keyCompromise' }],
      });
      assert.ok(der.length > 0);
      assert.equal(custody.signed.length, signaturesBefore + 1);
    });

    it('are refused when the issuer\'s custody key does not match its certificate', async () => {
      const signaturesBefore = custody.signed.length;
      await assert.rejects(
        ca.signRevocationList({ ...root, custodyKeyName: 'p384-key', keyAlgorithm: 'ecdsa-p384' }, { crlNumber: 2n, thisUpdate: new Date(NOW), nextUpdate: new Date(NOW + DAY), entries: [] }),
        CertificateLintFailed,
      );
      assert.equal(custody.signed.length, signaturesBefore);
    });

    it('are refused when the issuer name is not the issuer certificate\'s', async () => {
      const signaturesBefore = custody.signed.length;
      await assert.rejects(
        ca.signRevocationList({ ...root, subjectName: OTHER_NAME }, { crlNumber: 3n, thisUpdate: new Date(NOW), nextUpdate: new Date(NOW + DAY), entries: [] }),
        CertificateLintFailed,
      );
      assert.equal(custody.signed.length, signaturesBefore);
    });
  });
});
