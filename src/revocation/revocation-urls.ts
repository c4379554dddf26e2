/**
 * Where relying parties find revocation information. These URLs are written
 * into every certificate ccm issues and into the CRLs' Issuing Distribution
 * Point, so they must stay stable for the certificates' lifetime: they are
 * built from CCM_PUBLIC_URL and the authority id only.
 */

/** The CRL of one issuing CA, DER (RFC 5280 §4.2.1.13 wants DER over HTTP). */
export function crlUrlOf(publicUrl: string, authorityId: string): string {
  return `${publicUrl}/crl/${authorityId}.crl`;
}

/** The OCSP responder of one issuing CA (RFC 6960 appendix A: POST here, or GET here/{base64 request}). */
export function ocspUrlOf(publicUrl: string, authorityId: string): string {
  return `${publicUrl}/ocsp/${authorityId}`;
}
