/**
 * Where relying parties find revocation information. These URLs are written
 * into every certificate ccm issues and into the CRLs' Issuing Distribution
 * Point, so they must stay stable for the certificates' lifetime: they are
 * built from CCM_PUBLIC_URL and the authority id only.
 */

/** The CRL (shard) of one issuing CA, DER (RFC 5280 §4.2.1.13 wants DER over HTTP). Shard 0 is the CA's single CRL. */
export function crlUrlOf(publicUrl: string, authorityId: string, shard: number): string {
  return `${publicUrl}/crl/${authorityId}${shard === 0 ? '' : `-${shard}`}.crl`;
}

/**
 * Temporal sharding (as Boulder does): certificates that expire in the same
 * window share a CRL, so each CRL stays bounded by what is issued per window
 * and stops growing once its certificates have expired.
 */
export function crlShardOf(notAfter: Date, shardDays: number): number {
  return shardDays === 0 ? 0 : Math.floor(notAfter.getTime() / (shardDays * 86_400_000));
}

/** The OCSP responder of one issuing CA (RFC 6960 appendix A: POST here, or GET here/{base64 request}). */
export function ocspUrlOf(publicUrl: string, authorityId: string): string {
  return `${publicUrl}/ocsp/${authorityId}`;
}
