/**
 * Runs the real openssl command line on files in a temp directory: the
 * external client that judges ccm's certificates in the tests; and
 * OpensslTestCa, the throwaway CA the broker harnesses take their server
 * certificates (and test device certificates) from.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

/** A certificate and its key, as PEM. */
export interface IssuedCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** A throwaway CA made with openssl for one test file (files in a Scratch): server certificates for 127.0.0.1/localhost and device certificates of any subject. */
export class OpensslTestCa {
  private constructor(
    private readonly scratch: Scratch,
    readonly caPem: string,
  ) {}

  /** A self-signed CA "CN=<commonName>" (with O=<organization> before it when given). */
  static async create(commonName = 'ccm test CA', options: { organization?: string } = {}): Promise<OpensslTestCa> {
    const scratch = await Scratch.create();
    try {
      await check(openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', scratch.path('ca.key')]));
      const subject = `${options.organization === undefined ? '' : `/O=${options.organization}`}/CN=${commonName}`;
      await check(openssl(['req', '-x509', '-new', '-key', scratch.path('ca.key'), '-subj', subject, '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', scratch.path('ca.pem')]));
      return new OpensslTestCa(scratch, await readFile(scratch.path('ca.pem'), 'utf8'));
    } catch (error) {
      await scratch.cleanup();
      throw error;
    }
  }

  serverCertificate(): Promise<IssuedCertificate> {
    return this.issue('/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n', []);
  }

  /**
   * A client certificate; `subject` in openssl's -subj form, most general
   * RDN first ("/O=Acme/CN=sensor-1"), UTF-8, '+' between the attributes
   * of a multi-valued RDN when `multiValuedRdns` is set.
   */
  deviceCertificate(subject: string, options: { multiValuedRdns?: boolean; extensions?: string } = {}): Promise<IssuedCertificate> {
    return this.issue(subject, `extendedKeyUsage=clientAuth\n${options.extensions ?? ''}`, ['-utf8', ...(options.multiValuedRdns ? ['-multivalue-rdn'] : [])]);
  }

  async cleanup(): Promise<void> {
    await this.scratch.cleanup();
  }

  private async issue(subject: string, extensions: string, requestOptions: readonly string[]): Promise<IssuedCertificate> {
    const name = `cert-${randomBytes(6).toString('hex')}`;
    const key = this.scratch.path(`${name}.key`);
    await check(openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]), subject);
    await check(openssl(['req', '-new', '-key', key, ...requestOptions, '-subj', subject, '-out', this.scratch.path(`${name}.csr`)]), subject);
    const extensionFile = await this.scratch.write(`${name}.ext`, extensions);
    // A serial of its own rather than -CAcreateserial: certificates issued at once (Promise.all) would race on the one ca.srl.
    const serial = `0x${(randomBytes(8).readBigUInt64BE() >> 1n).toString(16)}`;
    await check(openssl(['x509', '-req', '-in', this.scratch.path(`${name}.csr`), '-CA', this.scratch.path('ca.pem'), '-CAkey', this.scratch.path('ca.key'), '-set_serial', serial, '-days', '2', '-extfile', extensionFile, '-out', this.scratch.path(`${name}.pem`)]), subject);
    return { certificatePem: await readFile(this.scratch.path(`${name}.pem`), 'utf8'), privateKeyPem: await readFile(key, 'utf8') };
  }
}

async function check(pending: Promise<CommandResult>, what?: string): Promise<CommandResult> {
  const result = await pending;
  if (result.code !== 0) throw new Error(`openssl failed (${result.code})${what === undefined ? '' : ` for ${what}`}: ${result.stderr}`);
  return result;
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
