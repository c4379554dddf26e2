/**
 * The trust bundle of an authority: its certificate, then each issuer up to
 * the platform CA, then whatever chain an operator imported above that (an
 * offline root). Devices and brokers use it as their CA file.
 */
import type { Authority } from '../authorities/authority.js';

export async function chainPemOf(authority: Authority, findById: (id: string) => Promise<Authority | null>): Promise<string> {
  const parts: string[] = [];
  let current: Authority | null = authority;
  for (let depth = 0; current && depth < 8; depth++) {
    if (current.certificatePem) parts.push(current.certificatePem);
    if (current.issuerChainPem) parts.push(current.issuerChainPem);
    current = current.issuerAuthorityId ? await findById(current.issuerAuthorityId) : null;
  }
  return parts.join('');
}
