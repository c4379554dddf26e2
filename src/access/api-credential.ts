/**
 * API credentials: bearer keys that callers of the REST API present. A key is
 * `ccm_<credential id>_<secret>`: the id finds the record, the secret is
 * checked against its SHA-256 in constant time. The secret is 32 random bytes,
 * so a fast hash suffices (no password stretching needed, unlike a
 * human-chosen password) and the check stays cheap on the broker's hot path.
 * The key is shown once, at creation; only the hash is stored.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isId } from '../shared/identifiers.js';
import type { Role } from './actor.js';

export interface ApiCredential {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly tenantId: string | null;
  /** hex SHA-256 of the secret part of the key. */
  readonly secretHash: string;
  readonly createdAt: Date;
  /** Credential id of whoever created it; null for the bootstrap administrator. */
  readonly createdBy: string | null;
  readonly revokedAt: Date | null;
  readonly lastUsedAt: Date | null;
}

export interface ApiCredentialFilter {
  readonly tenantId?: string;
  readonly role?: Role;
}

export abstract class ApiCredentialRepository {
  abstract insert(credential: ApiCredential): Promise<void>;
  abstract findById(id: string): Promise<ApiCredential | null>;
  abstract list(filter: ApiCredentialFilter): Promise<ApiCredential[]>;
  /** False when it was revoked already or does not exist. */
  abstract revoke(id: string, at: Date): Promise<boolean>;
  /** Sets last_used_at to `at` unless it is already later than `notBefore` (at most one write per interval). */
  abstract recordUse(id: string, at: Date, notBefore: Date): Promise<void>;
}

const KEY = /^ccm_([0-9a-f-]{36})_([A-Za-z0-9_-]{43})$/;

export function newApiKey(id: string): { key: string; secretHash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { key: `ccm_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The credential id and secret of a key in ccm's format; null for anything else. */
export function parseApiKey(key: string): { id: string; secret: string } | null {
  const match = KEY.exec(key);
  if (!match || !isId(match[1]!)) return null;
  return { id: match[1]!, secret: match[2]! };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash: both sides are 32-byte digests, whatever was presented. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, 'hex');
  const actual = createHash('sha256').update(secret, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}
