/**
 * The "certs-only" PKCS #7 / CMS message: a degenerate SignedData with no
 * content and no signers that only carries certificates (RFC 5652 §5, RFC 2315
 * §9.1). EST answers /cacerts, /simpleenroll and /simplereenroll with exactly
 * this structure (RFC 7030 §4.1.3, §4.2.3), base64 encoded by the HTTP layer.
 * This module owns only the DER bytes: which certificates go in, and how they
 * are transported, is the caller's business.
 *
 * Written with the DER helpers rather than @peculiar/asn1-cms for the same
 * reason certificate-encoder.ts splices its Names in: the certificates must
 * reach the client exactly as they were issued (a re-encoding would change
 * what their signatures cover), so they are copied in as bytes.
 */
import { DomainError } from '../shared/errors.js';
import { DerFramingError, DerTag, contextTag, encodeElement, readSingleElement } from './der.js';

/** id-signedData, 1.2.840.113549.1.7.2 (RFC 5652 §5.1), as a complete DER element. */
const ID_SIGNED_DATA = Uint8Array.of(DerTag.objectIdentifier, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02);
/** id-data, 1.2.840.113549.1.7.1 (RFC 5652 §4), as a complete DER element. */
const ID_DATA = Uint8Array.of(DerTag.objectIdentifier, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01);

/**
 * SignedData version 1: RFC 5652 §5.1 requires it when there are no attribute
 * or "other" certificates, the content type is id-data and there are no
 * SignerInfos of version 3 — all true here. It is also what RFC 2315 readers
 * expect, which older EST clients still are.
 */
const VERSION_1 = Uint8Array.of(DerTag.integer, 0x01, 0x01);

/**
 * DER ContentInfo wrapping a certs-only SignedData that carries `certificates`
 * in the given order. Each certificate must be one DER SEQUENCE element; it is
 * copied byte for byte. Throws `invalid-request` for an empty list or a
 * certificate that is not a single SEQUENCE.
 */
export function encodeCertsOnly(certificates: readonly Uint8Array[]): Uint8Array {
  // A certs-only message without certificates says nothing; EST clients treat
  // an empty /cacerts or enrollment answer as a failure, so refuse to build one.
  if (certificates.length === 0) throw new DomainError('invalid-request', 'a certs-only PKCS #7 message needs at least one certificate');
  certificates.forEach(assertSingleSequence);

  const signedData = encodeElement(
    DerTag.sequence,
    VERSION_1,
    // No signers, so no digest algorithms: an empty SET, which must still be present.
    encodeElement(DerTag.set),
    // EncapsulatedContentInfo with eContent absent: the message is "detached"
    // and empty, so a reader looks only at the certificates.
    encodeElement(DerTag.sequence, ID_DATA),
    // [0] IMPLICIT CertificateSet. Strict DER would sort a SET OF by encoding,
    // but EST clients read the chain in the order sent (leaf or root first) and
    // OpenSSL itself keeps insertion order here, so the caller's order is kept.
    encodeElement(contextTag(0, true), ...certificates),
    // crls [1] is optional and omitted; signerInfos is a required (empty) SET.
    encodeElement(DerTag.set),
  );
  return encodeElement(DerTag.sequence, ID_SIGNED_DATA, encodeElement(contextTag(0, true), signedData));
}

/** The bytes are spliced in unread, so at least their outer framing must be right or the whole message is corrupt. */
function assertSingleSequence(certificate: Uint8Array, index: number): void {
  let tag: number;
  try {
    tag = readSingleElement(certificate).tag;
  } catch (error) {
    if (!(error instanceof DerFramingError)) throw error;
    throw new DomainError('invalid-request', `certificate ${index} is not a single DER element: ${error.message}`, { index }, { cause: error });
  }
  if (tag !== DerTag.sequence) throw new DomainError('invalid-request', `certificate ${index} is not a DER SEQUENCE (tag 0x${tag.toString(16)})`, { index });
}
