/**
 * Runs the real openssl command line on files in a temp directory: the
 * external client that judges ccm's certificates in the tests.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
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

/**
 * `openssl s_server` requiring a client certificate that chains to `trustAnchorPem`
 * alone (-partial_chain: the anchor need not be self-signed), the way a broker
 * trusts one tenant's root. Its own certificate comes from a throwaway CA.
 */
export class MutualTlsEndpoint {
  private constructor(
    readonly url: string,
    readonly serverCaPath: string,
    private readonly child: ChildProcess,
    private readonly scratch: Scratch,
  ) {}

  static async start(trustAnchorPem: string): Promise<MutualTlsEndpoint> {
    const scratch = await Scratch.create();
    const caKey = await scratch.write('server-ca.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const caPath = await scratch.write('server-ca.pem', (await openssl(['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=test server CA', '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE'])).stdout);
    const serverKey = await scratch.write('server.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    const csrPath = await scratch.write('server.csr', (await openssl(['req', '-new', '-key', serverKey, '-subj', '/CN=127.0.0.1'])).stdout);
    const ext = await scratch.write('server.ext', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    const serverCert = await scratch.write('server.pem', (await openssl(['x509', '-req', '-in', csrPath, '-CA', caPath, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-extfile', ext])).stdout);
    const anchor = await scratch.write('trust-anchor.pem', trustAnchorPem);
    const port = await freePort();
    const child = spawn('openssl', ['s_server', '-www', '-accept', `127.0.0.1:${port}`, '-cert', serverCert, '-key', serverKey, '-CAfile', anchor, '-partial_chain', '-Verify', '4', '-verify_return_error'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('ACCEPT')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`openssl s_server exited with ${code}: ${out}`)));
    });
    child.stdout!.resume();
    child.stderr!.resume();
    return new MutualTlsEndpoint(`https://127.0.0.1:${port}/`, caPath, child, scratch);
  }

  /** curl with a client certificate (and its chain) and key; resolves curl's exit code and output. */
  async curl(certificateAndChainPem: string, privateKeyPem: string): Promise<CommandResult> {
    const name = `client-${Math.random().toString(36).slice(2)}`;
    const cert = await this.scratch.write(`${name}.pem`, certificateAndChainPem);
    const key = await this.scratch.write(`${name}.key`, privateKeyPem);
    return run('curl', ['-sS', '--max-time', '10', '--cacert', this.serverCaPath, '--cert', cert, '--key', key, this.url]);
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill();
      await exited;
    }
    await this.scratch.cleanup();
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
