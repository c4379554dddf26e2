/**
 * OCSP (RFC 6960) on the wire, without the HTTP around it: reading an
 * OCSPRequest into the CertIDs and nonce it asks about, the issuer hashes a
 * responder matches those CertIDs with, and writing the signed
 * BasicOCSPResponse (or an unsigned error status) for answers the caller has
 * already decided. Which certificate a CertID names, and what its status is,
 * is the caller's business; nothing here looks anything up.
 *
 * Both directions use the DER helpers directly, as the CRL encoder does:
 * requests come from anyone on the network, so their framing is checked
 * strictly (der.ts), and each CertID is echoed in the response byte for byte
 * as received, since clients match responses to requests by comparing CertIDs
 * (and some compare the encodings). @peculiar/asn1-ocsp is not a dependency,
 * and the few structures involved are small.
 *
 * Tagging follows the RFC 6960 Appendix B.1 module, which is EXPLICIT TAGS:
 * only CertStatus's alternatives are IMPLICIT, as written there.
 */
import { createHash } from 'node:crypto';
import { REVOCATION_REASONS, type RevocationReason } from '@ccm/event-consumer/contract';
import { DomainError } from '../shared/errors.js';
import { encodeSignatureValue, readIssuerName, signatureAlgorithmOf, wholeSeconds } from './certificate-encoder.js';
import {
  DerFramingError,
  DerTag,
  assertDerFraming,
  contextTag,
  decodeObjectIdentifier,
  encodeElement,
  expectTag,
  readChildren,
  readSingleElement,
  type DerElement,
} from './der.js';
import { readPublicKeyInfo } from './public-key.js';
import { serialNumberToHex } from './serial-number.js';
import type { Signer } from './signer.js';

export type OcspHashAlgorithm = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface OcspCertId {
  readonly hashAlgorithm: OcspHashAlgorithm;
  readonly issuerNameHash: Uint8Array;
  readonly issuerKeyHash: Uint8Array;
  /** Hex as ccm stores serials (serialNumberToHex). */
  readonly serialNumber: string;
  /** The CertID exactly as received, echoed back in the response. */
  readonly der: Uint8Array;
}

export interface OcspRequest {
  /** In request order; never empty. */
  readonly certIds: readonly OcspCertId[];
  /**
   * The nonce extension's extnValue content, as the client sent it (for
   * openssl and RFC 9654 clients, a DER OCTET STRING holding the nonce);
   * `null` without a nonce. Echoed verbatim, so that clients comparing the
   * whole value, as openssl does, find it equal.
   */
  readonly nonce: Uint8Array | null;
}

/** Any request that cannot be read: the responder answers `malformedRequest` (RFC 6960 §2.3). */
export class OcspMalformedRequest extends Error {
  override readonly name = 'OcspMalformedRequest';
}

/**
 * Bound on a request's size. A CertID with SHA-512 hashes and a 20-octet
 * serial is under 200 octets, so 64 KiB holds hundreds of them: far beyond
 * what a client asks at once, and it keeps a hostile body from costing more
 * than a bounded parse.
 */
export const MAXIMUM_OCSP_REQUEST_OCTETS = 64 * 1024;

/** RFC 9654 §2.1: a nonce is 1 to 128 octets; anything else MUST be refused with malformedRequest. */
const MAXIMUM_NONCE_OCTETS = 128;

const HASH_ALGORITHMS: ReadonlyMap<string, { readonly name: OcspHashAlgorithm; readonly length: number }> = new Map([
  ['1.3.14.3.2.26', { name: 'sha1', length: 20 }],
  ['2.16.840.1.101.3.4.2.1', { name: 'sha256', length: 32 }],
  ['2.16.840.1.101.3.4.2.2', { name: 'sha384', length: 48 }],
  ['2.16.840.1.101.3.4.2.3', { name: 'sha512', length: 64 }],
] as const);

const OID_NONCE = '1.3.6.1.5.5.7.48.1.2'; // id-pkix-ocsp-nonce, RFC 6960 §4.4.1
// The same OIDs as DER, for writing.
const NONCE_OID_DER = Uint8Array.of(0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02);
const BASIC_RESPONSE_OID_DER = Uint8Array.of(0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01); // id-pkix-ocsp-basic

/**
 * Reads a DER OCSPRequest. Throws `OcspMalformedRequest` for anything that is
 * not exactly one well-formed request: oversized, trailing bytes, no CertID,
 * a hash algorithm other than SHA-1/SHA-2, a version other than v1, a nonce
 * outside 1..128 octets, or an extension marked critical that is not
 * understood (§4.4: such a request must not be answered as if it were not
 * there).
 *
 * requestorName is ignored, and a signed request (optionalSignature) is
 * accepted without checking the signature: ccm's responder answers anyone,
 * since certificate status is public (it is in the CRL too), so a signature
 * would authorise nothing.
 */
export function parseOcspRequest(der: Uint8Array): OcspRequest {
  if (!(der instanceof Uint8Array) || der.length === 0) throw new OcspMalformedRequest('empty request');
  if (der.length > MAXIMUM_OCSP_REQUEST_OCTETS) throw new OcspMalformedRequest(`request is larger than ${MAXIMUM_OCSP_REQUEST_OCTETS} octets`);
  try {
    return readRequest(der);
  } catch (error) {
    if (error instanceof DerFramingError) throw new OcspMalformedRequest(error.message);
    throw error;
  }
}

/** OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL } */
function readRequest(der: Uint8Array): OcspRequest {
  const outer = expectTag(readSingleElement(der), DerTag.sequence, 'OCSPRequest');
  assertDerFraming(outer);
  const [tbsRequest, signature, ...rest] = readChildren(outer);
  if (signature !== undefined) expectTag(signature, contextTag(0, true), 'optionalSignature');
  if (rest.length > 0) throw new OcspMalformedRequest('OCSPRequest has extra fields');

  // TBSRequest ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, requestorName [1] EXPLICIT OPTIONAL, requestList SEQUENCE OF Request, requestExtensions [2] EXPLICIT OPTIONAL }
  const fields = readChildren(expectTag(tbsRequest, DerTag.sequence, 'TBSRequest'));
  let index = 0;
  if (fields[index]?.tag === contextTag(0, true)) readVersion(fields[index++]!);
  if (fields[index]?.tag === contextTag(1, true)) index++;
  const requestList = expectTag(fields[index++], DerTag.sequence, 'requestList');
  let nonce: Uint8Array | null = null;
  if (fields[index]?.tag === contextTag(2, true)) nonce = readRequestExtensions(fields[index++]!);
  if (index !== fields.length) throw new OcspMalformedRequest('TBSRequest has unexpected fields');

  const certIds = readChildren(requestList).map(readSingleRequest);
  if (certIds.length === 0) throw new OcspMalformedRequest('the request asks about no certificate');
  return { certIds, nonce };
}

/** v1(0) is the only version (§4.1.1); writing the DEFAULT is not DER, but harmless, so it is tolerated. */
function readVersion(element: DerElement): void {
  const [version, ...rest] = readChildren(element);
  const value = expectTag(version, DerTag.integer, 'version');
  if (rest.length > 0 || value.content.length !== 1 || value.content[0] !== 0) throw new OcspMalformedRequest('unsupported OCSP request version');
}

/** Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL } */
function readSingleRequest(element: DerElement): OcspCertId {
  const [certId, extensions, ...rest] = readChildren(expectTag(element, DerTag.sequence, 'Request'));
  if (extensions !== undefined) {
    // No single-request extension is understood (the service locator would only matter to a proxying responder).
    for (const extension of readExtensions(expectTag(extensions, contextTag(0, true), 'singleRequestExtensions'))) {
      if (extension.critical) throw new OcspMalformedRequest(`unsupported critical extension ${extension.oid}`);
    }
  }
  if (rest.length > 0) throw new OcspMalformedRequest('Request has extra fields');
  return readCertId(expectTag(certId, DerTag.sequence, 'CertID'));
}

/** CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash OCTET STRING, issuerKeyHash OCTET STRING, serialNumber CertificateSerialNumber } */
function readCertId(element: DerElement): OcspCertId {
  const [algorithm, nameHash, keyHash, serial, ...rest] = readChildren(element);
  if (rest.length > 0) throw new OcspMalformedRequest('CertID has extra fields');
  const [oid, parameters, ...more] = readChildren(expectTag(algorithm, DerTag.sequence, 'CertID.hashAlgorithm'));
  // Hash AlgorithmIdentifiers carry NULL parameters or none (RFC 5754 §2: both occur; openssl writes NULL).
  if (more.length > 0 || (parameters !== undefined && (parameters.tag !== DerTag.null || parameters.content.length !== 0))) {
    throw new OcspMalformedRequest('malformed CertID hash AlgorithmIdentifier');
  }
  const hashOid = decodeObjectIdentifier(expectTag(oid, DerTag.objectIdentifier, 'CertID hash algorithm'));
  const hash = HASH_ALGORITHMS.get(hashOid);
  if (hash === undefined) throw new OcspMalformedRequest(`unsupported CertID hash algorithm ${hashOid}`);
  const issuerNameHash = expectTag(nameHash, DerTag.octetString, 'issuerNameHash').content;
  const issuerKeyHash = expectTag(keyHash, DerTag.octetString, 'issuerKeyHash').content;
  // A hash of the wrong length can match no CA; it is a broken request, not an unknown certificate.
  if (issuerNameHash.length !== hash.length || issuerKeyHash.length !== hash.length) throw new OcspMalformedRequest(`CertID hashes are not ${hash.name} digests`);
  const serialContent = expectTag(serial, DerTag.integer, 'CertID serialNumber').content;
  if (serialContent.length === 0) throw new OcspMalformedRequest('empty serial number');
  if (serialContent.length > 1 && ((serialContent[0] === 0 && (serialContent[1]! & 0x80) === 0) || (serialContent[0] === 0xff && (serialContent[1]! & 0x80) !== 0))) {
    throw new OcspMalformedRequest('serial number is not minimally encoded');
  }
  return {
    hashAlgorithm: hash.name,
    // Copies: the request buffer may be reused by the caller (e.g. a pooled HTTP body).
    issuerNameHash: Uint8Array.from(issuerNameHash),
    issuerKeyHash: Uint8Array.from(issuerKeyHash),
    // Zero and negative serials (which ccm never issues) come out as their octets in hex and simply match nothing.
    serialNumber: serialNumberToHex(serialContent),
    der: Uint8Array.from(element.bytes),
  };
}

/** requestExtensions: returns the nonce, if any. */
function readRequestExtensions(element: DerElement): Uint8Array | null {
  let nonce: Uint8Array | null = null;
  for (const extension of readExtensions(element)) {
    if (extension.oid === OID_NONCE) {
      nonce = checkedNonce(extension.value);
    } else if (extension.critical) {
      throw new OcspMalformedRequest(`unsupported critical extension ${extension.oid}`);
    }
  }
  return nonce;
}

/**
 * RFC 9654 §2.1: the extnValue is a DER OCTET STRING holding the nonce, of 1
 * to 128 octets. Older clients (RFC 2560 left the encoding open) put the
 * nonce bytes there directly; the same bounds apply to them. Either way the
 * value is echoed as received.
 */
function checkedNonce(value: Uint8Array): Uint8Array {
  let nonce = value;
  try {
    const inner = readSingleElement(value);
    if (inner.tag === DerTag.octetString) nonce = inner.content;
  } catch (error) {
    if (!(error instanceof DerFramingError)) throw error;
  }
  if (nonce.length === 0 || nonce.length > MAXIMUM_NONCE_OCTETS) throw new OcspMalformedRequest(`the nonce must be 1 to ${MAXIMUM_NONCE_OCTETS} octets`);
  return Uint8Array.from(value);
}

interface RequestExtension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** `[n] EXPLICIT Extensions`, Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension (RFC 5280 §4.1). */
function readExtensions(wrapper: DerElement): RequestExtension[] {
  const [list, ...rest] = readChildren(wrapper);
  if (rest.length > 0) throw new OcspMalformedRequest('extensions have extra fields');
  const extensions = readChildren(expectTag(list, DerTag.sequence, 'Extensions')).map(readExtension);
  if (extensions.length === 0) throw new OcspMalformedRequest('empty Extensions');
  // RFC 5280 §4.2: no extension may appear twice; two nonces would leave the echo ambiguous.
  if (new Set(extensions.map((extension) => extension.oid)).size !== extensions.length) throw new OcspMalformedRequest('an extension appears twice');
  return extensions;
}

/** Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
function readExtension(element: DerElement): RequestExtension {
  const fields = readChildren(expectTag(element, DerTag.sequence, 'Extension'));
  const oid = decodeObjectIdentifier(expectTag(fields[0], DerTag.objectIdentifier, 'extnID'));
  let critical = false;
  let index = 1;
  if (fields[index]?.tag === DerTag.boolean) {
    const flag = fields[index++]!.content;
    // DER TRUE is 0xff; an explicit FALSE (the DEFAULT, which DER omits) is tolerated.
    if (flag.length !== 1 || (flag[0] !== 0x00 && flag[0] !== 0xff)) throw new OcspMalformedRequest('malformed critical flag');
    critical = flag[0] === 0xff;
  }
  const value = expectTag(fields[index++], DerTag.octetString, 'extnValue').content;
  if (index !== fields.length) throw new OcspMalformedRequest('Extension has extra fields');
  return { oid, critical, value };
}

/**
 * Issuer hashes per RFC 6960 §4.1.1 for matching a CertID against a CA: name
 * hash over the issuer Name DER, key hash over the subjectPublicKey BIT STRING
 * value (not the whole SPKI). Throws `invalid-request` for a malformed Name or
 * SubjectPublicKeyInfo.
 */
export function issuerHashes(hashAlgorithm: OcspHashAlgorithm, issuerNameDer: Uint8Array, issuerSubjectPublicKeyInfo: Uint8Array): { nameHash: Uint8Array; keyHash: Uint8Array } {
  if (![...HASH_ALGORITHMS.values()].some((hash) => hash.name === hashAlgorithm)) {
    throw new DomainError('invalid-request', `"${String(hashAlgorithm)}" is not an OCSP hash algorithm`, { value: hashAlgorithm });
  }
  const name = readIssuerName(issuerNameDer);
  return {
    nameHash: digest(hashAlgorithm, name),
    keyHash: digest(hashAlgorithm, subjectPublicKeyOf(issuerSubjectPublicKeyInfo, 'issuer')),
  };
}

export type OcspCertificateStatus =
  | { readonly kind: 'good' }
  | { readonly kind: 'revoked'; readonly revokedAt: Date; readonly reason: RevocationReason }
  | { readonly kind: 'unknown' };

export interface OcspSingleResponse {
  readonly certId: OcspCertId;
  readonly status: OcspCertificateStatus;
  readonly thisUpdate: Date;
  /** `null` leaves nextUpdate out: newer information may be available at any time (§2.4). */
  readonly nextUpdate: Date | null;
}

export interface OcspResponseRequest {
  /** responderID byKey = SHA-1 of the responder's subjectPublicKey BIT STRING value (§4.2.1). */
  readonly responderSubjectPublicKeyInfo: Uint8Array;
  readonly producedAt: Date;
  /** Written in the order given; at least one. */
  readonly responses: readonly OcspSingleResponse[];
  /** Echoed as the nonce extension in responseExtensions when given (the request's `nonce`, verbatim). */
  readonly nonce: Uint8Array | null;
  /** DER certificates for `certs`: a delegated responder's certificate, so clients can find and check the signer (§4.2.2.2). */
  readonly certificates?: readonly Uint8Array[];
}

/**
 * Builds and signs a successful OCSPResponse carrying an id-pkix-ocsp-basic
 * BasicOCSPResponse (§4.2.1), signed over the DER of its ResponseData.
 * Throws `invalid-request` for a request that cannot be encoded as asked.
 * The signer must hold the key in `responderSubjectPublicKeyInfo`; that is not
 * checked here (custody does not reveal keys).
 */
export async function encodeOcspResponse(request: OcspResponseRequest, signer: Signer): Promise<Uint8Array> {
  const responderId = encodeElement(
    contextTag(2, true),
    // byKey: the key hash is always SHA-1 (§4.2.1 KeyHash), whatever the CertIDs use.
    encodeElement(DerTag.octetString, digest('sha1', subjectPublicKeyOf(request.responderSubjectPublicKeyInfo, 'responder'))),
  );
  const producedAt = encodeGeneralizedTime(wholeSeconds(request.producedAt, 'producedAt'));
  if (!Array.isArray(request.responses) || request.responses.length === 0) throw new DomainError('invalid-request', 'an OCSP response must answer at least one CertID');
  const responses = encodeElement(DerTag.sequence, ...request.responses.map(encodeSingleResponse));

  // ResponseData: version DEFAULT v1 is omitted (DER leaves out DEFAULT values).
  const responseDataParts = [responderId, producedAt, responses];
  if (request.nonce !== null) responseDataParts.push(encodeElement(contextTag(1, true), encodeElement(DerTag.sequence, nonceExtension(request.nonce))));
  const responseData = encodeElement(DerTag.sequence, ...responseDataParts);

  const signatureAlgorithm = signatureAlgorithmOf(signer.algorithm);
  const signature = await signer.sign(responseData);
  const basicParts = [responseData, signatureAlgorithm, encodeSignatureValue(signature)];
  const certificates = request.certificates ?? [];
  if (certificates.length > 0) basicParts.push(encodeElement(contextTag(0, true), encodeElement(DerTag.sequence, ...certificates.map(checkedCertificate))));
  const basicResponse = encodeElement(DerTag.sequence, ...basicParts);

  // OCSPResponse { responseStatus successful(0), responseBytes [0] EXPLICIT ResponseBytes { responseType, response OCTET STRING } }
  return encodeElement(
    DerTag.sequence,
    RESPONSE_STATUS_SUCCESSFUL,
    encodeElement(contextTag(0, true), encodeElement(DerTag.sequence, BASIC_RESPONSE_OID_DER, encodeElement(DerTag.octetString, basicResponse))),
  );
}

export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized';

/** OCSPResponseStatus codes (§4.2.1); 4 is unused and sigRequired(5) is never asked for, since ccm does not require signed requests. */
const ERROR_STATUS_CODES: Record<OcspErrorStatus, number> = { malformedRequest: 1, internalError: 2, tryLater: 3, unauthorized: 6 };

const ENUMERATED = 0x0a;
const RESPONSE_STATUS_SUCCESSFUL = Uint8Array.of(ENUMERATED, 0x01, 0x00);

/** An OCSPResponse with only the status: error responses carry no responseBytes and are not signed (§2.3). */
export function encodeOcspErrorResponse(status: OcspErrorStatus): Uint8Array {
  const code = Object.hasOwn(ERROR_STATUS_CODES, status) ? ERROR_STATUS_CODES[status] : undefined;
  if (code === undefined) throw new DomainError('invalid-request', `"${String(status)}" is not an OCSP error status`, { value: status });
  return Uint8Array.of(DerTag.sequence, 0x03, ENUMERATED, 0x01, code);
}

// CertStatus: good [0] IMPLICIT NULL, unknown [2] IMPLICIT UnknownInfo (NULL).
const STATUS_GOOD = Uint8Array.of(contextTag(0, false), 0x00);
const STATUS_UNKNOWN = Uint8Array.of(contextTag(2, false), 0x00);

/** SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate GeneralizedTime, nextUpdate [0] EXPLICIT GeneralizedTime OPTIONAL, singleExtensions [1] OPTIONAL } */
function encodeSingleResponse(response: OcspSingleResponse, index: number): Uint8Array {
  const what = `responses[${index}]`;
  const certId = checkedCertId(response.certId, what);
  const thisUpdate = wholeSeconds(response.thisUpdate, `${what}.thisUpdate`);
  const parts = [certId, encodeStatus(response.status, what), encodeGeneralizedTime(thisUpdate)];
  if (response.nextUpdate !== null) {
    const nextUpdate = wholeSeconds(response.nextUpdate, `${what}.nextUpdate`);
    // §2.4: nextUpdate is when newer information will be available; at or before thisUpdate it says nothing.
    if (nextUpdate.getTime() <= thisUpdate.getTime()) throw new DomainError('invalid-request', `${what}: nextUpdate must be after thisUpdate`);
    parts.push(encodeElement(contextTag(0, true), encodeGeneralizedTime(nextUpdate)));
  }
  return encodeElement(DerTag.sequence, ...parts);
}

function encodeStatus(status: OcspCertificateStatus, what: string): Uint8Array {
  switch (status?.kind) {
    case 'good':
      return STATUS_GOOD;
    case 'unknown':
      return STATUS_UNKNOWN;
    case 'revoked': {
      const code = Object.hasOwn(REVOCATION_REASONS, status.reason) ? REVOCATION_REASONS[status.reason] : undefined;
      if (code === undefined) throw new DomainError('invalid-request', `${what}: "${String(status.reason)}" is not a revocation reason`, { value: status.reason });
      const revokedAt = wholeSeconds(status.revokedAt, `${what}.revokedAt`);
      // RevokedInfo ::= SEQUENCE { revocationTime GeneralizedTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }, as [1] IMPLICIT.
      // The reason is written for every reason, unspecified and certificateHold included, so clients need not infer it from its absence.
      return encodeElement(contextTag(1, true), encodeGeneralizedTime(revokedAt), Uint8Array.of(contextTag(0, true), 0x03, ENUMERATED, 0x01, code));
    }
    default:
      throw new DomainError('invalid-request', `${what}: unknown certificate status`, { value: String((status as { kind?: unknown } | null)?.kind) });
  }
}

/** The CertID to echo: it must be one CertID as parseOcspRequest reads it (anything else would be a response nobody can match). */
function checkedCertId(certId: OcspCertId, what: string): Uint8Array {
  try {
    if (!(certId?.der instanceof Uint8Array)) throw new DerFramingError('missing');
    const element = expectTag(readSingleElement(certId.der), DerTag.sequence, 'CertID');
    assertDerFraming(element);
    readCertId(element);
    return certId.der;
  } catch (error) {
    if (error instanceof DerFramingError || error instanceof OcspMalformedRequest) throw new DomainError('invalid-request', `${what}: certId.der is not a DER CertID: ${error.message}`);
    throw error;
  }
}

function checkedCertificate(der: Uint8Array, index: number): Uint8Array {
  try {
    if (!(der instanceof Uint8Array)) throw new DerFramingError('not bytes');
    assertDerFraming(expectTag(readSingleElement(der), DerTag.sequence, 'Certificate'));
    return der;
  } catch (error) {
    if (error instanceof DerFramingError) throw new DomainError('invalid-request', `certificates[${index}] is not a DER certificate: ${error.message}`);
    throw error;
  }
}

/** Extension { id-pkix-ocsp-nonce, extnValue } (non-critical, so the DEFAULT FALSE is omitted). */
function nonceExtension(nonce: Uint8Array): Uint8Array {
  if (!(nonce instanceof Uint8Array) || nonce.length === 0) throw new DomainError('invalid-request', 'the nonce is empty');
  return encodeElement(DerTag.sequence, NONCE_OID_DER, encodeElement(DerTag.octetString, nonce));
}

function subjectPublicKeyOf(subjectPublicKeyInfo: Uint8Array, what: string): Uint8Array {
  try {
    return readPublicKeyInfo(subjectPublicKeyInfo).publicKey;
  } catch (error) {
    if (error instanceof DerFramingError) throw new DomainError('invalid-request', `${what} public key is not a DER SubjectPublicKeyInfo: ${error.message}`);
    throw error;
  }
}

function digest(algorithm: OcspHashAlgorithm, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(data).digest());
}

/**
 * RFC 6960 §4.2.1 types every time as GeneralizedTime (unlike certificates
 * and CRLs, no UTCTime before 2050). Written YYYYMMDDHHMMSSZ, in UTC without
 * fractions, the form RFC 5280 §4.1.2.5.2 prescribes: RFC 6960 sets no rule of
 * its own, and clients read these times with their X.509 time parsers.
 * `date` is already whole seconds in years 1..9999 (wholeSeconds).
 */
function encodeGeneralizedTime(date: Date): Uint8Array {
  const text =
    String(date.getUTCFullYear()).padStart(4, '0') +
    [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()].map((value) => String(value).padStart(2, '0')).join('') +
    'Z';
  return encodeElement(DerTag.generalizedTime, new TextEncoder().encode(text));
}
