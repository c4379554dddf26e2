/** The persistence port of CRL publication: the current CRL of each CA, and what it must list. */
import type { RevocationReason } from '@ccm/event-consumer/contract';

/** The scope of a sharded CA's complete CRL (every shard's entries, no Issuing Distribution Point). */
export const COMPLETE_SCOPE = -1;

export interface RevocationListRecord {
  readonly authorityId: string;
  /** The shard it lists (0: the CA's single CRL), or COMPLETE_SCOPE. */
  readonly scope: number;
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
  abstract current(authorityId: string, scope: number): Promise<RevocationListRecord | null>;
  /** Every suspended (as certificateHold) and revoked certificate the CA issued in that scope. */
  abstract revokedEntries(authorityId: string, scope: number): Promise<RevokedCertificateEntry[]>;
  /** Whether any certificate of the CA is in that shard: CRLs are built for shards that exist, not for any number asked for. */
  abstract hasShard(authorityId: string, shard: number): Promise<boolean>;
  /** Stores `record` if the scope's current CRL number is still `previousNumber` (null: none yet); false when another process stored one first. */
  abstract save(record: RevocationListRecord, previousNumber: number | null): Promise<boolean>;
}
