/**
 * A real nats-server (2.9 from Debian, /usr/sbin/nats-server) for tests,
 * configured the way packages/nats-agent/README.md tells operators to: one
 * mutual-TLS client listener with verify_and_map and the devices' trust
 * bundle, the agent's users file included in the authorization block (or
 * in an account's block), the monitoring port and a pid file. It listens
 * on 127.0.0.1 ports of 25700–25799, never touches the system server on
 * 4222, and stop() kills it and removes everything it wrote.
 *
 * NatsTestPki makes the certificates with two OpensslTestCa: a server CA
 * and a server certificate for 127.0.0.1, a device CA, and device certificates
 * of any subject (multi-valued RDNs included), each with the subject text
 * ccm would print for it.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it loaded first
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { renderUsersFile } from '@ccm/nats-agent';
import { decodeName, formatDistinguishedName } from '../../src/codec/distinguished-name.js';
import { OpensslTestCa } from './openssl.js';
import { AgentProcess } from './agent-process.js';
import { isRunning, portBindable, terminate, waitUntil } from './broker-process.js';

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
    return isRunning(this.child);
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
    await terminate(this.child, 3000);
    await rm(this.directory, { recursive: true, force: true });
  }

  private async waitUntilReady(): Promise<void> {
    await waitUntil(this.child, 'the monitoring port answered and the pid file named the server', 10_000, async () => {
      const pid = await readFile(this.pidFile, 'utf8').catch(() => '');
      const ready = await fetch(`${this.monitorUrl}/varz`).then(
        (response) => response.ok,
        () => false,
      );
      return ready && pid.trim() === String(this.child.pid);
    }, 20);
  }
}

/** A free 127.0.0.1 port of this suite's range, other than `taken`. */
export async function portInRange(taken: readonly number[] = []): Promise<number> {
  const span = PORT_RANGE.last - PORT_RANGE.first + 1;
  const offset = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = PORT_RANGE.first + ((offset + i) % span);
    if (taken.includes(port)) continue;
    if (await portBindable(port)) return port;
  }
  throw new Error(`no free port in ${PORT_RANGE.first}-${PORT_RANGE.last}`);
}

export interface DeviceCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** The subject as ccm prints it (formatDistinguishedName of the decoded subject: RFC 4514, multi-valued RDNs flattened). */
  readonly subject: string;
}

/** Two throwaway openssl CAs: the server CA with nats-server's certificate, and the device CA with its devices. */
export class NatsTestPki {
  private constructor(
    private readonly serverCa: OpensslTestCa,
    private readonly deviceCa: OpensslTestCa,
    readonly serverCertificatePem: string,
    readonly serverKeyPem: string,
  ) {}

  static async create(): Promise<NatsTestPki> {
    const [serverCa, deviceCa] = await Promise.all([OpensslTestCa.create('test NATS server CA'), OpensslTestCa.create('test device CA', { organization: 'Test Tenant' })]);
    try {
      const server = await serverCa.serverCertificate();
      return new NatsTestPki(serverCa, deviceCa, server.certificatePem, server.privateKeyPem);
    } catch (error) {
      await Promise.all([serverCa.cleanup(), deviceCa.cleanup()]);
      throw error;
    }
  }

  get serverCaPem(): string {
    return this.serverCa.caPem;
  }

  get deviceCaPem(): string {
    return this.deviceCa.caPem;
  }

  /**
   * A device certificate for an openssl -subj string ("/O=Acme/CN=sensor-1",
   * in encoding order; "+" joins a multi-valued RDN when `multiValued`), with
   * `subjectAltName` in openssl's form ("URI:urn:uuid:…,DNS:…") when given.
   */
  async issue(subj: string, options: { multiValued?: boolean; subjectAltName?: string } = {}): Promise<DeviceCertificate> {
    const extensions = `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n${options.subjectAltName ? `subjectAltName=${options.subjectAltName}\n` : ''}`;
    const issued = await this.deviceCa.deviceCertificate(subj, { multiValuedRdns: options.multiValued === true, extensions });
    const subject = formatDistinguishedName(decodeName(new Uint8Array(new x509.X509Certificate(issued.certificatePem).subjectName.toArrayBuffer())));
    return { ...issued, subject };
  }

  async cleanup(): Promise<void> {
    await Promise.all([this.serverCa.cleanup(), this.deviceCa.cleanup()]);
  }
}

/** For bench/: the NATS agent's process (the tests call AgentProcess.start('nats-agent', …) themselves). */
export const NatsAgentProcess = { start: (env: Record<string, string>): Promise<AgentProcess> => AgentProcess.start('nats-agent', env) };
