/**
 * The field rules shared by every signed structure ccm writes (certificates,
 * the client certificate template, CRLs, OCSP responses): the signature
 * AlgorithmIdentifier and signatureValue, the checks on a copied-in issuer
 * Name and SubjectPublicKeyInfo, whole-second times, fetchable URLs, and the
 * subject key identifier. Kept apart from the encoders so the generic
 * certificate encoder and the template apply the very same checks without
 * importing each other.
 */
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { signatureSchemeFor, type KeyAlgorithm } from './key-algorithm.js';
import { DomainError } from '../shared/errors.js';
import { DerFramingError, DerTag, encodeElement, readSingleElement } from './der.js';
import { readPublicKeyInfo, type PublicKeyInfo } from './public-key.js';

const SIGNATURE_ALGORITHMS = new Map<KeyAlgorithm, Uint8Array>();

/** RFC 5280 §4.1.1.2: the same AlgorithmIdentifier goes into TBSCertificate.signature and Certificate.signatureAlgorithm. */
export function signatureAlgorithmOf(algorithm: KeyAlgorithm): Uint8Array {
  let der = SIGNATURE_ALGORITHMS.get(algorithm);
  if (der === undefined) {
    const scheme = signatureSchemeFor(algorithm);
    const identifier = new AlgorithmIdentifier({ algorithm: scheme.signatureOid });
    // `null` makes asn1-schema write an explicit NULL; `undefined` leaves the field out.
    if (scheme.nullParameters) identifier.parameters = null;
    der = new Uint8Array(AsnConvert.serialize(identifier));
    SIGNATURE_ALGORITHMS.set(algorithm, der);
  }
  return der;
}

export function encodeSignatureValue(signature: Uint8Array): Uint8Array {
  if (signature.length === 0) throw new DomainError('custody-error', 'the signer returned an empty signature');
  // BIT STRING with zero unused bits: every signature format here is whole octets.
  return encodeElement(DerTag.bitString, Uint8Array.of(0), signature);
}

export function readSubjectPublicKeyInfo(der: Uint8Array): PublicKeyInfo {
  try {
    return readPublicKeyInfo(der);
  } catch (error) {
    if (error instanceof DerFramingError) throw new DomainError('invalid-request', `subject public key is not a DER SubjectPublicKeyInfo: ${error.message}`);
    throw error;
  }
}

export function readIssuerName(der: Uint8Array): Uint8Array {
  try {
    const element = readSingleElement(der);
    if (element.tag !== DerTag.sequence) throw new DerFramingError('not a SEQUENCE');
    // RFC 5280 §4.1.2.4: the issuer field MUST contain a non-empty distinguished name.
    if (element.content.length === 0) throw new DerFramingError('empty');
    return der;
  } catch (error) {
    if (error instanceof DerFramingError) throw new DomainError('invalid-request', `issuer name is not a DER Name: ${error.message}`);
    throw error;
  }
}

/**
 * RFC 5280 §4.1.2.5.1, §4.1.2.5.2: fractions of a second MUST NOT be written,
 * so times are cut to the second (never rounded up past a notAfter someone
 * chose); years outside 1..9999 have no GeneralizedTime.
 */
export function wholeSeconds(date: Date, field: string): Date {
  const time = date.getTime();
  if (!Number.isFinite(time)) throw new DomainError('invalid-request', `${field} is not a valid date`);
  const truncated = new Date(time - (((time % 1000) + 1000) % 1000));
  const year = truncated.getUTCFullYear();
  if (year < 1 || year > 9999) throw new DomainError('invalid-request', `${field} is outside the years GeneralizedTime can express`);
  return truncated;
}

/** RFC 5280 §4.2.1.6: an absolute URI (RFC 3986) in IA5String, so ASCII only. */
export function checkedUri(uri: string): string {
  if (!/^[\x21-\x7e]+$/.test(uri) || !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri) || !URL.canParse(uri)) {
    throw new DomainError('invalid-request', `"${uri}" is not an absolute ASCII URI`, { value: uri });
  }
  return uri;
}

/** CRL and AIA locations are fetched by relying parties: HTTP (RFC 5280 §4.2.1.13, §4.2.2.1) or LDAP. */
export function checkedUrl(url: string, what: string): string {
  checkedUri(url);
  if (!/^(https?|ldap):/i.test(url)) throw new DomainError('invalid-request', `${what} URL "${url}" must use http, https or ldap`, { value: url });
  return url;
}

/**
 * RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value
 * (no tag, length or unused-bits octet). SHA-1 is only an identifier here, not
 * a security function; it is the method OpenSSL and most CAs use, so chains
 * built by other tools link up the same way.
 */
export function subjectKeyIdentifierFrom(key: PublicKeyInfo): Uint8Array {
  return new Uint8Array(createHash('sha1').update(key.publicKey).digest());
}
