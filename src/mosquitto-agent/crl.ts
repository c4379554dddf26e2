/**
 * A tenant CA's CRL as the agent handles it: parsed, its signature checked
 * against the CA, its dates and serials read out. Mosquitto must never be
 * handed a CRL it cannot use: on reload it silently drops an unreadable
 * crlfile (and with it every revocation check), and an expired CRL makes it
 * refuse every device of that CA. So nothing reaches the crlfile without
 * passing through here.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import { webcrypto } from 'node:crypto';
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
 */
export async function verifiedTenantCrl(tenantId: string, crlPem: string, issuerCertificatePem: string): Promise<TenantCrl> {
  const blocks = crlPem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
  if (blocks.length !== 1) throw new CrlRejectedError(tenantId, `expected one PEM "X509 CRL" block, found ${blocks.length}`);
  let crl: x509.X509Crl;
  let issuer: x509.X509Certificate;
  try {
    crl = new x509.X509Crl(blocks[0]!);
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
    pem: `${blocks[0]}\n`,
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
