/** The persistence port of CRL publication: the current CRL of each CA, and what it must list. */
import type { RevocationReason } from '../events/certificate-event.js';

export interface RevocationListRecord {
  readonly authorityId: string;
  readonly crlNumber: number;
  /** The authority's revocationVersion this CRL was built from. */
  readonly revocationVersion: number;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly der: Uint8Array;
}

export interface RevokedCertificateEntry {
  readonly serialNumber: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

export abstract class RevocationListStore {
  abstract current(authorityId: string): Promise<RevocationListRecord | null>;
  /** Every suspended (as certificateHold) and revoked certificate the CA issued. */
  abstract revokedEntries(authorityId: string): Promise<RevokedCertificateEntry[]>;
  /** Stores `record` if the current CRL number is still `previousNumber` (null: none yet); false when another process stored one first. */
  abstract save(record: RevocationListRecord, previousNumber: number | null): Promise<boolean>;
}
