/**
 * HTTP load from autocannon in a child process (so its CPU is not counted
 * as the server's, and its event loop is not the server's), with the server
 * process tree's CPU time read over the same interval.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerProcess } from '../../test/support/server-process.js';

const AUTOCANNON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'node_modules', 'autocannon', 'autocannon.js');

export interface LoadRequest {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly connections: number;
  readonly seconds: number;
}

export interface LoadFigures {
  readonly requests: number;
  /** Answers per second that had a 2xx status. */
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU cores the server used on average (CPU seconds / wall seconds). */
  readonly cpu: number;
  readonly non2xx: number;
  readonly errors: number;
}

interface AutocannonResult {
  readonly requests: { readonly total: number };
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly duration: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly '2xx': number;
}

export async function runLoad(server: ServerProcess, request: LoadRequest): Promise<LoadFigures> {
  const args = [AUTOCANNON, '-j', '-c', String(request.connections), '-d', String(request.seconds), '-m', request.method ?? 'GET'];
  for (const [name, value] of Object.entries(request.headers ?? {})) args.push('-H', `${name}=${value}`);
  if (request.body !== undefined) args.push('-b', request.body);
  args.push(request.url);
  const cpuBefore = server.cpuSeconds();
  const started = performance.now();
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`autocannon exited with ${code}: ${stderr}`))));
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const cpu = (server.cpuSeconds() - cpuBefore) / wallSeconds;
  const result = JSON.parse(output) as AutocannonResult;
  return {
    requests: result.requests.total,
    rps: Math.round(result['2xx'] / result.duration),
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpu: Number(cpu.toFixed(2)),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}
