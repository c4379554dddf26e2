/**
 * The users file: the allow list of device users that nats-server includes
 * in its `authorization` (or an account's) block, owned whole by the agent.
 * Its text is a pure function of the allowed identities and the device
 * permissions (sorted, one JSON object per line, which nats-server's
 * configuration syntax accepts), so "did anything change" is a string
 * comparison and a restarted agent that finds it right rewrites nothing.
 *
 * The device permissions are written once, as the block's
 * `default_permissions` (which nats-server 2.9 takes in an authorization
 * block and in an account, from an included file: checked on 2.9.10), and
 * the device users carry none of their own. Written into each of 1,000
 * users they made a users reload with 900 sessions take 52-71 ms instead
 * of 35 (bench/suspend-to-disconnect), and a reload is what a suspension
 * waits for.
 *
 * The list is never empty: nats-server 2.9 with `users = []` asks for no
 * authorization at all and admits every certificate its ca_file trusts
 * (checked on 2.9.10), so shutting out the last device would let everyone
 * in. A placeholder user that no certificate can map to stays in the list.
 *
 * UsersFileStore is the port the adapter writes through; AtomicUsersFile
 * replaces the file by temp file + fsync + rename, so nats-server never
 * reads half a file.
 */
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DevicePermissions } from './device-permissions.js';
import { UsersFileError } from './errors.js';

const HEADER = [
  '# Written by ccm-nats-agent: the device users whose certificates are in force.',
  '# Do not edit: the agent replaces this file whole. nats-server includes it inside',
  '# its authorization { } (or an account) block, by a path relative to its own',
  '# configuration file\'s directory.',
];

/**
 * The user that keeps the list from being empty. No certificate maps to it:
 * nats-server looks SAN e-mail and DNS names up as they are (Go accepts only
 * ASCII in them), URIs in Go's percent-escaped ASCII form, and subjects as
 * `TYPE=value` DNs; this name has a non-ASCII character and no `=`. It may
 * do nothing even so.
 */
export const PLACEHOLDER_USER = 'ccm-nats-agent · placeholder: no certificate maps to this name';
const PLACEHOLDER_LINE = `  ${JSON.stringify({ user: PLACEHOLDER_USER, permissions: { publish: { deny: ['>'] }, subscribe: { deny: ['>'] } } })}`;

/** The file's text for these identities (any order, duplicates ignored), the placeholder user first. */
export function renderUsersFile(identities: Iterable<string>, permissions: DevicePermissions | null): string {
  const users = [...new Set(identities)].filter((user) => user !== PLACEHOLDER_USER).sort();
  const lines = [PLACEHOLDER_LINE, ...users.map((user) => `  ${JSON.stringify({ user })}`)];
  const defaults = permissions ? `default_permissions = ${JSON.stringify(permissions)}\n` : '';
  return `${HEADER.join('\n')}\n${defaults}users = [\n${lines.join('\n')}\n]\n`;
}

/**
 * The identities in a users file the agent wrote, the placeholder left out
 * (or none, for an operator's `users = []`, which the agent replaces at
 * once because it lets everyone in). Throws UsersFileError for anything else, so that the agent
 * never silently replaces a file someone else keeps.
 */
export function parseUsersFile(text: string, path: string): string[] {
  const users: string[] = [];
  let inList = false;
  let closed = false;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    const where = `line ${index + 1}`;
    if (line === '' || line.startsWith('#')) continue;
    if (closed) throw new UsersFileError(path, `${where}: nothing may follow the users list`);
    if (!inList) {
      // The agent's own defaults line (an older agent wrote the permissions into each user instead).
      if (/^default_permissions\s*=\s*\{.*\}$/.test(line)) continue;
      if (/^users\s*[=:]\s*\[\s*\]$/.test(line)) {
        closed = true;
        continue;
      }
      if (!/^users\s*[=:]\s*\[$/.test(line)) throw new UsersFileError(path, `${where}: expected "users = [" (the agent keeps this file whole; point CCM_NATS_USERS_FILE at a file of its own)`);
      inList = true;
      continue;
    }
    if (line === ']') {
      inList = false;
      closed = true;
      continue;
    }
    let entry: unknown;
    try {
      entry = JSON.parse(line.replace(/,$/, ''));
    } catch {
      throw new UsersFileError(path, `${where}: not a user entry the agent wrote`);
    }
    const user = (entry as { user?: unknown } | null)?.user;
    if (typeof user !== 'string' || user === '') throw new UsersFileError(path, `${where}: a user entry without a user name`);
    if (user !== PLACEHOLDER_USER) users.push(user);
  }
  if (inList) throw new UsersFileError(path, 'the users list is not closed');
  return users;
}

export interface StoredUsersFile {
  readonly text: string;
  /** Last modification, ms since the epoch (sub-millisecond where the file system keeps it). */
  readonly modifiedMs: number;
}

export abstract class UsersFileStore {
  abstract readonly path: string;
  /** The file now; null when it does not exist. */
  abstract read(): Promise<StoredUsersFile | null>;
  /** Replaces the file's content atomically. */
  abstract write(text: string): Promise<void>;
}

export class AtomicUsersFile extends UsersFileStore {
  constructor(readonly path: string) {
    super();
  }

  async read(): Promise<StoredUsersFile | null> {
    try {
      const [text, stats] = await Promise.all([readFile(this.path, 'utf8'), stat(this.path)]);
      return { text, modifiedMs: stats.mtimeMs };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new UsersFileError(this.path, `cannot be read (${(error as Error).message})`, { cause: error });
    }
  }

  async write(text: string): Promise<void> {
    // Same directory, so the rename is atomic; the old file's mode is kept (nats-server may read it as another user of the group).
    const temporary = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.tmp`);
    const mode = await stat(this.path).then(
      (stats) => stats.mode & 0o777,
      () => 0o644,
    );
    try {
      const handle = await open(temporary, 'w', mode);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.chmod(mode);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.path);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      throw new UsersFileError(this.path, `cannot be replaced (${(error as Error).message})`, { cause: error });
    }
  }
}
