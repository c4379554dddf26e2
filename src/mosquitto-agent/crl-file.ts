/**
 * The crlfile adapter: writes the bundle to a temporary file in the same
 * directory, flushes it, and renames it over the crlfile. rename() within one
 * file system is atomic, so Mosquitto (which on SIGHUP silently stops
 * checking revocation if the file is missing or unreadable) always finds a
 * complete file. Mode 0644: CRLs are public, and Mosquitto runs as its own user.
 */
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CrlFile } from './ports.js';

export class AtomicCrlFile extends CrlFile {
  constructor(private readonly path: string) {
    super();
  }

  async install(pemBundle: string): Promise<void> {
    const temporary = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.${Date.now()}.tmp`);
    try {
      const handle = await open(temporary, 'w', 0o644);
      try {
        await handle.writeFile(pemBundle, 'utf8');
        await handle.chmod(0o644); // the umask may have narrowed the mode open() asked for
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}
