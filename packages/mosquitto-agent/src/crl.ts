/**
 * A tenant CA's CRL as the agent handles it: parsed, its signature checked
 * against the CA, its dates and serials read out. Mosquitto must never be
 * handed a CRL it cannot use: on reload it silently drops an unreadable
 * crlfile (and with it every revocation check), and an expired CRL makes it
 * refuse every device of that CA. So nothing reaches the crlfile without
 * passing through here.
 *
 * The check is a DER walk over the CRL with the signature verified by
 * node:crypto: 1.3 ms for a CRL of 900 entries, any size (the agent first
 * used @peculiar/x509, which held its only thread ~270 ms for 900 entries,
 * could not read more than about 1,000 at all, and needs a reflect-metadata
 * polyfill a broker host should not have to install). It verifies what ccm
 * signs with (ECDSA P-256/P-384, RSA PKCS#1 v1.5, Ed25519; SHA-2) and
 * refuses, saying why, whatever it cannot vouch for, including an issuer
 * Name that is not byte for byte the CA's subject (ccm copies it).
 */
import { verify as verifySignature, X509Certificate as NodeX509Certificate, type KeyObject } from 'node:crypto';

const CRL_NUMBER_OID = '2.5.29.20';

/** One root CA's CRL, parsed and checked against the CA. */
export interface IssuerCrl {
  /** ccm's id of the CA (the one in its certificates' CRL distribution point). */
  readonly authorityId: string;
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

/**
 * A tenant's CRLs: one per root CA in force (two or more during a rollover; Mosquitto refuses a certificate whose
 * issuer has no CRL in the crlfile, so each must be there), read together from ccm. The summary fields are over
 * all of them.
 */
export interface TenantCrl extends Omit<IssuerCrl, 'authorityId'> {
  readonly tenantId: string;
  readonly parts: readonly IssuerCrl[];
  /** The roots whose certificates these CRLs speak for. */
  readonly authorityIds: ReadonlySet<string>;
  // Over all parts: pem their blocks in order, issuer their names, thisUpdate and nextUpdate the earliest (the set is as
  // fresh as its stalest CRL), crlNumber the one part's (null with several), revokedSerials every part's (serials are
  // 128-bit random, so two roots of one tenant never share one in practice).
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

/**
 * Whether `candidate` was issued before `installed`: some root's CRL in it is older than the installed one of that
 * root (by CRL number when both have one, else by thisUpdate). A root only one side has (a rollover added it, a
 * retirement removed it) makes neither older.
 */
export function isOlderThan(candidate: TenantCrl, installed: TenantCrl): boolean {
  const installedParts = new Map(installed.parts.map((part) => [part.authorityId, part]));
  return candidate.parts.some((part) => {
    const other = installedParts.get(part.authorityId);
    if (!other) return false;
    if (part.crlNumber !== null && other.crlNumber !== null) return part.crlNumber < other.crlNumber;
    return part.thisUpdate.getTime() < other.thisUpdate.getTime();
  });
}

/** The tenant's CRL set from its parts (at least one: a crlfile without a tenant's CRLs refuses all its devices). */
export function tenantCrlOf(tenantId: string, parts: readonly IssuerCrl[]): TenantCrl {
  if (parts.length === 0) throw new CrlRejectedError(tenantId, 'ccm named no CRL of the tenant');
  const earliest = (dates: Date[]): Date => new Date(Math.min(...dates.map((date) => date.getTime())));
  return {
    tenantId,
    parts,
    authorityIds: new Set(parts.map((part) => part.authorityId)),
    pem: parts.map((part) => part.pem).join(''),
    issuer: parts.map((part) => part.issuer).join('; '),
    thisUpdate: earliest(parts.map((part) => part.thisUpdate)),
    nextUpdate: earliest(parts.map((part) => part.nextUpdate)),
    crlNumber: parts.length === 1 ? parts[0]!.crlNumber : null,
    // One part (a tenant with one root, the usual case): its set as it is, not a copy of a CRL's worth of serials per read.
    revokedSerials: parts.length === 1 ? parts[0]!.revokedSerials : new Set(parts.flatMap((part) => [...part.revokedSerials])),
  };
}

/** Signature algorithms the check verifies (OID → node:crypto digest; null: none, EdDSA). */
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
  /** The subject as RFC 4514 text (TenantCrl.issuer). */
  readonly subject: string;
}

/** By CA certificate PEM: an agent serves a handful of tenants, and each CA is parsed once, not once per CRL. */
const issuerFacts = new Map<string, IssuerFacts>();
const ISSUERS_REMEMBERED = 256;

function factsOf(tenantId: string, issuerCertificatePem: string): IssuerFacts {
  const known = issuerFacts.get(issuerCertificatePem);
  if (known) return known;
  let facts: IssuerFacts;
  try {
    const certificate = new NodeX509Certificate(issuerCertificatePem);
    const tbs = children(certificate.raw, readTlv(certificate.raw, 0));
    const tbsFields = children(certificate.raw, tbs[0]!);
    // [0] version, serialNumber, signature, issuer, validity, subject
    const subject = tbsFields[tbsFields[0]!.tag === 0xa0 ? 5 : 4]!;
    facts = { publicKey: certificate.publicKey, subjectDer: certificate.raw.subarray(subject.start, subject.end), subject: nameText(certificate.raw, subject) };
  } catch (error) {
    throw new CrlRejectedError(tenantId, `the CA certificate is unparseable: ${(error as Error).message}`);
  }
  if (issuerFacts.size >= ISSUERS_REMEMBERED) issuerFacts.delete(issuerFacts.keys().next().value!);
  issuerFacts.set(issuerCertificatePem, facts);
  return facts;
}

/**
 * Parses one PEM CRL and checks that it is the CA's: exactly one "X509 CRL"
 * block (OpenSSL reads no other label), its issuer Name byte for byte the
 * CA's subject, the signature (of an algorithm listed above, the same
 * inside and outside tbsCertList) verified with the CA's key, a nextUpdate
 * (RFC 5280 §5.1.2.5: without it a stale CRL cannot be told from a fresh
 * one) after thisUpdate. Dates are not judged against the clock here (the
 * adapter does that). Throws CrlRejectedError saying why.
 */
export function verifiedIssuerCrl(tenantId: string, authorityId: string, crlPem: string, issuerCertificatePem: string): IssuerCrl {
  const blocks = crlPem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
  if (blocks.length !== 1) throw new CrlRejectedError(tenantId, `expected one PEM "X509 CRL" block, found ${blocks.length}`);
  const block = blocks[0]!;
  const issuer = factsOf(tenantId, issuerCertificatePem);
  const refuse = (reason: string): never => {
    throw new CrlRejectedError(tenantId, reason);
  };
  let parsed: ParsedCrl;
  try {
    parsed = parseCrl(Buffer.from(block.replace(/-----(BEGIN|END) X509 CRL-----/g, '').replace(/\s+/g, ''), 'base64'));
  } catch (error) {
    return refuse(`unparseable: ${(error as Error).message}`);
  }
  const { der } = parsed;
  if (!der.subarray(parsed.issuerName.start, parsed.issuerName.end).equals(issuer.subjectDer)) refuse(`issued by "${nameText(der, parsed.issuerName)}", not by the tenant CA "${issuer.subject}"`);
  const digest = SIGNATURE_DIGESTS.get(parsed.algorithmOid);
  if (digest === undefined) refuse(`signed with algorithm ${parsed.algorithmOid}, which the agent does not verify`);
  let verified = false;
  try {
    verified = verifySignature(digest!, parsed.signed, issuer.publicKey, parsed.signature);
  } catch {
    verified = false; // a key of another type than the algorithm, or a malformed signature
  }
  if (!verified) refuse('its signature does not verify with the tenant CA\'s key');
  if (!parsed.nextUpdate) refuse('it has no nextUpdate');
  if (parsed.nextUpdate!.getTime() <= parsed.thisUpdate.getTime()) refuse('its nextUpdate is not after its thisUpdate');
  return { authorityId, pem: `${block}\n`, issuer: issuer.subject, thisUpdate: parsed.thisUpdate, nextUpdate: parsed.nextUpdate!, crlNumber: parsed.crlNumber, revokedSerials: parsed.revokedSerials };
}

/** One root's CRL as the tenant's whole set (a tenant with a single root CA). */
export function verifiedTenantCrl(tenantId: string, crlPem: string, issuerCertificatePem: string, authorityId: string): TenantCrl {
  return tenantCrlOf(tenantId, [verifiedIssuerCrl(tenantId, authorityId, crlPem, issuerCertificatePem)]);
}

interface ParsedCrl {
  readonly der: Buffer;
  readonly signed: Buffer;
  readonly signature: Buffer;
  readonly algorithmOid: string;
  readonly issuerName: Tlv;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | null;
  readonly crlNumber: bigint | null;
  readonly revokedSerials: ReadonlySet<string>;
}

/** RFC 5280 §5.1 CertificateList, read field by field; throws with what is wrong. */
function parseCrl(der: Buffer): ParsedCrl {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new Error('not one DER SEQUENCE');
  const [tbs, algorithm, signature, ...extra] = children(der, outer);
  if (!tbs || !algorithm || !signature || extra.length > 0 || tbs.tag !== 0x30 || algorithm.tag !== 0x30 || signature.tag !== 0x03) throw new Error('not a CertificateList (tbsCertList, signatureAlgorithm, signatureValue)');
  const fields = children(der, tbs);
  let index = fields[0]?.tag === 0x02 ? 1 : 0; // version
  const innerAlgorithm = fields[index++];
  const issuerName = fields[index++];
  const thisUpdateField = fields[index++];
  let nextUpdateField: Tlv | undefined = fields[index];
  if (nextUpdateField && (nextUpdateField.tag === 0x17 || nextUpdateField.tag === 0x18)) index++;
  else nextUpdateField = undefined;
  if (!innerAlgorithm || !issuerName || !thisUpdateField || issuerName.tag !== 0x30) throw new Error('tbsCertList lacks its signature, issuer or thisUpdate');
  if (!der.subarray(innerAlgorithm.start, innerAlgorithm.end).equals(der.subarray(algorithm.start, algorithm.end))) throw new Error('its two signature algorithm fields differ');
  const algorithmOid = children(der, algorithm)[0];
  if (!algorithmOid || algorithmOid.tag !== 0x06) throw new Error('the signature algorithm has no OID');
  if (der[signature.contentStart] !== 0) throw new Error('the signature BIT STRING has unused bits');
  const thisUpdate = timeOf(der, thisUpdateField);
  if (!thisUpdate) throw new Error('its thisUpdate is not a UTCTime or GeneralizedTime');
  const nextUpdate = nextUpdateField ? timeOf(der, nextUpdateField) : null;
  if (nextUpdateField && !nextUpdate) throw new Error('its nextUpdate is not a UTCTime or GeneralizedTime');

  const revokedSerials = new Set<string>();
  let crlNumber: bigint | null = null;
  const rest = fields.slice(index);
  // What may follow: revokedCertificates, then [0] crlExtensions, each at most once.
  if (rest.length > 2 || (rest.length === 2 && (rest[0]!.tag !== 0x30 || rest[1]!.tag !== 0xa0))) throw new Error('unexpected fields after the dates');
  for (const field of rest) {
    if (field.tag === 0x30) {
      for (const entry of children(der, field)) {
        const serial = children(der, entry)[0];
        if (!serial || serial.tag !== 0x02 || serial.contentStart === serial.end) throw new Error('a revoked entry without a serial number');
        revokedSerials.add(normaliseSerial(der.toString('hex', serial.contentStart, serial.end)));
      }
    } else if (field.tag === 0xa0) {
      const extensions = children(der, field)[0];
      if (!extensions || extensions.tag !== 0x30) throw new Error('crlExtensions is not a SEQUENCE');
      for (const extension of children(der, extensions)) {
        const parts = children(der, extension);
        if (parts[0]?.tag !== 0x06 || oidText(der.subarray(parts[0].contentStart, parts[0].end)) !== CRL_NUMBER_OID) continue;
        const value = parts[parts.length - 1]!;
        if (value.tag !== 0x04) throw new Error('the cRLNumber extension holds no OCTET STRING');
        crlNumber = derInteger(new Uint8Array(der.subarray(value.contentStart, value.end)));
      }
    } else {
      throw new Error(`unexpected field with tag 0x${field.tag.toString(16)}`);
    }
  }
  return { der, signed: der.subarray(tbs.start, tbs.end), signature: der.subarray(signature.contentStart + 1, signature.end), algorithmOid: oidText(der.subarray(algorithmOid.contentStart, algorithmOid.end)), issuerName, thisUpdate, nextUpdate, crlNumber, revokedSerials };
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

const NAME_ATTRIBUTES: ReadonlyMap<string, string> = new Map([
  ['2.5.4.3', 'CN'],
  ['2.5.4.5', 'serialNumber'],
  ['2.5.4.6', 'C'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  ['2.5.4.10', 'O'],
  ['2.5.4.11', 'OU'],
  ['0.9.2342.19200300.100.1.25', 'DC'],
]);

/** A Name as RFC 4514 text (most significant RDN last), for messages; values of string types, others as #hex. */
function nameText(der: Buffer, name: Tlv): string {
  const rdns = children(der, name).map((set) =>
    children(der, set)
      .map((attribute) => {
        const [type, value] = children(der, attribute);
        if (!type || !value) return '?';
        const oid = oidText(der.subarray(type.contentStart, type.end));
        const text = [0x0c, 0x13, 0x16, 0x14].includes(value.tag) ? der.toString('utf8', value.contentStart, value.end).replace(/([,+"\\<>;])/g, '\\$1') : `#${der.toString('hex', value.start, value.end)}`;
        return `${NAME_ATTRIBUTES.get(oid) ?? oid}=${text}`;
      })
      .join('+'),
  );
  return rdns.reverse().join(',');
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
