/**
 * A real nats-server (2.9 from Debian, /usr/sbin/nats-server) for tests,
 * configured the way packages/nats-agent/README.md tells operators to: one
 * mutual-TLS client listener with verify_and_map and the devices' trust
 * bundle, the agent's users file included in the authorization block (or
 * in an account's block), the monitoring port and a pid file. It listens
 * on 127.0.0.1 ports of 25700–25799, never touches the system server on
 * 4222, and stop() kills it and removes everything it wrote.
 *
 * NatsTestPki makes the certificates with openssl: a server CA and a
 * server certificate for 127.0.0.1, a device CA, and device certificates
 * of any subject (multi-valued RDNs included), each with the subject text
 * ccm would print for it. NatsAgentProcess runs the built agent bin.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it loaded first
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { renderUsersFile } from '@ccm/nats-agent';
import { decodeName, formatDistinguishedName } from '../../src/issuance/distinguished-name.js';
import { openssl } from './openssl.js';

export const NATS_SERVER_BINARY = '/usr/sbin/nats-server';
/** This suite's ports (the task's range); the system server's 4222 is outside it. */
const PORT_RANGE = { first: 25700, last: 25799 } as const;

export interface NatsStartOptions {
  /** nats-server's own certificate (PEM) and key. */
  readonly serverCertificatePem: string;
  readonly serverKeyPem: string;
  /** ca_file: the CA bundle device certificates must chain to (ccm: each served tenant's GET /v1/tenants/{id}/ca-chain). */
  readonly trustBundlePem: string;
  /** What devices trust nats-server's certificate by. */
  readonly clientTrustPem: string;
  /** First content of the agent's users file; by default the agent's own list with no device (not `users = []`, which admits every certificate). */
  readonly usersFileContent?: string;
  /** Where the include of the users file goes: the authorization block (global account), or an account DEVICES. */
  readonly layout?: 'authorization' | 'account';
  /** -DV: log every authentication decision (which user a certificate mapped to). */
  readonly debug?: boolean;
}

export type ConnectOutcome = { readonly outcome: 'connected' } | { readonly outcome: 'refused'; readonly code: string; readonly message: string };

export class NatsUnderTest {
  private constructor(
    readonly directory: string,
    readonly clientPort: number,
    readonly monitorPort: number,
    readonly clientTrustPem: string,
    private readonly child: ChildProcess,
    private output: { text: string },
  ) {}

  static async start(options: NatsStartOptions): Promise<NatsUnderTest> {
    const directory = await mkdtemp(join(tmpdir(), 'ccm-nats-'));
    try {
      const path = (name: string) => join(directory, name);
      await writeFile(path('server.pem'), options.serverCertificatePem);
      await writeFile(path('server.key'), options.serverKeyPem, { mode: 0o600 });
      await writeFile(path('devices-ca.pem'), options.trustBundlePem);
      await writeFile(path('ccm-users.conf'), options.usersFileContent ?? renderUsersFile([], null));
      const clientPort = await portInRange();
      const monitorPort = await portInRange([clientPort]);
      // Relative: nats-server 2.9 joins an include path onto the including file's directory, even an absolute one.
      const include = 'include "ccm-users.conf"';
      const config = [
        `listen: 127.0.0.1:${clientPort}`,
        `http: 127.0.0.1:${monitorPort}`,
        `pid_file: "${path('nats.pid')}"`,
        'tls {',
        `  cert_file: "${path('server.pem')}"`,
        `  key_file: "${path('server.key')}"`,
        `  ca_file: "${path('devices-ca.pem')}"`,
        '  verify_and_map: true',
        '}',
        ...(options.layout === 'account' ? ['accounts {', `  DEVICES { ${include} }`, '}'] : ['authorization {', `  ${include}`, '}']),
        '',
      ].join('\n');
      await writeFile(path('nats.conf'), config);
      const child = spawn(NATS_SERVER_BINARY, ['-c', path('nats.conf'), ...(options.debug ? ['-DV'] : []), '-l', path('nats.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
      const output = { text: '' };
      child.stdout!.on('data', (chunk: Buffer) => (output.text = (output.text + chunk.toString()).slice(-100_000)));
      child.stderr!.on('data', (chunk: Buffer) => (output.text = (output.text + chunk.toString()).slice(-100_000)));
      const server = new NatsUnderTest(directory, clientPort, monitorPort, options.clientTrustPem, child, output);
      try {
        await server.waitUntilReady();
      } catch (error) {
        const log = await server.log();
        await server.stop();
        throw new Error(`nats-server did not start: ${(error as Error).message}\n${output.text}\n${log}`);
      }
      return server;
    } catch (error) {
      await rm(directory, { recursive: true, force: true });
      throw error;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get usersFile(): string {
    return join(this.directory, 'ccm-users.conf');
  }

  get pidFile(): string {
    return join(this.directory, 'nats.pid');
  }

  get monitorUrl(): string {
    return `http://127.0.0.1:${this.monitorPort}`;
  }

  get url(): string {
    return `tls://127.0.0.1:${this.clientPort}`;
  }

  /** The agent's CCM_NATS_* variables that point at this server. */
  agentEnvironment(): Record<string, string> {
    return { CCM_NATS_USERS_FILE: this.usersFile, CCM_NATS_PID_FILE: this.pidFile, CCM_NATS_MONITOR_URL: this.monitorUrl };
  }

  log(): Promise<string> {
    return readFile(join(this.directory, 'nats.log'), 'utf8').catch(() => '');
  }

  async varz(): Promise<{ version: string; config_load_time: string; server_id: string; connections: number }> {
    return (await fetch(`${this.monitorUrl}/varz`)).json() as never;
  }

  async connz(): Promise<Array<{ cid: number; authorized_user?: string; account?: string }>> {
    const page = (await (await fetch(`${this.monitorUrl}/connz?auth=true&limit=4096`)).json()) as { connections: Array<{ cid: number; authorized_user?: string }> };
    return page.connections;
  }

  /**
   * A NATS client over mutual TLS with a device certificate; no reconnects.
   * nats.js upgrades to TLS without SNI, so Node checks the server's
   * certificate against "localhost": NatsTestPki puts it in the SAN.
   */
  connectDevice(device: Pick<DeviceCertificate, 'certificatePem' | 'privateKeyPem'>, options: ConnectionOptions = {}): Promise<NatsConnection> {
    return connect({ servers: this.url, tls: { ca: this.clientTrustPem, cert: device.certificatePem, key: device.privateKeyPem }, reconnect: false, timeout: 5000, ...options });
  }

  /** One connection attempt, closed again at once when it succeeds. */
  async tryConnect(device: Pick<DeviceCertificate, 'certificatePem' | 'privateKeyPem'>): Promise<ConnectOutcome> {
    try {
      const connection = await this.connectDevice(device);
      await connection.flush();
      await connection.close();
      return { outcome: 'connected' };
    } catch (error) {
      return { outcome: 'refused', code: String((error as { code?: unknown }).code ?? ''), message: (error as Error).message };
    }
  }

  async stop(): Promise<void> {
    if (this.running) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.directory, { recursive: true, force: true });
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!this.running) throw new Error(`exited with ${this.child.exitCode ?? this.child.signalCode}`);
      const pid = await readFile(this.pidFile, 'utf8').catch(() => '');
      const ready = await fetch(`${this.monitorUrl}/varz`).then(
        (response) => response.ok,
        () => false,
      );
      if (ready && pid.trim() === String(this.child.pid)) return;
      if (Date.now() > deadline) throw new Error('not ready after 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** A free 127.0.0.1 port of this suite's range, other than `taken`. */
export async function portInRange(taken: readonly number[] = []): Promise<number> {
  const span = PORT_RANGE.last - PORT_RANGE.first + 1;
  const offset = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = PORT_RANGE.first + ((offset + i) % span);
    if (taken.includes(port)) continue;
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${PORT_RANGE.first}-${PORT_RANGE.last}`);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface DeviceCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** The subject as ccm prints it (formatDistinguishedName of the decoded subject: RFC 4514, multi-valued RDNs flattened). */
  readonly subject: string;
}

/** Certificates made by openssl in a temp directory: a server CA and server certificate, a device CA and its devices. */
export class NatsTestPki {
  private serial = 1;

  private constructor(
    private readonly directory: string,
    readonly serverCaPem: string,
    readonly serverCertificatePem: string,
    readonly serverKeyPem: string,
    readonly deviceCaPem: string,
  ) {}

  static async create(): Promise<NatsTestPki> {
    const directory = await mkdtemp(join(tmpdir(), 'ccm-nats-pki-'));
    try {
      const path = (name: string) => join(directory, name);
      const step = async (args: string[]) => {
        const result = await openssl(args);
        if (result.code !== 0) throw new Error(`openssl ${args.slice(0, 2).join(' ')}: ${result.stderr}`);
      };
      for (const key of ['server-ca.key', 'server.key', 'device-ca.key']) await step(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path(key)]);
      await step(['req', '-x509', '-new', '-key', path('server-ca.key'), '-subj', '/CN=test NATS server CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-out', path('server-ca.pem')]);
      await step(['req', '-x509', '-new', '-key', path('device-ca.key'), '-subj', '/O=Test Tenant/CN=test device CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', path('device-ca.pem')]);
      await step(['req', '-new', '-key', path('server.key'), '-subj', '/CN=127.0.0.1', '-out', path('server.csr')]);
      await writeFile(path('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
      await step(['x509', '-req', '-in', path('server.csr'), '-CA', path('server-ca.pem'), '-CAkey', path('server-ca.key'), '-set_serial', '1', '-days', '2', '-extfile', path('server.ext'), '-out', path('server.pem')]);
      await writeFile(path('device.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
      const read = (name: string) => readFile(path(name), 'utf8');
      return new NatsTestPki(directory, await read('server-ca.pem'), await read('server.pem'), await read('server.key'), await read('device-ca.pem'));
    } catch (error) {
      await rm(directory, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * A device certificate for an openssl -subj string ("/O=Acme/CN=sensor-1",
   * in encoding order; "+" joins a multi-valued RDN when `multiValued`).
   */
  async issue(subj: string, options: { multiValued?: boolean } = {}): Promise<DeviceCertificate> {
    const name = `device-${this.serial++}`;
    const path = (suffix: string) => join(this.directory, `${name}.${suffix}`);
    const step = async (args: string[]) => {
      const result = await openssl(args);
      if (result.code !== 0) throw new Error(`openssl ${args.slice(0, 2).join(' ')} (${subj}): ${result.stderr}`);
    };
    await step(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path('key')]);
    await step(['req', '-new', '-utf8', ...(options.multiValued ? ['-multivalue-rdn'] : []), '-key', path('key'), '-subj', subj, '-out', path('csr')]);
    await step(['x509', '-req', '-in', path('csr'), '-CA', join(this.directory, 'device-ca.pem'), '-CAkey', join(this.directory, 'device-ca.key'), '-set_serial', String(1000 + this.serial), '-days', '1', '-extfile', join(this.directory, 'device.ext'), '-out', path('pem')]);
    const [certificatePem, privateKeyPem] = await Promise.all([readFile(path('pem'), 'utf8'), readFile(path('key'), 'utf8')]);
    const subject = formatDistinguishedName(decodeName(new Uint8Array(new x509.X509Certificate(certificatePem).subjectName.toArrayBuffer())));
    return { certificatePem, privateKeyPem, subject };
  }

  async cleanup(): Promise<void> {
    await rm(this.directory, { recursive: true, force: true });
  }
}

/** The agent as operators run it: `node packages/nats-agent/dist/src/main.js` with its environment, JSON log lines collected. */
export class NatsAgentProcess {
  readonly lines: Array<Record<string, unknown>> = [];
  private constructor(private readonly child: ChildProcess) {}

  static async start(env: Record<string, string>, options: { waitForRunning?: boolean } = {}): Promise<NatsAgentProcess> {
    const main = new URL('../../../packages/nats-agent/dist/src/main.js', import.meta.url);
    const child = spawn(process.execPath, [main.pathname], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const agent = new NatsAgentProcess(child);
    let buffered = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          agent.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          agent.lines.push({ msg: line });
        }
      }
    });
    if (options.waitForRunning !== false) await agent.waitFor((line) => line['msg'] === 'nats agent running', 30_000);
    return agent;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  waitFor(predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.find(predicate);
        if (found) return resolve(found);
        if (!this.running) return reject(new Error(`agent exited with ${this.child.exitCode ?? this.child.signalCode}: ${JSON.stringify(this.lines.slice(-5))}`));
        if (Date.now() > deadline) return reject(new Error(`agent log never showed it: ${JSON.stringify(this.lines.slice(-5))}`));
        setTimeout(check, 20);
      };
      check();
    });
  }

  /** SIGKILL: no chance to finish anything (the crash the agent must recover from). */
  async kill(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<number | null> {
    if (!this.running) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}
