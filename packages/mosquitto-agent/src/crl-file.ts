/**
 * The crlfile adapter: writes the bundle to a temporary file in the same
 * directory, flushes it, and renames it over the crlfile. rename() within one
 * file system is atomic, so Mosquitto (which on SIGHUP silently stops
 * checking revocation if the file is missing or unreadable) always finds a
 * complete file. Mode 0644: CRLs are public, and Mosquitto runs as its own user.
 *
 * Beside it, `.<crlfile name>.reloaded` notes which bundle a running
 * Mosquitto was last signalled to read (SHA-256 and pid). A restarted agent
 * that finds the crlfile already holding what it would write uses the note to
 * tell "Mosquitto has read this" (no write, no reload) from "the agent before
 * it wrote the file and died before the signal" (reload).
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CrlFile, type ReloadRecord } from './ports.js';

export class AtomicCrlFile extends CrlFile {
  constructor(private readonly path: string) {
    super();
  }

  /** Where the reload note lives. */
  get recordPath(): string {
    return join(dirname(this.path), `.${basename(this.path)}.reloaded`);
  }

  install(pemBundle: string): Promise<void> {
    return writeAtomically(this.path, pemBundle);
  }

  async read(): Promise<string | null> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async lastReload(): Promise<ReloadRecord | null> {
    try {
      const parsed = JSON.parse(await readFile(this.recordPath, 'utf8')) as Partial<ReloadRecord>;
      if (typeof parsed.sha256 !== 'string' || !Number.isInteger(parsed.pid)) return null;
      return { sha256: parsed.sha256, pid: parsed.pid! };
    } catch {
      // Missing or damaged: the agent then reloads once, which is always safe.
      return null;
    }
  }

  recordReload(record: ReloadRecord): Promise<void> {
    return writeAtomically(this.recordPath, `${JSON.stringify({ sha256: record.sha256, pid: record.pid, at: new Date().toISOString() })}\n`);
  }
}

async function writeAtomically(path: string, content: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const handle = await open(temporary, 'w', 0o644);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.chmod(0o644); // the umask may have narrowed the mode open() asked for
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
