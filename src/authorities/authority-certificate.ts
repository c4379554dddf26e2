/**
 * What is recorded of a CA certificate, and the parsed form issuance needs
 * from it (issuer name bytes, key identifier), computed once per certificate.
 */
import { subjectKeyIdentifierOf } from '../codec/certificate-encoder.js';
import { inspectCertificate } from '../codec/certificate-inspection.js';
import { formatDistinguishedName } from '../codec/distinguished-name.js';
import { decodePem, encodePem } from '../codec/pem.js';
import { readPublicKeyInfo } from '../codec/public-key.js';
import { verificationKeyOf, type VerificationKey } from '../codec/signature-verification.js';
import type { Issuer } from '../ca/certificate-authority.js';
import type { Authority, AuthorityCertificate } from './authority.js';

export function certificateRecordOf(der: Uint8Array, issuerChainPem: string | null): AuthorityCertificate {
  const inspected = inspectCertificate(der);
  return {
    subject: formatDistinguishedName(inspected.subject),
    serialNumber: inspected.serialNumberHex,
    certificatePem: encodePem(der, 'CERTIFICATE'),
    issuerChainPem,
    fingerprintSha256: inspected.sha256Fingerprint,
    notBefore: inspected.notBefore,
    notAfter: inspected.notAfter,
  };
}

/** A CA certificate ready for issuing under it; it is the `Issuer` the CA role signs for. */
export interface IssuingCertificate extends Issuer {
  readonly authority: Authority;
  readonly subjectName: Uint8Array;
  readonly subjectKeyIdentifier: Uint8Array;
  readonly subjectPublicKeyInfo: Uint8Array;
  /** The key ready for verifying what the CA signed (every authentication by PEM checks a signature under it). */
  readonly verificationKey: VerificationKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Parses an authority's certificate once per version of it (the key is the
 * id and the certificate's SHA-256 fingerprint, so a replaced certificate is
 * a new entry); issuance and authentication read these on every request.
 */
export class IssuingCertificateCache {
  private readonly entries = new Map<string, IssuingCertificate>();

  of(authority: Authority): IssuingCertificate {
    if (!authority.certificatePem) throw new Error(`authority ${authority.id} has no certificate`);
    const key = `${authority.id}:${authority.fingerprintSha256}`;
    let entry = this.entries.get(key);
    if (!entry) {
      const certificateDer = decodePem(authority.certificatePem, ['CERTIFICATE'])[0]!;
      const inspected = inspectCertificate(certificateDer);
      // An imported CA certificate may lack an SKI; then the RFC 5280 §4.2.1.2 method-1 value names the key.
      const subjectKeyIdentifier = inspected.subjectKeyIdentifier ?? subjectKeyIdentifierOf(inspected.subjectPublicKeyInfo);
      entry = {
        authority,
        custodyKeyName: authority.custodyKeyName,
        keyAlgorithm: authority.keyAlgorithm,
        certificateDer,
        subjectName: inspected.subjectName,
        subjectKeyIdentifier,
        subjectPublicKeyInfo: inspected.subjectPublicKeyInfo,
        verificationKey: verificationKeyOf(readPublicKeyInfo(inspected.subjectPublicKeyInfo)),
        notBefore: inspected.notBefore,
        notAfter: inspected.notAfter,
      };
      this.entries.set(key, entry);
    }
    return entry;
  }
}
