/**
 * The CRL encoder: turns a fully decided certificate revocation list (which CA,
 * which number, which window, which entries) into a signed RFC 5280 §5 v2 CRL.
 * It decides no policy: which certificates are listed, and for how long, is the
 * caller's business.
 *
 * Layout follows certificate-encoder.ts: the envelopes are written with the DER
 * helpers, the CRL extensions (written once per CRL) with the @peculiar/asn1-x509
 * structures, and the issuer Name is copied in byte for byte (§5.1.2.3: it is
 * matched against the CA certificate's subject). The revoked-certificate entries
 * are written straight into one buffer each, without asn1-schema: a CRL may list
 * hundreds of thousands of certificates, and per-entry schema serialisation
 * would dominate the cost.
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  CRLReason,
  DistributionPointName,
  Extension,
  Extensions,
  GeneralName,
  IssuingDistributionPoint,
  KeyIdentifier,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  id_ce_issuingDistributionPoint,
} from '@peculiar/asn1-x509';
import { REVOCATION_REASONS, type RevocationReason } from '@ccm/event-consumer/contract';
import { DomainError } from '../shared/errors.js';
import { checkedUrl, encodeSignatureValue, readIssuerName, signatureAlgorithmOf, wholeSeconds } from './certificate-encoder.js';
import { DerTag, contextTag, encodeElement, encodeLength, encodedTimeLength, writeTime } from './der.js';
import { MAXIMUM_SERIAL_NUMBER_OCTETS } from './serial-number.js';
import type { Signer } from './signer.js';

export interface RevokedEntry {
  /** Hex as ccm stores serials (serialNumberToHex): lower case, whole octets, no leading zero octet; positive, at most 20 octets as DER INTEGER content. */
  readonly serialNumber: string;
  readonly revocationDate: Date;
  readonly reason: RevocationReason;
}

export interface CertificateListRequest {
  /** DER of the issuer certificate's subject Name, copied byte for byte. */
  readonly issuerName: Uint8Array;
  /** The issuer's subject key identifier, written as the CRL's authorityKeyIdentifier (RFC 5280 §5.2.1). */
  readonly authorityKeyIdentifier: Uint8Array;
  /** Monotonically increasing per CA (§5.2.3): positive, below 2^159 (at most 20 octets). */
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  /** Must be after thisUpdate (§5.1.2.5). */
  readonly nextUpdate: Date;
  /** Written in the order given; a serial may appear only once. */
  readonly entries: readonly RevokedEntry[];
  /** Optional Issuing Distribution Point: a full-name URI (critical extension, onlyContainsUserCerts true). */
  readonly issuingDistributionPointUri?: string;
}

/** Builds, signs and returns the DER CRL. Throws `invalid-request` for a request that cannot be encoded as asked. */
export async function encodeCertificateList(request: CertificateListRequest, signer: Signer): Promise<Uint8Array> {
  const issuerName = readIssuerName(request.issuerName);
  const thisUpdate = wholeSeconds(request.thisUpdate, 'thisUpdate');
  const nextUpdate = wholeSeconds(request.nextUpdate, 'nextUpdate');
  // §5.1.2.5: nextUpdate is the date by which the next CRL will be issued; one at or before thisUpdate is meaningless.
  if (nextUpdate.getTime() <= thisUpdate.getTime()) throw new DomainError('invalid-request', 'nextUpdate must be after thisUpdate');
  const extensions = certificateListExtensions(request);
  const signatureAlgorithm = signatureAlgorithmOf(signer.algorithm);

  const parts: Uint8Array[] = [VERSION_2, signatureAlgorithm, issuerName, encodeTime(thisUpdate), encodeTime(nextUpdate)];
  // §5.1.2.6: when there are no revoked certificates the list MUST be absent, not an empty SEQUENCE.
  if (request.entries.length > 0) parts.push(encodeRevokedCertificates(request.entries));
  parts.push(encodeElement(contextTag(0, true), extensions));

  const tbsCertList = encodeElement(DerTag.sequence, ...parts);
  const signature = await signer.sign(tbsCertList);
  // §5.1.1.2: the same AlgorithmIdentifier as TBSCertList.signature.
  return encodeElement(DerTag.sequence, tbsCertList, signatureAlgorithm, encodeSignatureValue(signature));
}

// §5.1.2.1: Version ::= v2(1), required when the CRL carries extensions.
const VERSION_2 = Uint8Array.of(0x02, 0x01, 0x01);

/** 2^159: the smallest value whose DER INTEGER needs 21 octets (a 0x00 sign octet ahead of 20). */
const CRL_NUMBER_LIMIT = 1n << 159n;

function certificateListExtensions(request: CertificateListRequest): Uint8Array {
  const { authorityKeyIdentifier, crlNumber } = request;
  if (!(authorityKeyIdentifier instanceof Uint8Array) || authorityKeyIdentifier.length === 0) {
    throw new DomainError('invalid-request', 'authority key identifier is empty');
  }
  // §5.2.3: "CRL issuers MUST NOT use CRLNumber values longer than 20 octets"; ccm numbers its CRLs from 1.
  if (typeof crlNumber !== 'bigint' || crlNumber <= 0n || crlNumber >= CRL_NUMBER_LIMIT) {
    throw new DomainError('invalid-request', 'crlNumber must be a positive integer below 2^159', { value: String(crlNumber) });
  }
  const extensions = [
    // §5.2.1: MUST be included; keyIdentifier only, as in the certificates the CA issues.
    extension(id_ce_authorityKeyIdentifier, false, AsnConvert.serialize(new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyIdentifier) }))),
    // §5.2.3: MUST be included and non-critical. asn1-x509's CRLNumber holds a JS number, too small for 159 bits, so the INTEGER is written here.
    extension(id_ce_cRLNumber, false, encodeElement(DerTag.integer, positiveIntegerContent(crlNumber))),
  ];
  const uri = request.issuingDistributionPointUri;
  if (uri !== undefined) {
    // §5.2.5: MUST be critical. One full-name URI naming this CRL, and only end-entity certificates listed in it.
    const point = new IssuingDistributionPoint({
      distributionPoint: new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: checkedUrl(uri, 'issuing distribution point') })] }),
      onlyContainsUserCerts: true,
    });
    extensions.push(extension(id_ce_issuingDistributionPoint, true, AsnConvert.serialize(point)));
  }
  return new Uint8Array(AsnConvert.serialize(new Extensions(extensions)));
}

function extension(oid: string, critical: boolean, value: ArrayBuffer | Uint8Array): Extension {
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(value) });
}

/** Unsigned value → DER INTEGER content: minimal, with a 0x00 sign octet when the top bit is set. */
function positiveIntegerContent(value: bigint): Uint8Array {
  const hex = value.toString(16);
  const octets = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
  if ((octets[0]! & 0x80) === 0) return new Uint8Array(octets);
  const content = new Uint8Array(octets.length + 1);
  content.set(octets, 1);
  return content;
}

/**
 * crlEntryExtensions holding one non-critical reasonCode (§5.3.1), by reason;
 * `null` for unspecified, which §5.3.1 says SHOULD be left out. Built once.
 */
const ENTRY_EXTENSIONS = new Map<RevocationReason, Uint8Array | null>(
  (Object.entries(REVOCATION_REASONS) as Array<[RevocationReason, number]>).map(([reason, code]) => [
    reason,
    reason === 'unspecified' ? null : new Uint8Array(AsnConvert.serialize(new Extensions([extension(id_ce_cRLReasons, false, AsnConvert.serialize(new CRLReason(code)))]))),
  ]),
);

/**
 * The revokedCertificates SEQUENCE OF, written into one buffer in two passes:
 * the first checks every entry and adds up the lengths, the second writes the
 * octets. No per-entry buffers: at 100,000 entries their allocation and garbage
 * collection cost more than the encoding itself.
 *
 * Each entry is SEQUENCE { userCertificate INTEGER, revocationDate Time,
 * crlEntryExtensions Extensions OPTIONAL } of at most 22 + 17 + 14 octets, so
 * its length always takes the one-octet short form.
 */
function encodeRevokedCertificates(entries: readonly RevokedEntry[]): Uint8Array {
  const revocationDates: Date[] = new Array(entries.length);
  const seen = new Set<string>();
  let total = 0;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!;
    const serialLength = serialContentLength(entry.serialNumber, index);
    // Canonical hex, so equal strings are equal serials. Two entries for one certificate (perhaps with different reasons) would leave relying parties to pick one.
    if (seen.has(entry.serialNumber)) {
      throw new DomainError('invalid-request', `entries[${index}]: serial number ${entry.serialNumber} is listed more than once`, { value: entry.serialNumber });
    }
    seen.add(entry.serialNumber);
    const reasonExtensions = ENTRY_EXTENSIONS.get(entry.reason);
    if (reasonExtensions === undefined) {
      throw new DomainError('invalid-request', `entries[${index}]: "${String(entry.reason)}" is not a revocation reason`, { value: entry.reason });
    }
    const revocationDate = wholeSeconds(entry.revocationDate, `entries[${index}].revocationDate`);
    revocationDates[index] = revocationDate;
    total += 2 + 2 + serialLength + encodedTimeLength(revocationDate) + (reasonExtensions?.length ?? 0);
  }

  const length = encodeLength(total);
  const out = new Uint8Array(1 + length.length + total);
  out[0] = DerTag.sequence;
  out.set(length, 1);
  let offset = 1 + length.length;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index]!;
    const serial = entry.serialNumber;
    const revocationDate = revocationDates[index]!;
    const reasonExtensions = ENTRY_EXTENSIONS.get(entry.reason)!;
    const signOctet = hexDigit(serial, 0) >= 8 ? 1 : 0;
    const serialLength = (serial.length >> 1) + signOctet;
    out[offset++] = DerTag.sequence;
    out[offset++] = 2 + serialLength + encodedTimeLength(revocationDate) + (reasonExtensions?.length ?? 0);
    out[offset++] = DerTag.integer;
    out[offset++] = serialLength;
    if (signOctet === 1) out[offset++] = 0;
    for (let digit = 0; digit < serial.length; digit += 2) out[offset++] = (hexDigit(serial, digit) << 4) | hexDigit(serial, digit + 1);
    offset = writeTime(out, offset, revocationDate);
    if (reasonExtensions !== null) {
      out.set(reasonExtensions, offset);
      offset += reasonExtensions.length;
    }
  }
  if (offset !== out.length) throw new Error(`revokedCertificates: wrote ${offset} of ${out.length} octets`);
  return out;
}

/** serialNumberToHex's form: whole octets in lower-case hex, no leading zero octet. */
const SERIAL_HEX = /^(?:[0-9a-f]{2})+$/;

/** Checks the serial and returns the length of its DER INTEGER content. */
function serialContentLength(serial: string, index: number): number {
  if (typeof serial !== 'string' || !SERIAL_HEX.test(serial) || serial.startsWith('00')) {
    throw new DomainError('invalid-request', `entries[${index}]: serial number "${String(serial)}" is not lower-case hex octets without a leading zero octet (as serialNumberToHex writes it)`, {
      value: serial,
    });
  }
  // §5.1.2.6 / §4.1.2.2: a positive, non-zero INTEGER of at most 20 octets, the 0x00 sign octet included. ("00", zero, is refused above.)
  const serialLength = (serial.length >> 1) + (hexDigit(serial, 0) >= 8 ? 1 : 0);
  if (serialLength > MAXIMUM_SERIAL_NUMBER_OCTETS) {
    throw new DomainError('invalid-request', `entries[${index}]: serial number ${serial} is longer than ${MAXIMUM_SERIAL_NUMBER_OCTETS} octets`, { value: serial });
  }
  return serialLength;
}

/** Value of the lower-case hex digit at `index` (already checked by SERIAL_HEX). */
function hexDigit(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code <= 0x39 ? code - 0x30 : code - 0x57;
}

function encodeTime(date: Date): Uint8Array {
  const out = new Uint8Array(encodedTimeLength(date));
  writeTime(out, 0, date);
  return out;
}

