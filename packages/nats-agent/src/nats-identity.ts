/**
 * The user name nats-server gives the holder of a client certificate under
 * `tls { verify_and_map: true }`, computed from the certificate's subject as
 * ccm prints it (RFC 4514: most specific RDN first, `\,` `\+` escapes).
 *
 * How nats-server 2.9 maps a certificate (server/auth.go,
 * checkClientTLSCertSubject; checked on 2.9.10 by connecting, see
 * test/medium/nats-adapter.test.ts), in order:
 *   1. e-mail, DNS and URI subject alternative names, each looked up as a
 *      user name;
 *   2. the raw subject as a DN, compared with every user name parsed as a DN
 *      (in order, then in any order of the RDNs). This step gives up when
 *      the subject has an attribute outside CN, SERIALNUMBER, C, L, ST,
 *      STREET, O, OU, POSTALCODE, DC (e.g. emailAddress or UID);
 *   3. Go's `pkix.Name.ToRDNSequence().String()` of the subject, with the DC
 *      values appended, then without them, looked up literally.
 *
 * The form of step 3 without DCs (Go's "legacy" rendering) is the one user
 * name that admits a certificate of every shape: Go regroups the attributes
 * by type in a fixed order (C, ST, L, STREET, POSTALCODE, O, OU, CN,
 * SERIALNUMBER, printed last to first), joins repeated types with '+', keeps
 * only the last CN and SERIALNUMBER, and drops every other attribute. So a
 * multi-valued RDN whose grouping ccm's subject no longer shows (ccm
 * flattens them) still maps, and two certificates that differ only in
 * dropped attributes (`CN=a,DC=x` and `CN=a`) get the same name: the broker
 * cannot tell them apart, and identityOf says so by giving them one
 * identity, so the core decides for both together.
 *
 * Writing only names of this form also keeps step 2 from admitting another
 * certificate than the one named: a user name without DC or dropped
 * attributes DN-matches only subjects whose rendering is that same name.
 */

import { certificateUrn, type CertificateStatus } from '@ccm/broker-agent';

/** ccm's attribute names (and the dotted OIDs it prints for the others) → Go's names, for the attributes Go keeps. */
const GO_TYPE_OF: ReadonlyMap<string, GoType> = new Map<string, GoType>([
  ['C', 'C'],
  ['ST', 'ST'],
  ['L', 'L'],
  ['STREET', 'STREET'],
  ['2.5.4.9', 'STREET'],
  ['POSTALCODE', 'POSTALCODE'],
  ['2.5.4.17', 'POSTALCODE'],
  ['O', 'O'],
  ['OU', 'OU'],
  ['CN', 'CN'],
  ['SERIALNUMBER', 'SERIALNUMBER'],
  ['2.5.4.5', 'SERIALNUMBER'],
  ['2.5.4.3', 'CN'],
  ['2.5.4.6', 'C'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  ['2.5.4.10', 'O'],
  ['2.5.4.11', 'OU'],
]);

type GoType = 'C' | 'ST' | 'L' | 'STREET' | 'POSTALCODE' | 'O' | 'OU' | 'CN' | 'SERIALNUMBER';

/** Go's ToRDNSequence order (the encoding order it rebuilds); String() prints it backwards. */
const GO_SEQUENCE: readonly GoType[] = ['C', 'ST', 'L', 'STREET', 'POSTALCODE', 'O', 'OU', 'CN', 'SERIALNUMBER'];
/** Types of which Go keeps only the last value (pkix.Name.CommonName and .SerialNumber are single strings). */
const SINGLE_VALUED: ReadonlySet<GoType> = new Set<GoType>(['CN', 'SERIALNUMBER']);

export interface SubjectAttribute {
  /** The type as printed: a short name (CN, serialNumber, …) or a dotted OID. */
  readonly type: string;
  readonly value: string;
}

/** Why a subject has no NATS user name. */
export type UnmappableReason = 'unparsable' | 'no-mapped-attribute' | 'control-character';

/**
 * The user name nats-server matches for a certificate with this subject
 * (ccm's RFC 4514 text), or why there is none.
 */
export function natsUserOfSubject(subject: string): { readonly user: string } | { readonly unmappable: UnmappableReason } {
  const printed = parseRfc4514(subject);
  if (printed === null) return { unmappable: 'unparsable' };
  // Printed most specific first; Go walks the encoding order.
  const encodingOrder = [...printed].reverse();
  const values = new Map<GoType, string[]>();
  for (const { type, value } of encodingOrder) {
    const goType = GO_TYPE_OF.get(type.toUpperCase()) ?? GO_TYPE_OF.get(type);
    if (goType === undefined) continue;
    // Go's asn1 keeps an empty value, but pkix skips an empty CN and SERIALNUMBER (ToRDNSequence tests len > 0).
    if (SINGLE_VALUED.has(goType)) {
      values.set(goType, value === '' ? [] : [value]);
    } else {
      values.set(goType, [...(values.get(goType) ?? []), value]);
    }
  }
  const rdns: string[] = [];
  for (const goType of GO_SEQUENCE) {
    const group = values.get(goType) ?? [];
    if (group.length > 0) rdns.push(group.map((value) => `${goType}=${escapeLikeGo(value)}`).join('+'));
  }
  if (rdns.length === 0) return { unmappable: 'no-mapped-attribute' };
  const user = rdns.reverse().join(',');
  // ccm refuses control characters in names; a name with one could not be written safely into nats-server's configuration either.
  if (/\p{Cc}/u.test(user)) return { unmappable: 'control-character' };
  return { user };
}

/** The user name, or null when the certificate cannot be mapped to one (see natsUserOfSubject). */
export function natsUserOf(subject: string): string | null {
  const mapped = natsUserOfSubject(subject);
  return 'user' in mapped ? mapped.user : null;
}

/** Go's RDNSequence.String() value escaping (crypto/x509/pkix): always , + " \ < > ; — a space first or last, a # first. */
function escapeLikeGo(value: string): string {
  const bytes = Buffer.byteLength(value, 'utf8');
  let escaped = '';
  let offset = 0;
  for (const character of value) {
    let escape = false;
    switch (character) {
      case ',':
      case '+':
      case '"':
      case '\\':
      case '<':
      case '>':
      case ';':
        escape = true;
        break;
      case ' ':
        escape = offset === 0 || offset === bytes - 1;
        break;
      case '#':
        escape = offset === 0;
        break;
    }
    escaped += escape ? `\\${character}` : character;
    offset += Buffer.byteLength(character, 'utf8');
  }
  return escaped;
}

/**
 * Reads an RFC 4514 DN into its attributes in printed order (most specific
 * first). Multi-valued RDNs (`+`) are read as separate attributes: Go's
 * rendering does not depend on the grouping. Takes `\` + special character
 * and `\XX` hex escapes (runs of them are UTF-8). null when the text is not
 * a DN (a type without `=`, an escape cut short, invalid UTF-8, a `#` value).
 */
export function parseRfc4514(text: string): SubjectAttribute[] | null {
  if (text.trim() === '') return [];
  const attributes: SubjectAttribute[] = [];
  let i = 0;
  for (;;) {
    const equals = text.indexOf('=', i);
    if (equals < 0) return null;
    const type = text.slice(i, equals).trim();
    if (!/^(?:[A-Za-z][A-Za-z0-9-]*|[0-2](?:\.\d+)+)$/.test(type)) return null;
    i = equals + 1;
    if (text[i] === '#') return null; // a BER hex value: ccm prints none
    let value = '';
    let pending: number[] = [];
    const flush = (): boolean => {
      if (pending.length === 0) return true;
      try {
        value += new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(pending));
      } catch {
        return false;
      }
      pending = [];
      return true;
    };
    let ended: ',' | '+' | 'end' = 'end';
    while (i < text.length) {
      const character = text[i]!;
      if (character === '\\') {
        const next = text[i + 1];
        if (next === undefined) return null;
        if (/[0-9A-Fa-f]/.test(next) && /[0-9A-Fa-f]/.test(text[i + 2] ?? '')) {
          pending.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
          i += 3;
          continue;
        }
        if (!flush()) return null;
        value += next;
        i += 2;
        continue;
      }
      if (!flush()) return null;
      if (character === ',' || character === '+') {
        ended = character;
        i += 1;
        break;
      }
      value += character;
      i += 1;
    }
    if (!flush()) return null;
    attributes.push({ type, value });
    if (ended === 'end') return attributes;
  }
}

/** Whether a nats-server version (as /varz prints it, "2.10.4") has `$SYS.REQ.SERVER.<id>.KICK` (added in 2.10.0). */
export function versionHasKick(version: string): boolean {
  const match = /^v?(\d+)\.(\d+)/.exec(version.trim());
  if (!match) return false;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > 2 || (major === 2 && minor >= 10);
}

/**
 * ccm's name for one certificate, the RFC 4122 URN of its record id, which
 * ccm writes as the only SAN of the client certificates it issues.
 */
export function certificateUrnOf(certificate: Pick<CertificateStatus, 'id'>): string {
  return certificateUrn(certificate.id);
}

/**
 * The user name under which nats-server finds this certificate before any DN
 * comparison: its ccm URN, when ccm recorded it as a SAN of the certificate
 * (nats-server looks every URI up, other SANs beside them or not: checked on
 * 2.9.10 in test/medium/nats-adapter.test.ts). null otherwise: the
 * certificate then maps by its subject.
 *
 * Why it matters: at every reload nats-server re-checks each connected
 * client, and a subject is compared with every configured user parsed as a
 * DN, so a reload costs connections × users DN parses (0.35–0.39 s with
 * 1,000 sessions and 1,000 users on 2 cores), while a URI is one map lookup
 * per connection (14–22 ms for the same certificates).
 */
export function urnUserOf(certificate: CertificateStatus): string | null {
  const urn = certificateUrnOf(certificate);
  return certificate.subjectAltNames?.uri?.includes(urn) ? urn : null;
}
