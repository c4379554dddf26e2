/**
 * Enrollment credentials: a tenant creates them through the API and hands
 * them to devices (or a factory line) that enroll themselves over EST. The
 * secret is shown once; only its scrypt hash is stored, and it is checked in
 * constant time.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

export interface EnrollmentCredential {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
  readonly secretHash: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

export abstract class EnrollmentCredentialRepository {
  abstract insert(credential: EnrollmentCredential): Promise<void>;
  abstract findById(tenantId: string, id: string): Promise<EnrollmentCredential | null>;
  abstract list(tenantId: string): Promise<EnrollmentCredential[]>;
  /** False when it was revoked already or does not exist. */
  abstract revoke(tenantId: string, id: string, at: Date): Promise<boolean>;
}

/** 32 random bytes, base64url: what the caller sees once. */
export function newEnrollmentSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** "scrypt$<salt b64>$<hash b64>": the salt makes equal secrets hash differently. */
export async function hashEnrollmentSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('base64')}$${(await scrypt(secret, salt, 32)).toString('base64')}`;
}

export async function enrollmentSecretMatches(secret: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(secret, Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}
