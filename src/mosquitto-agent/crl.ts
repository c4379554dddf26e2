/**
 * A tenant CA's CRL as the agent handles it: parsed, its signature checked
 * against the CA, its dates and serials read out. Mosquitto must never be
 * handed a CRL it cannot use: on reload it silently drops an unreadable
 * crlfile (and with it every revocation check), and an expired CRL makes it
 * refuse every device of that CA. So nothing reaches the crlfile without
 * passing through here.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import { verify as verifySignature, webcrypto, X509Certificate as NodeX509Certificate, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';

const CRL_NUMBER_OID = '2.5.29.20';

export interface TenantCrl {
  readonly tenantId: string;
  /** Exactly one `X509 CRL` PEM block, ending in a newline. */
  readonly pem: string;
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** RFC 5280 §5.2.3 cRLNumber, when present: grows with every CRL the CA issues. */
  readonly crlNumber: bigint | null;
  /** Serials of the certificates listed (suspended ones too, as certificateHold), normalised by normaliseSerial. */
  readonly revokedSerials: ReadonlySet<string>;
}

export class CrlRejectedError extends Error {
  constructor(
    readonly tenantId: string,
    reason: string,
  ) {
    super(`CRL of tenant ${tenantId} rejected: ${reason}`);
    this.name = 'CrlRejectedError';
  }
}

/** Lower-case hex without leading zeros, the way ccm prints serials ("0" stays "0"). */
export function normaliseSerial(hex: string): string {
  const clean = hex.replace(/^0x/i, '').replace(/[:\s]/g, '').toLowerCase().replace(/^0+/, '');
  return clean === '' ? '0' : clean;
}

export function crlLists(crl: TenantCrl, serialNumber: string): boolean {
  return crl.revokedSerials.has(normaliseSerial(serialNumber));
}

/** Whether `candidate` was issued after `installed` (by CRL number when both have one, else by thisUpdate). */
export function isOlderThan(candidate: TenantCrl, installed: TenantCrl): boolean {
  if (candidate.crlNumber !== null && installed.crlNumber !== null) return candidate.crlNumber < installed.crlNumber;
  return candidate.thisUpdate.getTime() < installed.thisUpdate.getTime();
}

/**
 * Parses one PEM CRL and checks that it is the CA's: issuer name equal to the
 * CA's subject and signature made by the CA's key. Dates are not judged here
 * (the enforcer compares them with its clock).
 *
 * A CRL the quick check (quicklyVerifiedTenantCrl) vouches for is taken from
 * it; anything it cannot vouch for goes through the thorough one, which
 * alone refuses. The thorough parse (@peculiar/x509 on asn1js) holds the
 * agent's single thread ~20 ms for a CRL of 100 entries and ~270 ms for 900
 * (the quick one 0.6 and 1.3 ms), and cannot read one of more than about
 * 1,000 entries at all (asn1js stops at 10,000 nodes). In a burst of
 * suspensions the agent reads a new CRL for every wave of events, and that
 * time was added to every kick waiting behind it.
 */
export async function verifiedTenantCrl(tenantId: string, crlPem: string, issuerCertificatePem: string): Promise<TenantCrl> {
  const blocks = crlPem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
  if (blocks.length !== 1) throw new CrlRejectedError(tenantId, `expected one PEM "X509 CRL" block, found ${blocks.length}`);
  return quicklyVerifiedTenantCrl(tenantId, blocks[0]!, issuerCertificatePem) ?? thoroughlyVerifiedTenantCrl(tenantId, blocks[0]!, issuerCertificatePem);
}

/** The reference check: parses everything with @peculiar/x509 and says why a CRL is refused. */
export async function thoroughlyVerifiedTenantCrl(tenantId: string, crlBlock: string, issuerCertificatePem: string): Promise<TenantCrl> {
  let crl: x509.X509Crl;
  let issuer: x509.X509Certificate;
  try {
    crl = new x509.X509Crl(crlBlock);
  } catch (error) {
    throw new CrlRejectedError(tenantId, `unparseable: ${(error as Error).message}`);
  }
  try {
    issuer = new x509.X509Certificate(issuerCertificatePem);
  } catch (error) {
    throw new CrlRejectedError(tenantId, `the CA certificate is unparseable: ${(error as Error).message}`);
  }
  if (crl.issuerName.toString() !== issuer.subjectName.toString()) throw new CrlRejectedError(tenantId, `issued by "${crl.issuer}", not by the tenant CA "${issuer.subject}"`);
  if (!(await crl.verify({ publicKey: issuer }, webcrypto as unknown as Parameters<x509.X509Crl['verify']>[1]))) throw new CrlRejectedError(tenantId, 'its signature does not verify with the tenant CA\'s key');
  const nextUpdate = crl.nextUpdate;
  // Without nextUpdate a stale CRL could never be told from a fresh one (RFC 5280 §5.1.2.5 requires it).
  if (!nextUpdate) throw new CrlRejectedError(tenantId, 'it has no nextUpdate');
  if (nextUpdate.getTime() <= crl.thisUpdate.getTime()) throw new CrlRejectedError(tenantId, 'its nextUpdate is not after its thisUpdate');
  const number = crl.getExtension(CRL_NUMBER_OID);
  return {
    tenantId,
    pem: `${crlBlock}\n`,
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate,
    nextUpdate,
    crlNumber: number ? derInteger(new Uint8Array(number.value)) : null,
    revokedSerials: new Set(crl.entries.map((entry) => normaliseSerial(entry.serialNumber))),
  };
}

/** The value of a DER INTEGER (tag, length, big-endian bytes); CRL numbers are non-negative. */
function derInteger(der: Uint8Array): bigint | null {
  if (der[0] !== 0x02 || der.length < 3) return null;
  let length = der[1]!;
  let offset = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    length = 0;
    for (let i = 0; i < octets; i++) length = (length << 8) | der[offset + i]!;
    offset += octets;
  }
  let value = 0n;
  for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(der[offset + i]!);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The quick check: a DER walk over the CRL, its signature checked by node:crypto.

/** Signature algorithms of CRLs the quick check verifies itself (OID → node:crypto digest; null: none, EdDSA). */
const SIGNATURE_DIGESTS: ReadonlyMap<string, string | null> = new Map([
  ['1.2.840.10045.4.3.2', 'sha256'], // ecdsa-with-SHA256
  ['1.2.840.10045.4.3.3', 'sha384'],
  ['1.2.840.10045.4.3.4', 'sha512'],
  ['1.2.840.113549.1.1.11', 'sha256'], // sha256WithRSAEncryption
  ['1.2.840.113549.1.1.12', 'sha384'],
  ['1.2.840.113549.1.1.13', 'sha512'],
  ['1.3.101.112', null], // Ed25519
  ['1.3.101.113', null], // Ed448
]);

interface IssuerFacts {
  readonly publicKey: KeyObject;
  /** The DER of the CA certificate's subject Name. */
  readonly subjectDer: Buffer;
  /** The subject as @peculiar/x509 prints it (TenantCrl.issuer). */
  readonly subject: string;
}

/** By CA certificate PEM: an agent serves a handful of tenants, and each CA is parsed once, not once per CRL. */
const issuerFacts = new Map<string, IssuerFacts | null>();
const ISSUERS_REMEMBERED = 256;

function factsOf(issuerCertificatePem: string): IssuerFacts | null {
  if (issuerFacts.has(issuerCertificatePem)) return issuerFacts.get(issuerCertificatePem)!;
  let facts: IssuerFacts | null = null;
  try {
    const certificate = new NodeX509Certificate(issuerCertificatePem);
    const tbs = children(certificate.raw, readTlv(certificate.raw, 0));
    const tbsFields = children(certificate.raw, tbs[0]!);
    // [0] version, serialNumber, signature, issuer, validity, subject
    const subject = tbsFields[tbsFields[0]!.tag === 0xa0 ? 5 : 4]!;
    facts = { publicKey: certificate.publicKey, subjectDer: certificate.raw.subarray(subject.start, subject.end), subject: new x509.X509Certificate(issuerCertificatePem).subject };
  } catch {
    facts = null; // the thorough check says what is wrong with it
  }
  if (issuerFacts.size >= ISSUERS_REMEMBERED) issuerFacts.delete(issuerFacts.keys().next().value!);
  issuerFacts.set(issuerCertificatePem, facts);
  return facts;
}

/**
 * The CRL, if it is plainly the CA's: its issuer Name byte for byte the CA's
 * subject, the signature (of an algorithm listed above, the same inside and
 * outside tbsCertList) verified with the CA's key, both dates readable and
 * nextUpdate after thisUpdate. null for anything else, including every
 * CRL that must be refused: the thorough check decides those.
 */
export function quicklyVerifiedTenantCrl(tenantId: string, crlBlock: string, issuerCertificatePem: string): TenantCrl | null {
  try {
    const issuer = factsOf(issuerCertificatePem);
    if (!issuer) return null;
    const der = Buffer.from(crlBlock.replace(/-----(BEGIN|END) X509 CRL-----/g, '').replace(/\s+/g, ''), 'base64');
    const outer = readTlv(der, 0);
    if (outer.tag !== 0x30 || outer.end !== der.length) return null;
    const [tbs, algorithm, signature, ...extra] = children(der, outer);
    if (!tbs || !algorithm || !signature || extra.length > 0 || tbs.tag !== 0x30 || signature.tag !== 0x03) return null;
    const fields = children(der, tbs);
    let index = fields[0]?.tag === 0x02 ? 1 : 0; // version
    const innerAlgorithm = fields[index++];
    const issuerName = fields[index++];
    const thisUpdateField = fields[index++];
    let nextUpdateField: Tlv | undefined = fields[index];
    if (nextUpdateField && (nextUpdateField.tag === 0x17 || nextUpdateField.tag === 0x18)) index++;
    else nextUpdateField = undefined;
    if (!innerAlgorithm || !issuerName || !thisUpdateField || !nextUpdateField) return null;
    if (!der.subarray(innerAlgorithm.start, innerAlgorithm.end).equals(der.subarray(algorithm.start, algorithm.end))) return null;
    if (!der.subarray(issuerName.start, issuerName.end).equals(issuer.subjectDer)) return null;

    const algorithmOid = children(der, algorithm)[0];
    if (!algorithmOid || algorithmOid.tag !== 0x06) return null;
    const digest = SIGNATURE_DIGESTS.get(oidText(der.subarray(algorithmOid.contentStart, algorithmOid.end)));
    if (digest === undefined) return null;
    if (der[signature.contentStart] !== 0) return null; // unused bits of the BIT STRING
    const signed = der.subarray(tbs.start, tbs.end);
    if (!verifySignature(digest, signed, issuer.publicKey, der.subarray(signature.contentStart + 1, signature.end))) return null;

    const thisUpdate = timeOf(der, thisUpdateField);
    const nextUpdate = timeOf(der, nextUpdateField);
    if (!thisUpdate || !nextUpdate || nextUpdate.getTime() <= thisUpdate.getTime()) return null;

    const revokedSerials = new Set<string>();
    let crlNumber: bigint | null = null;
    const rest = fields.slice(index);
    // What may follow: revokedCertificates, then [0] crlExtensions, each at most once.
    if (rest.length > 2 || (rest.length === 2 && (rest[0]!.tag !== 0x30 || rest[1]!.tag !== 0xa0))) return null;
    for (const field of rest) {
      if (field.tag === 0x30) {
        for (const entry of children(der, field)) {
          const serial = children(der, entry)[0];
          if (!serial || serial.tag !== 0x02 || serial.contentStart === serial.end) return null;
          revokedSerials.add(normaliseSerial(der.toString('hex', serial.contentStart, serial.end)));
        }
      } else if (field.tag === 0xa0) {
        const extensions = children(der, field)[0];
        if (!extensions || extensions.tag !== 0x30) return null;
        for (const extension of children(der, extensions)) {
          const parts = children(der, extension);
          if (parts[0]?.tag !== 0x06 || oidText(der.subarray(parts[0].contentStart, parts[0].end)) !== CRL_NUMBER_OID) continue;
          const value = parts[parts.length - 1]!;
          if (value.tag !== 0x04) return null;
          crlNumber = derInteger(new Uint8Array(der.subarray(value.contentStart, value.end)));
        }
      } else {
        return null;
      }
    }
    return { tenantId, pem: `${crlBlock}\n`, issuer: issuer.subject, thisUpdate, nextUpdate, crlNumber, revokedSerials };
  } catch {
    return null;
  }
}

interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

/** One DER TLV at `offset` (single-byte tags, definite lengths); throws past the end of the buffer. */
function readTlv(der: Uint8Array, offset: number): Tlv {
  if (offset + 2 > der.length) throw new Error('truncated');
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if ((tag & 0x1f) === 0x1f) throw new Error('multi-byte tag');
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) throw new Error('unsupported length');
    length = 0;
    if (contentStart + octets > der.length) throw new Error('truncated');
    for (let i = 0; i < octets; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += octets;
  }
  const end = contentStart + length;
  if (end > der.length) throw new Error('truncated');
  return { tag, start: offset, contentStart, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const found: Tlv[] = [];
  for (let offset = parent.contentStart; offset < parent.end; ) {
    const child = readTlv(der, offset);
    if (child.end > parent.end) throw new Error('child past its parent');
    found.push(child);
    offset = child.end;
  }
  return found;
}

function oidText(content: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSS[.fff]Z), as RFC 5280 §4.1.2.5 allows them; null otherwise. */
function timeOf(der: Buffer, field: Tlv): Date | null {
  const text = der.toString('latin1', field.contentStart, field.end);
  const match = field.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : field.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?Z$/.exec(text) : null;
  if (!match) return null;
  let year = Number(match[1]);
  if (field.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  const ms = match[7] ? Number(match[7].padEnd(3, '0')) : 0;
  return new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6]), ms));
}
