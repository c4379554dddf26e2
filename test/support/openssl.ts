/**
 * Runs the real openssl command line on files in a temp directory: the
 * external client that judges ccm's certificates in the tests.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function run(command: string, args: readonly string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export function openssl(args: readonly string[], options: { input?: string; cwd?: string } = {}): Promise<CommandResult> {
  return run('openssl', args, options);
}

/** A scratch directory for PEM files handed to openssl/curl; removed by cleanup(). */
export class Scratch {
  private constructor(readonly directory: string) {}

  static async create(): Promise<Scratch> {
    return new Scratch(await mkdtemp(join(tmpdir(), 'ccm-scratch-')));
  }

  async write(name: string, content: string): Promise<string> {
    const path = join(this.directory, name);
    await writeFile(path, content, { mode: 0o600 });
    return path;
  }

  path(name: string): string {
    return join(this.directory, name);
  }

  async cleanup(): Promise<void> {
    await rm(this.directory, { recursive: true, force: true });
  }
}

/** PEM blocks of a bundle, in order. */
export function pemBlocks(bundle: string): string[] {
  return bundle.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----\n?/g) ?? [];
}
