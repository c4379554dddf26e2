/**
 * DNS name constraints of delegated intermediates (RFC 5280 §4.2.1.10):
 * checking what a tenant asks for, reading them back from the stored
 * certificate, and judging a device certificate's names against them the way
 * `openssl verify` does, so that ccm accepts no device a TLS broker would
 * refuse for its names.
 */
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate, NameConstraints, id_ce_nameConstraints } from '@peculiar/asn1-x509';
import { commonNameOf, type DistinguishedName } from '../codec/distinguished-name.js';
import { InvalidRequest } from '../shared/errors.js';

export interface DnsNameConstraints {
  readonly permitted: readonly string[];
  readonly excluded: readonly string[];
}

/** Enough for any real delegation; bounds the work of checking every device certificate against them. */
export const MAXIMUM_DNS_CONSTRAINTS = 32;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Host names in preferred name syntax (RFC 1034 §3.5), no wildcard or leading dot; lower-cased, since DNS compares without case. */
export function checkedDnsDomains(names: readonly string[] | undefined, field: string): string[] {
  const list = names ?? [];
  if (list.length > MAXIMUM_DNS_CONSTRAINTS) throw new InvalidRequest(`${field} may list at most ${MAXIMUM_DNS_CONSTRAINTS} names`, { field });
  return list.map((name) => {
    if (typeof name !== 'string' || name.length === 0 || name.length > 253 || !name.split('.').every((label) => LABEL.test(label))) {
      throw new InvalidRequest(`${field}: "${String(name)}" is not a DNS name (letters, digits and hyphens in dot-separated labels; no wildcard or leading dot)`, { field, value: name });
    }
    return name.toLowerCase();
  });
}

/** The dNSName subtrees of a certificate's name constraints; null when it has none. */
export function dnsNameConstraintsOf(certificateDer: Uint8Array): DnsNameConstraints | null {
  const certificate = AsnConvert.parse(certificateDer, Certificate);
  const extension = certificate.tbsCertificate.extensions?.find((candidate) => candidate.extnID === id_ce_nameConstraints);
  if (!extension) return null;
  const constraints = AsnConvert.parse(extension.extnValue.buffer, NameConstraints);
  const dnsNames = (subtrees: NameConstraints['permittedSubtrees']) => [...(subtrees ?? [])].flatMap((subtree) => (subtree.base.dNSName !== undefined ? [subtree.base.dNSName.toLowerCase()] : []));
  return { permitted: dnsNames(constraints.permittedSubtrees), excluded: dnsNames(constraints.excludedSubtrees) };
}

/**
 * The first name of a certificate that the constraints forbid, or null. The
 * names are its SAN dNSNames; without any, a CN that looks like a host name
 * (it has a dot and only LDH labels), as OpenSSL checks since 1.1.0.
 */
export function dnsNameOutsideConstraints(subject: DistinguishedName, subjectAltDnsNames: readonly string[], constraints: DnsNameConstraints): string | null {
  const commonName = commonNameOf(subject);
  const names =
    subjectAltDnsNames.length > 0
      ? subjectAltDnsNames
      : commonName !== null && commonName.includes('.') && commonName.split('.').every((label) => LABEL.test(label))
        ? [commonName]
        : [];
  for (const name of names) {
    const lower = name.toLowerCase();
    if (constraints.excluded.some((domain) => within(lower, domain))) return name;
    if (constraints.permitted.length > 0 && !constraints.permitted.some((domain) => within(lower, domain))) return name;
  }
  return null;
}

/** §4.2.1.10: "any DNS name that can be constructed by simply adding zero or more labels to the left-hand side". */
function within(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`);
}
