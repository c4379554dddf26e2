/**
 * Tests for the OCSP encoding (src/codec/ocsp.ts): requests made by the
 * openssl command line read back into CertIDs and nonces, issuer hashes
 * matching what openssl puts in a CertID, malformed requests refused, and
 * responses read back with ccm's strict DER reader (signatures checked with
 * node:crypto). openssl's view of the responses is in
 * test/medium/issuance-ocsp-openssl.test.ts.
 */
import { randomBytes, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signatureSchemeFor } from '../../src/codec/key-algorithm.js';
import { REVOCATION_REASONS, type RevocationReason } from '@ccm/event-consumer/contract';
import { DomainError } from '../../src/shared/errors.js';
import { signatureAlgorithmOf, subjectKeyIdentifierOf } from '../../src/codec/certificate-encoder.js';
import { inspectCertificate } from '../../src/codec/certificate-inspection.js';
import { DerTag, contextTag, decodeObjectIdentifier, encodeElement, readChildren, readSingleElement, type DerElement } from '../../src/codec/der.js';
import {
  MAXIMUM_OCSP_REQUEST_OCTETS,
  OcspMalformedRequest,
  encodeOcspErrorResponse,
  encodeOcspResponse,
  issuerHashes,
  parseOcspRequest,
  type OcspCertId,
  type OcspErrorStatus,
  type OcspHashAlgorithm,
  type OcspResponseRequest,
} from '../../src/codec/ocsp.js';
import { encodePem } from '../../src/codec/pem.js';
import { openssl, Scratch } from '../support/openssl.js';
import { issueTestCertificate, newTestKey, type TestKey } from '../support/test-keys.js';

interface Issued {
  readonly der: Uint8Array;
  readonly key: TestKey;
  readonly serialNumber: string;
  readonly path: string;
}

const PRODUCED_AT = new Date('2024-05-01T12:00:00Z');
const NEXT_UPDATE = new Date('2024-05-01T13:00:00Z');
const OID_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
const OID_OCSP_NONCE = '1.3.6.1.5.5.7.48.1.2';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replaceAll(' ', ''), 'hex'));
}

function children(element: DerElement | undefined): DerElement[] {
  assert.ok(element !== undefined, 'element present');
  return readChildren(element);
}

// --- Requests assembled by hand, for the inputs openssl will not make. ---

const OID_SHA1_ALGORITHM = fromHex('3009 0605 2b0e03021a 0500');

function certIdDer(options: { algorithm?: Uint8Array; nameHash?: Uint8Array; keyHash?: Uint8Array; serial?: Uint8Array } = {}): Uint8Array {
  return encodeElement(
    DerTag.sequence,
    options.algorithm ?? OID_SHA1_ALGORITHM,
    encodeElement(DerTag.octetString, options.nameHash ?? new Uint8Array(20).fill(1)),
    encodeElement(DerTag.octetString, options.keyHash ?? new Uint8Array(20).fill(2)),
    encodeElement(DerTag.integer, options.serial ?? Uint8Array.of(0x12, 0x34)),
  );
}

function extensionDer(oid: Uint8Array, value: Uint8Array, critical = false): Uint8Array {
  return encodeElement(DerTag.sequence, oid, ...(critical ? [Uint8Array.of(0x01, 0x01, 0xff)] : []), encodeElement(DerTag.octetString, value));
}

const NONCE_OID = fromHex('06 09 2b0601050507300102');

/** OCSPRequest { TBSRequest { [version], requestList, [2] extensions } }. */
function requestDer(options: { certIds?: readonly Uint8Array[]; extensions?: readonly Uint8Array[]; version?: Uint8Array; tail?: readonly Uint8Array[] } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  if (options.version) parts.push(options.version);
  parts.push(encodeElement(DerTag.sequence, ...(options.certIds ?? [certIdDer()]).map((certId) => encodeElement(DerTag.sequence, certId))));
  if (options.extensions) parts.push(encodeElement(contextTag(2, true), encodeElement(DerTag.sequence, ...options.extensions)));
  return encodeElement(DerTag.sequence, encodeElement(DerTag.sequence, ...parts), ...(options.tail ?? []));
}

function malformed(der: Uint8Array, what: string): void {
  assert.throws(() => parseOcspRequest(der), OcspMalformedRequest, what);
}

describe('parseOcspRequest on requests openssl makes', () => {
  let scratch: Scratch;
  let ca: Issued;
  let leaves: Issued[];
  let caSubjectName: Uint8Array;

  async function issued(name: string, der: Uint8Array, key: TestKey): Promise<Issued> {
    return { der, key, serialNumber: inspectCertificate(der).serialNumberHex, path: await scratch.write(name, encodePem(der, 'CERTIFICATE')) };
  }

  before(async () => {
    scratch = await Scratch.create();
    const caKey = await newTestKey('ecdsa-p256');
    ca = await issued('ca.pem', await issueTestCertificate([{ attribute: 'O', value: 'ccm test' }, { attribute: 'CN', value: 'Tenant A Root' }], caKey, { kind: 'ca', pathLenConstraint: 0 }, null, { lifetimeHours: 24 }), caKey);
    caSubjectName = inspectCertificate(ca.der).subjectName;
    leaves = [];
    for (const name of ['device-1', 'device-2']) {
      const key = await newTestKey('ecdsa-p256');
      leaves.push(await issued(`${name}.pem`, await issueTestCertificate([{ attribute: 'CN', value: name }], key, { kind: 'client' }, { der: ca.der, key: ca.key }, { lifetimeHours: 24 }), key));
    }
  });

  after(() => scratch.cleanup());

  /** `openssl ocsp -issuer ca.pem -cert … -reqout`, with extra options; returns the request DER. */
  async function opensslRequest(name: string, options: readonly string[], certificates: readonly Issued[] = [leaves[0]!]): Promise<Uint8Array> {
    const out = scratch.path(`${name}.der`);
    // Options first: openssl applies a digest option only to the -cert options after it.
    const result = await openssl(['ocsp', ...options, '-issuer', ca.path, ...certificates.flatMap((leaf) => ['-cert', leaf.path]), '-reqout', out]);
    assert.equal(result.code, 0, result.stderr);
    return new Uint8Array(await readFile(out));
  }

  function assertMatchesCa(certId: OcspCertId, hashAlgorithm: OcspHashAlgorithm): void {
    assert.equal(certId.hashAlgorithm, hashAlgorithm);
    const expected = issuerHashes(hashAlgorithm, caSubjectName, ca.key.spki);
    assert.equal(hex(certId.issuerNameHash), hex(expected.nameHash), 'issuerNameHash');
    assert.equal(hex(certId.issuerKeyHash), hex(expected.keyHash), 'issuerKeyHash');
  }

  it('reads a default request: one SHA-1 CertID for the leaf, echoable as received, and the nonce as openssl sends it', async () => {
    const der = await opensslRequest('default', []);
    const request = parseOcspRequest(der);
    assert.equal(request.certIds.length, 1);
    const [certId] = request.certIds;
    assertMatchesCa(certId!, 'sha1');
    assert.equal(certId!.serialNumber, leaves[0]!.serialNumber);
    // The CertID is the request's own bytes: SEQUENCE { SEQUENCE { SEQUENCE OF { Request { CertID } } } }.
    const requestCertId = children(children(children(children(readSingleElement(der))[0])[0])[0])[0]!;
    assert.equal(hex(certId!.der), hex(requestCertId.bytes));
    // openssl's nonce: the extnValue holds an OCTET STRING of 16 random octets.
    assert.ok(request.nonce !== null);
    assert.equal(request.nonce.length, 18);
    assert.equal(hex(request.nonce.subarray(0, 2)), '0410');
    assert.ok(Buffer.from(der).includes(Buffer.from(request.nonce)), 'nonce taken from the request');
  });

  it('reads a request without a nonce (-no_nonce)', async () => {
    const request = parseOcspRequest(await opensslRequest('no-nonce', ['-no_nonce']));
    assert.equal(request.nonce, null);
    assert.equal(request.certIds.length, 1);
    assert.equal(request.certIds[0]!.serialNumber, leaves[0]!.serialNumber);
  });

  it('reads SHA-256 CertIDs (-sha256)', async () => {
    const request = parseOcspRequest(await opensslRequest('sha256', ['-sha256']));
    const [certId] = request.certIds;
    assert.equal(certId!.issuerNameHash.length, 32);
    assertMatchesCa(certId!, 'sha256');
    assert.equal(certId!.serialNumber, leaves[0]!.serialNumber);
  });

  it('reads several CertIDs in request order', async () => {
    const request = parseOcspRequest(await opensslRequest('two', [], [leaves[1]!, leaves[0]!]));
    assert.deepEqual(
      request.certIds.map((certId) => certId.serialNumber),
      [leaves[1]!.serialNumber, leaves[0]!.serialNumber],
    );
    for (const certId of request.certIds) assertMatchesCa(certId, 'sha1');
    assert.notEqual(hex(request.certIds[0]!.der), hex(request.certIds[1]!.der));
  });

  it('accepts a signed request (requestorName and signature present) without checking the signature', async () => {
    const keyPath = await scratch.write('device-1.key', leaves[0]!.key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const der = await opensslRequest('signed', ['-signer', leaves[0]!.path, '-signkey', keyPath]);
    const [tbsRequest, signature] = children(readSingleElement(der));
    assert.equal(children(tbsRequest)[0]!.tag, contextTag(1, true), 'openssl writes requestorName');
    assert.equal(signature!.tag, contextTag(0, true), 'optionalSignature present');
    const request = parseOcspRequest(der);
    assert.equal(request.certIds[0]!.serialNumber, leaves[0]!.serialNumber);
    assert.ok(request.nonce !== null);
  });

  it('refuses every truncation, trailing data and a corrupted length of an openssl request', async () => {
    const der = await opensslRequest('cut', []);
    for (let length = 0; length < der.length; length++) malformed(der.subarray(0, length), `truncated to ${length}`);
    malformed(Uint8Array.of(...der, 0x00), 'one trailing zero octet');
    malformed(Uint8Array.of(...der, ...der), 'two requests back to back');
    const longer = Uint8Array.from(der);
    longer[1] = longer[1]! + 1;
    malformed(longer, 'outer length one too long');
  });

  it('issuerHashes: SHA-1 key hash is the RFC 5280 key identifier; every hash has its digest length', () => {
    const sha1 = issuerHashes('sha1', caSubjectName, ca.key.spki);
    assert.equal(hex(sha1.keyHash), hex(subjectKeyIdentifierOf(ca.key.spki)), 'SHA-1 over the subjectPublicKey bits, not the whole SPKI');
    for (const [algorithm, length] of [
      ['sha1', 20],
      ['sha256', 32],
      ['sha384', 48],
      ['sha512', 64],
    ] as const) {
      const hashes = issuerHashes(algorithm, caSubjectName, ca.key.spki);
      assert.equal(hashes.nameHash.length, length, algorithm);
      assert.equal(hashes.keyHash.length, length, algorithm);
    }
    assert.throws(() => issuerHashes('sha1', Uint8Array.of(0x30, 0x00), ca.key.spki), (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request');
    assert.throws(() => issuerHashes('sha1', caSubjectName, Uint8Array.of(0x30, 0x01)), (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request');
    assert.throws(() => issuerHashes('md5' as OcspHashAlgorithm, caSubjectName, ca.key.spki), (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request');
  });
});

describe('parseOcspRequest on malformed input', () => {
  it('accepts the hand-built baseline the other cases vary', () => {
    const request = parseOcspRequest(requestDer({ extensions: [extensionDer(NONCE_OID, fromHex('0404 01020304'))] }));
    assert.equal(request.certIds[0]!.serialNumber, '1234');
    assert.equal(hex(request.nonce!), '040401020304');
    // An explicit v1 and an explicit FALSE critical flag are not DER, but are harmless and tolerated.
    const lenient = parseOcspRequest(requestDer({ version: fromHex('a003 020100'), extensions: [encodeElement(DerTag.sequence, NONCE_OID, fromHex('010100'), encodeElement(DerTag.octetString, fromHex('0401 ff')))] }));
    assert.equal(hex(lenient.nonce!), '0401ff');
    // A nonce without the inner OCTET STRING (older clients) is echoed as sent.
    assert.equal(hex(parseOcspRequest(requestDer({ extensions: [extensionDer(NONCE_OID, fromHex('aabbcc'))] })).nonce!), 'aabbcc');
    // A critical nonce is understood, so it is accepted; an unknown non-critical extension is ignored.
    assert.ok(parseOcspRequest(requestDer({ extensions: [extensionDer(NONCE_OID, fromHex('0401 01'), true)] })).nonce !== null);
    assert.equal(parseOcspRequest(requestDer({ extensions: [extensionDer(fromHex('06 09 2b0601050507300104'), fromHex('3000'))] })).nonce, null);
    // Negative serials (from other CAs) are read, not refused: they match nothing.
    assert.equal(parseOcspRequest(requestDer({ certIds: [certIdDer({ serial: Uint8Array.of(0xff, 0x01) })] })).certIds[0]!.serialNumber, 'ff01');
  });

  it('refuses empty, garbage and oversized input', () => {
    malformed(new Uint8Array(0), 'empty');
    malformed(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'), 'text');
    malformed(Uint8Array.of(0x30), 'a lone SEQUENCE tag');
    malformed(Uint8Array.of(0x30, 0x00), 'an empty SEQUENCE');
    malformed(Uint8Array.of(0x05, 0x00), 'NULL');
    for (let seed = 0; seed < 200; seed++) malformed(new Uint8Array(randomBytes(1 + (seed % 64))), `random bytes #${seed}`);
    for (let seed = 0; seed < 50; seed++) malformed(Uint8Array.of(0x30, 0x3e, ...randomBytes(0x3e)), `random SEQUENCE content #${seed}`);
    // A well-formed request with one CertID too many to fit the limit.
    const certIds: Uint8Array[] = [];
    while (certIds.reduce((total, certId) => total + certId.length + 2, 0) <= MAXIMUM_OCSP_REQUEST_OCTETS) certIds.push(certIdDer());
    const huge = requestDer({ certIds });
    assert.ok(huge.length > MAXIMUM_OCSP_REQUEST_OCTETS);
    malformed(huge, 'over 64 KiB');
    assert.equal(parseOcspRequest(requestDer({ certIds: certIds.slice(0, 100) })).certIds.length, 100);
  });

  it('refuses BER and framing errors', () => {
    const good = requestDer();
    malformed(Uint8Array.of(0x30, 0x80, ...good.subarray(2), 0x00, 0x00), 'indefinite length');
    malformed(Uint8Array.of(0x30, 0x81, good[1]!, ...good.subarray(2)), 'length not in its shortest form');
    malformed(Uint8Array.of(0x31, ...good.subarray(1)), 'a SET instead of a SEQUENCE');
  });

  it('refuses requests that ask about nothing or about what cannot be matched', () => {
    malformed(requestDer({ certIds: [] }), 'zero CertIDs');
    malformed(requestDer({ certIds: [certIdDer({ algorithm: fromHex('300c 0608 2a864886f70d0205 0500'), nameHash: new Uint8Array(16), keyHash: new Uint8Array(16) })] }), 'MD5');
    malformed(requestDer({ certIds: [certIdDer({ algorithm: fromHex('300d 0609 608648016503040204 0500') })] }), 'SHA-224 (not supported)');
    malformed(requestDer({ certIds: [certIdDer({ nameHash: new Uint8Array(19) })] }), 'a name hash one octet short');
    malformed(requestDer({ certIds: [certIdDer({ keyHash: new Uint8Array(32) })] }), 'a SHA-256-sized key hash in a SHA-1 CertID');
    malformed(requestDer({ certIds: [certIdDer({ algorithm: fromHex('3009 0605 2b0e03021a 0101ff') })] }), 'hash parameters other than NULL');
    malformed(requestDer({ certIds: [certIdDer({ serial: new Uint8Array(0) })] }), 'empty serial');
    malformed(requestDer({ certIds: [certIdDer({ serial: Uint8Array.of(0x00, 0x12) })] }), 'non-minimal serial');
    malformed(requestDer({ tail: [Uint8Array.of(0x05, 0x00)] }), 'a NULL where the signature goes');
    malformed(requestDer({ version: fromHex('a003 020101') }), 'version v2');
  });

  it('refuses bad extensions: unknown critical ones, empty, oversized or repeated nonces', () => {
    malformed(requestDer({ extensions: [extensionDer(fromHex('06 09 2b0601050507300104'), fromHex('3000'), true)] }), 'unknown critical extension');
    malformed(requestDer({ extensions: [extensionDer(NONCE_OID, new Uint8Array(0))] }), 'empty extnValue');
    malformed(requestDer({ extensions: [extensionDer(NONCE_OID, fromHex('0400'))] }), 'empty nonce');
    malformed(requestDer({ extensions: [extensionDer(NONCE_OID, encodeElement(DerTag.octetString, new Uint8Array(129)))] }), 'a 129-octet nonce');
    assert.ok(parseOcspRequest(requestDer({ extensions: [extensionDer(NONCE_OID, encodeElement(DerTag.octetString, new Uint8Array(128)))] })).nonce !== null, '128 octets is the limit');
    malformed(requestDer({ extensions: [extensionDer(NONCE_OID, fromHex('0401 01')), extensionDer(NONCE_OID, fromHex('0401 02'))] }), 'two nonces');
    malformed(requestDer({ extensions: [] }), 'empty Extensions');
    malformed(requestDer({ extensions: [extensionDer(NONCE_OID, fromHex('0401 01')).map((byte, index) => (index === 0 ? 0x31 : byte))] }), 'an Extension that is not a SEQUENCE');
    const singleCritical = encodeElement(
      DerTag.sequence,
      encodeElement(DerTag.sequence, encodeElement(DerTag.sequence, certIdDer(), encodeElement(contextTag(0, true), encodeElement(DerTag.sequence, extensionDer(fromHex('06 09 2b0601050507300107'), fromHex('3000'), true))))),
    );
    malformed(encodeElement(DerTag.sequence, singleCritical), 'critical service locator in singleRequestExtensions');
  });
});

describe('encodeOcspResponse', () => {
  let responder: TestKey;

  before(async () => {
    responder = await newTestKey('ecdsa-p256');
  });

  const certIdA = certIdDer({ serial: Uint8Array.of(0x0a) });
  const certIdB = certIdDer({ serial: Uint8Array.of(0x0b) });
  const certIdC = certIdDer({ serial: Uint8Array.of(0x0c) });
  const certIdD = certIdDer({ serial: Uint8Array.of(0x0d) });

  function certIdOf(der: Uint8Array): OcspCertId {
    return parseOcspRequest(requestDer({ certIds: [der] })).certIds[0]!;
  }

  function responseRequest(overrides: Partial<OcspResponseRequest> = {}): OcspResponseRequest {
    return {
      responderSubjectPublicKeyInfo: responder.spki,
      producedAt: new Date(PRODUCED_AT.getTime() + 789),
      responses: [
        { certId: certIdOf(certIdA), status: { kind: 'good' }, thisUpdate: PRODUCED_AT, nextUpdate: NEXT_UPDATE },
        { certId: certIdOf(certIdB), status: { kind: 'revoked', revokedAt: new Date('2024-04-30T08:09:10.500Z'), reason: 'keyCompromise' }, thisUpdate: PRODUCED_AT, nextUpdate: null },
        { certId: certIdOf(certIdC), status: { kind: 'unknown' }, thisUpdate: PRODUCED_AT, nextUpdate: NEXT_UPDATE },
        { certId: certIdOf(certIdD), status: { kind: 'revoked', revokedAt: new Date('2024-04-30T08:09:10Z'), reason: 'certificateHold' }, thisUpdate: PRODUCED_AT, nextUpdate: NEXT_UPDATE },
      ],
      nonce: fromHex('0410 00112233445566778899aabbccddeeff'),
      ...overrides,
    };
  }

  /** OCSPResponse → BasicOCSPResponse's fields, checking the envelope on the way. */
  function basicResponse(der: Uint8Array): DerElement[] {
    const [status, responseBytes, ...rest] = children(readSingleElement(der));
    assert.equal(rest.length, 0);
    assert.equal(hex(status!.bytes), '0a0100', 'successful');
    assert.equal(responseBytes!.tag, contextTag(0, true));
    const [inner] = children(responseBytes);
    const [type, response] = children(inner);
    assert.equal(decodeObjectIdentifier(type!), OID_OCSP_BASIC);
    assert.equal(response!.tag, DerTag.octetString);
    return children(readSingleElement(response!.content));
  }

  function generalizedTime(element: DerElement | undefined): string {
    assert.equal(element?.tag, DerTag.generalizedTime, 'GeneralizedTime, even before 2050');
    return Buffer.from(element.content).toString('latin1');
  }

  it('writes ResponseData: byKey responderID, GeneralizedTimes, the CertIDs echoed, each status, the nonce', async () => {
    const der = await encodeOcspResponse(responseRequest(), responder.signer);
    const [responseData, signatureAlgorithm, signature, ...rest] = basicResponse(der);
    assert.equal(rest.length, 0, 'no certs unless given');
    assert.equal(hex(signatureAlgorithm!.bytes), hex(signatureAlgorithmOf('ecdsa-p256')));

    const [responderId, producedAt, responses, extensions, ...more] = children(responseData);
    assert.equal(more.length, 0);
    // No version: v1 is the DEFAULT. byKey is [2] EXPLICIT OCTET STRING of the SHA-1 over the key bits.
    assert.equal(hex(responderId!.bytes), `a2160414${hex(subjectKeyIdentifierOf(responder.spki))}`);
    assert.equal(generalizedTime(producedAt), '20240501120000Z', 'whole seconds');

    const singles = children(responses);
    assert.equal(singles.length, 4);
    const [good, revoked, unknown, held] = singles.map(children);
    assert.equal(hex(good![0]!.bytes), hex(certIdA));
    assert.equal(hex(good![1]!.bytes), '8000', 'good [0] IMPLICIT NULL');
    assert.equal(generalizedTime(good![2]), '20240501120000Z');
    assert.equal(good![3]!.tag, contextTag(0, true), 'nextUpdate [0] EXPLICIT');
    assert.equal(generalizedTime(children(good![3])[0]), '20240501130000Z');
    assert.equal(good!.length, 4);

    assert.equal(hex(revoked![0]!.bytes), hex(certIdB));
    const revokedInfo = revoked![1]!;
    assert.equal(revokedInfo.tag, contextTag(1, true), 'revoked [1] IMPLICIT RevokedInfo');
    const [revocationTime, reason] = children(revokedInfo);
    assert.equal(generalizedTime(revocationTime), '20240430080910Z');
    assert.equal(hex(reason!.bytes), `a0030a01${REVOCATION_REASONS.keyCompromise.toString(16).padStart(2, '0')}`, 'reason [0] EXPLICIT CRLReason');
    assert.equal(revoked!.length, 3, 'nextUpdate null: left out');

    assert.equal(hex(unknown![0]!.bytes), hex(certIdC));
    assert.equal(hex(unknown![1]!.bytes), '8200', 'unknown [2] IMPLICIT NULL');

    assert.equal(hex(held![0]!.bytes), hex(certIdD));
    assert.equal(hex(children(held![1])[1]!.bytes), 'a0030a0106', 'certificateHold carries its reason too');

    // responseExtensions [1] EXPLICIT Extensions { { id-pkix-ocsp-nonce, extnValue = the request's value } }.
    assert.equal(extensions!.tag, contextTag(1, true));
    const [nonceExtension, ...others] = children(children(extensions)[0]);
    assert.equal(others.length, 0);
    const [oid, value, ...extra] = children(nonceExtension);
    assert.equal(extra.length, 0, 'not critical: DEFAULT FALSE omitted');
    assert.equal(decodeObjectIdentifier(oid!), OID_OCSP_NONCE);
    assert.equal(hex(value!.content), '041000112233445566778899aabbccddeeff');

    const hash = signatureSchemeFor('ecdsa-p256').hash;
    assert.ok(verify(hash, responseData!.bytes, responder.publicKey, signature!.content.subarray(1)), 'signed over the ResponseData DER');
    assert.equal(signature!.content[0], 0, 'no unused bits');
  });

  it('writes every revocation reason with its CRLReason code', async () => {
    for (const [reason, code] of Object.entries(REVOCATION_REASONS) as Array<[RevocationReason, number]>) {
      const der = await encodeOcspResponse(
        responseRequest({ responses: [{ certId: certIdOf(certIdA), status: { kind: 'revoked', revokedAt: PRODUCED_AT, reason }, thisUpdate: PRODUCED_AT, nextUpdate: null }] }),
        responder.signer,
      );
      const [single] = children(children(basicResponse(der)[0])[2]);
      assert.equal(hex(children(children(single)[1])[1]!.bytes), `a0030a01${code.toString(16).padStart(2, '0')}`, reason);
    }
  });

  it('leaves out the nonce when there is none, and includes certs when given; Ed25519 and RSA sign it too', async () => {
    for (const algorithm of ['ed25519', 'rsa-2048'] as const) {
      const key = await newTestKey(algorithm);
      const certificate = await issueTestCertificate([{ attribute: 'CN', value: 'OCSP responder' }], key, { kind: 'client' }, null, { lifetimeHours: 1 });
      const der = await encodeOcspResponse(responseRequest({ responderSubjectPublicKeyInfo: key.spki, nonce: null, certificates: [certificate] }), key.signer);
      const [responseData, signatureAlgorithm, signature, certs, ...rest] = basicResponse(der);
      assert.equal(rest.length, 0);
      assert.equal(hex(signatureAlgorithm!.bytes), hex(signatureAlgorithmOf(algorithm)));
      assert.equal(children(responseData).length, 3, 'responderID, producedAt, responses: no responseExtensions');
      assert.equal(certs!.tag, contextTag(0, true), 'certs [0] EXPLICIT');
      const [list] = children(certs);
      assert.deepEqual(children(list).map((element) => hex(element.bytes)), [hex(certificate)]);
      assert.ok(verify(signatureSchemeFor(algorithm).hash, responseData!.bytes, key.publicKey, signature!.content.subarray(1)), algorithm);
    }
  });

  it('writes years from 2050 and before 1950 as GeneralizedTime too', async () => {
    const der = await encodeOcspResponse(
      responseRequest({
        producedAt: new Date('2051-02-03T04:05:06Z'),
        responses: [{ certId: certIdOf(certIdA), status: { kind: 'revoked', revokedAt: new Date('1949-12-31T23:59:59Z'), reason: 'superseded' }, thisUpdate: new Date('2051-02-03T04:05:06Z'), nextUpdate: null }],
      }),
      responder.signer,
    );
    const [, producedAt, responses] = children(basicResponse(der)[0]);
    assert.equal(generalizedTime(producedAt), '20510203040506Z');
    assert.equal(generalizedTime(children(children(children(responses)[0])[1])[0]), '19491231235959Z');
  });

  it('refuses requests it cannot encode as asked', async () => {
    const base = responseRequest();
    const first = base.responses[0]!;
    const cases: Array<[string, Partial<OcspResponseRequest>]> = [
      ['no responses', { responses: [] }],
      ['nextUpdate equal to thisUpdate', { responses: [{ ...first, nextUpdate: first.thisUpdate }] }],
      ['an invalid date', { producedAt: new Date(Number.NaN) }],
      ['an unknown reason', { responses: [{ ...first, status: { kind: 'revoked', revokedAt: PRODUCED_AT, reason: 'lost' as RevocationReason } }] }],
      ['an unknown status', { responses: [{ ...first, status: { kind: 'maybe' } as unknown as { kind: 'good' } }] }],
      ['a CertID that is not one', { responses: [{ ...first, certId: { ...first.certId, der: Uint8Array.of(0x30, 0x00) } }] }],
      ['a CertID with trailing bytes', { responses: [{ ...first, certId: { ...first.certId, der: Uint8Array.of(...first.certId.der, 0) } }] }],
      ['a responder key that is not an SPKI', { responderSubjectPublicKeyInfo: Uint8Array.of(0x30, 0x00) }],
      ['an empty nonce', { nonce: new Uint8Array(0) }],
      ['a certificate that is not DER', { certificates: [Uint8Array.of(0x30, 0x05, 0x00)] }],
    ];
    for (const [what, overrides] of cases) {
      await assert.rejects(
        encodeOcspResponse({ ...base, ...overrides }, responder.signer),
        (error: unknown) => error instanceof DomainError && error.kind === 'invalid-request',
        what,
      );
    }
  });
});

describe('encodeOcspErrorResponse', () => {
  it('writes OCSPResponse { responseStatus } alone, with the RFC 6960 status codes', () => {
    const expected: Record<OcspErrorStatus, string> = {
      malformedRequest: '3003 0a01 01',
      internalError: '3003 0a01 02',
      tryLater: '3003 0a01 03',
      unauthorized: '3003 0a01 06',
    };
    for (const [status, bytes] of Object.entries(expected) as Array<[OcspErrorStatus, string]>) {
      assert.equal(hex(encodeOcspErrorResponse(status)), bytes.replaceAll(' ', ''), status);
    }
    assert.throws(() => encodeOcspErrorResponse('successful' as OcspErrorStatus), DomainError);
    assert.throws(() => encodeOcspErrorResponse('toString' as OcspErrorStatus), DomainError);
  });
});
