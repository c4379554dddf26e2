/**
 * Servers under load run as their own processes, so the load generator and
 * the orchestration never share their event loop or their CPU accounting:
 * ccm as `node dist/src/main.js` with an installation's environment, a peer
 * (cfssl) as its binary. CPU is read from /proc for the whole process tree
 * (ccm's cluster workers included).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CCM_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'main.js');
const CLOCK_TICKS_PER_SECOND = 100;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Characters of output kept (the newest): enough for a start-up at CCM_LOG_LEVEL=log with several workers, one JSON line each. */
const OUTPUT_KEPT = 200_000;

export class ServerProcess {
  private output = '';

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stdout!.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-OUTPUT_KEPT)));
    child.stderr!.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-OUTPUT_KEPT)));
  }

  /** Starts `command args` and resolves once `url` answers HTTP at all, or rejects with the process's output. */
  static async start(name: string, command: string, args: readonly string[], env: Record<string, string>, url: string, readyPath: string): Promise<ServerProcess> {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new ServerProcess(name, child, url);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${server.output}`);
      try {
        await fetch(`${url}${readyPath}`);
        return server;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    child.kill('SIGKILL');
    throw new Error(`${name} did not answer within 60 s:\n${server.output}`);
  }

  /** ccm's own entry point with `env` (an installation's environment); CCM_PORT is chosen here. */
  static async ccm(env: Record<string, string>): Promise<ServerProcess> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    return ServerProcess.start('ccm', process.execPath, [CCM_MAIN], { ...env, CCM_PORT: String(port), CCM_PUBLIC_URL: url }, url, '/v1/platform-ca');
  }

  get pid(): number {
    return this.child.pid!;
  }

  get log(): string {
    return this.output;
  }

  /** Process ids of every descendant still alive (ccm's workers), children before grandchildren. */
  descendants(): number[] {
    return processTree(this.pid).slice(1);
  }

  /** User + system CPU seconds used so far by one process of the tree. */
  static cpuSecondsOf(pid: number): number {
    return cpuTicksOf(pid) / CLOCK_TICKS_PER_SECOND;
  }

  /** Resolves with the exit code once the process has exited; null when a signal ended it. */
  exited(): Promise<number | null> {
    if (this.hasExited) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** A process a signal ended has no exit code, only a signal code. */
  private get hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  signal(name: NodeJS.Signals): void {
    this.child.kill(name);
  }

  /** User + system CPU seconds used so far by this process and every descendant still alive. */
  cpuSeconds(): number {
    let ticks = 0;
    for (const pid of processTree(this.pid)) ticks += cpuTicksOf(pid);
    return ticks / CLOCK_TICKS_PER_SECOND;
  }

  /** Resident set size of the process tree, in MiB. */
  rssMiB(): number {
    let kib = 0;
    for (const pid of processTree(this.pid)) {
      const match = /VmRSS:\s+(\d+) kB/.exec(safeRead(`/proc/${pid}/status`));
      if (match) kib += Number(match[1]);
    }
    return kib / 1024;
  }

  async stop(): Promise<void> {
    if (this.hasExited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** /proc/<pid>/stat: the fields after the parenthesised command; utime and stime are the 14th and 15th fields. */
function statFields(pid: number): string[] {
  const stat = safeRead(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function cpuTicksOf(pid: number): number {
  const fields = statFields(pid);
  return fields.length > 12 ? Number(fields[11]) + Number(fields[12]) : 0;
}

function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields.length > 1) parents.set(Number(entry), Number(fields[1]));
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, parent] of parents) if (parent === tree[i]) tree.push(pid);
  return tree;
}
