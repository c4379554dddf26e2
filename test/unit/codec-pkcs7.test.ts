/**
 * Tests for the certs-only PKCS #7 encoder (src/codec/pkcs7.ts): the real
 * openssl command line reads the message, in DER and in the base64 form EST
 * sends (RFC 7030 §4.1.3), and hands back the very certificates put in, in
 * order; the structure around one certificate is checked byte for byte; and
 * bad input is refused with `invalid-request`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DomainError } from '../../src/shared/errors.js';
import { encodePem } from '../../src/codec/pem.js';
import { encodeCertsOnly } from '../../src/codec/pkcs7.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';
import { issueTestCertificate, newTestKey } from '../support/test-keys.js';

/** Base64 as an EST server sends it: a line break every 64 characters. */
function estBase64(der: Uint8Array): string {
  return (Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? []).join('\n') + '\n';
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** A DER length in the two-octet long form: every test certificate is between 256 and 65535 bytes. */
function length2(length: number): string {
  assert.ok(length >= 0x100 && length <= 0xffff, `length ${length} outside the two-octet form`);
  return `82${length.toString(16).padStart(4, '0')}`;
}

function invalidRequest(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof DomainError, `expected a DomainError, got ${String(error)}`);
    assert.equal(error.kind, 'invalid-request');
    assert.match(error.message, pattern);
    return true;
  };
}

describe('encodeCertsOnly', () => {
  let scratch: Scratch;
  let root: Uint8Array;
  let leaf: Uint8Array;

  before(async () => {
    scratch = await Scratch.create();
    const rootKey = await newTestKey('ecdsa-p256');
    root = await issueTestCertificate([{ attribute: 'O', value: 'ccm test' }, { attribute: 'CN', value: 'Tenant A Root' }], rootKey, { kind: 'ca', pathLenConstraint: 0 }, null, { lifetimeHours: 24 });
    const leafKey = await newTestKey('rsa-2048');
    leaf = await issueTestCertificate([{ attribute: 'CN', value: 'device-1' }], leafKey, { kind: 'client' }, { der: root, key: rootKey }, { lifetimeHours: 24 });
  });

  after(() => scratch.cleanup());

  /** `openssl pkcs7 -print_certs` of a DER file: the PEM blocks it prints, in order. */
  async function printedCertificates(derPath: string): Promise<string[]> {
    const result = await openssl(['pkcs7', '-inform', 'DER', '-in', derPath, '-print_certs']);
    assert.equal(result.code, 0, result.stderr);
    return pemBlocks(result.stdout);
  }

  it('openssl reads back both certificates byte for byte, in the given order', async () => {
    for (const [name, order] of [['leaf-first', [leaf, root]], ['root-first', [root, leaf]]] as const) {
      const path = await writeBinary(`${name}.p7`, encodeCertsOnly(order));
      assert.deepEqual(await printedCertificates(path), order.map((der) => encodePem(der, 'CERTIFICATE')), name);
    }
  });

  it('is the canonical encoding: openssl re-encodes it to the same bytes', async () => {
    const der = encodeCertsOnly([leaf, root]);
    const path = await writeBinary('canonical.p7', der);
    const out = scratch.path('canonical-out.p7');
    const result = await openssl(['pkcs7', '-inform', 'DER', '-in', path, '-outform', 'DER', '-out', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(hex(new Uint8Array(await readFile(out))), hex(der));
  });

  it('the base64 body EST sends decodes with openssl base64 -d into the same message', async () => {
    const der = encodeCertsOnly([leaf, root]);
    const body = estBase64(der);
    assert.ok(body.split('\n').every((line) => line.length <= 64), 'lines of at most 64 characters');
    const b64Path = await scratch.write('est.b64', body);
    const decodedPath = scratch.path('est.p7');
    const decoded = await openssl(['base64', '-d', '-in', b64Path, '-out', decodedPath]);
    assert.equal(decoded.code, 0, decoded.stderr);
    assert.equal(hex(new Uint8Array(await readFile(decodedPath))), hex(der));
    assert.deepEqual(await printedCertificates(decodedPath), [encodePem(leaf, 'CERTIFICATE'), encodePem(root, 'CERTIFICATE')]);
  });

  it('writes exactly ContentInfo { id-signedData, [0] SignedData { 1, {}, { id-data }, [0] { cert }, {} } } for one certificate', () => {
    const der = encodeCertsOnly([root]);
    const l = root.length;
    const expected =
      `30${length2(l + 43)}` + // ContentInfo
      '06092a864886f70d010702' + // contentType id-signedData
      `a0${length2(l + 28)}` + // content [0] EXPLICIT
      `30${length2(l + 24)}` + // SignedData
      '020101' + // version 1
      '3100' + // digestAlgorithms: empty SET
      '300b06092a864886f70d010701' + // encapContentInfo { id-data }, no eContent
      `a0${length2(l)}${hex(root)}` + // certificates [0] IMPLICIT
      '3100'; // signerInfos: empty SET (no crls before it)
    assert.equal(hex(der), expected);
  });

  it('refuses an empty certificate list', () => {
    assert.throws(() => encodeCertsOnly([]), invalidRequest(/at least one certificate/));
  });

  it('refuses a certificate that is not a single DER SEQUENCE', () => {
    assert.throws(() => encodeCertsOnly([root, new Uint8Array()]), invalidRequest(/certificate 1 is not a single DER element/));
    assert.throws(() => encodeCertsOnly([root.subarray(0, root.length - 1)]), invalidRequest(/certificate 0 is not a single DER element/));
    assert.throws(() => encodeCertsOnly([Uint8Array.from([...root, 0x00])]), invalidRequest(/certificate 0 is not a single DER element: 1 bytes after/));
    assert.throws(() => encodeCertsOnly([Uint8Array.from([...root, ...leaf])]), invalidRequest(/certificate 0 is not a single DER element/));
    assert.throws(() => encodeCertsOnly([Uint8Array.of(0x31, 0x00)]), invalidRequest(/certificate 0 is not a DER SEQUENCE \(tag 0x31\)/));
    assert.throws(() => encodeCertsOnly([Uint8Array.of(0x30, 0x80, 0x00, 0x00)]), invalidRequest(/indefinite length/));
  });

  /** Scratch.write takes text; the DER message is written as bytes. */
  async function writeBinary(name: string, bytes: Uint8Array): Promise<string> {
    const path = scratch.path(name);
    await writeFile(path, bytes);
    return path;
  }
});
