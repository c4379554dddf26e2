/**
 * The administrator key an installation starts with, before any credential
 * exists: CCM_ADMIN_API_KEY, or else a key ccm generates on first start into
 * CCM_ADMIN_API_KEY_FILE (mode 0600) so that the embedded default works with
 * no configuration. The key itself is never logged; the file's path is.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Configuration } from '../config/configuration.js';
import { readOrCreateOwnerOnlySecret } from '../shared/owner-only-file.js';

/** Keys shorter than this are refused: an administrator key must not be guessable. */
export const MINIMUM_ADMIN_KEY_LENGTH = 32;

export class BootstrapAdministratorKey {
  private constructor(private readonly digest: Buffer) {}

  static async load(access: Configuration['access']): Promise<BootstrapAdministratorKey> {
    if (access.adminApiKey !== null) return new BootstrapAdministratorKey(sha256(access.adminApiKey));
    const key = await readOrCreateOwnerOnlySecret({
      path: access.adminApiKeyFile,
      variable: 'CCM_ADMIN_API_KEY_FILE',
      create: () => `ccm_admin_${randomBytes(32).toString('base64url')}`,
      fail: (message) => new Error(message),
    });
    if (key.length < MINIMUM_ADMIN_KEY_LENGTH) throw new Error(`CCM_ADMIN_API_KEY_FILE ${access.adminApiKeyFile} must hold a key of at least ${MINIMUM_ADMIN_KEY_LENGTH} characters`);
    new Logger('Access').log(`bootstrap administrator key: in ${access.adminApiKeyFile} (set CCM_ADMIN_API_KEY to choose it)`);
    return new BootstrapAdministratorKey(sha256(key));
  }

  /** Constant time: both sides are SHA-256 digests, whatever the length of what was presented. */
  matches(presented: string): boolean {
    return timingSafeEqual(sha256(presented), this.digest);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
