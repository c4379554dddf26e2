/**
 * Secrets kept in a file beside the data (the local custody key-encryption
 * key, the bootstrap administrator key of an unconfigured installation):
 * created on first start with mode 0600, refused when others can read them.
 */
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';

export interface OwnerOnlySecretFile {
  readonly path: string;
  /** The setting that names the file, for error messages. */
  readonly variable: string;
  /** Content for a new file. */
  readonly create: () => string;
  readonly fail: (message: string) => Error;
}

/** Why a secret file with this mode is too open, or null when only its owner can read it. */
export function openToOthers(mode: number): string | null {
  return (mode & 0o077) !== 0 ? `must be readable by its owner only (chmod 600), it is ${(mode & 0o777).toString(8)}` : null;
}

/** The file's content, trimmed; a new file with `create()` when there is none. */
export async function readOrCreateOwnerOnlySecret(file: OwnerOnlySecretFile): Promise<string> {
  try {
    const stat = await fs.stat(file.path);
    const problem = openToOthers(stat.mode);
    if (problem) throw file.fail(`${file.variable} ${file.path} ${problem}`);
    return (await fs.readFile(file.path, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await fs.mkdir(dirname(file.path), { recursive: true, mode: 0o700 });
  const content = file.create();
  try {
    await fs.writeFile(file.path, `${content}\n`, { mode: 0o600, flag: 'wx' });
    return content;
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readOrCreateOwnerOnlySecret(file);
    throw error;
  }
}
