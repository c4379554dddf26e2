/**
 * Fingerprints: the hashes by which ccm, brokers and operators name a
 * certificate or a key independently of serial and issuer. Lowercase hex
 * without separators, the form stored and sent in events.
 */
import { createHash } from 'node:crypto';

/** SHA-256 over the whole DER certificate: what `openssl x509 -fingerprint -sha256` prints, minus the colons. */
export function sha256FingerprintOf(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** SHA-1 over the whole DER certificate, for tools that still show it; never used to decide trust. */
export function sha1FingerprintOf(der: Uint8Array): string {
  return createHash('sha1').update(der).digest('hex');
}

/**
 * SHA-256 over the DER SubjectPublicKeyInfo (the "public key hash"): the same
 * key gives the same hash across re-issued certificates, as in RFC 7469 pins.
 */
export function publicKeyHashOf(subjectPublicKeyInfo: Uint8Array): string {
  return createHash('sha256').update(subjectPublicKeyInfo).digest('hex');
}
