/**
 * A real Mosquitto 2.0 for tests, configured the way src/mosquitto-agent/README.md
 * tells operators to: a mutual-TLS listener (client CA bundle = the tenants'
 * ca-chains, require_certificate, use_identity_as_username,
 * use_username_as_clientid, crlfile), the dynamic-security plugin, and a
 * loopback listener for the agent's admin user. It listens on free 127.0.0.1
 * ports, never touches the system broker, and stop() removes everything it wrote.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { freePort, openssl, run } from './openssl.js';

export const MOSQUITTO_BINARY = '/usr/sbin/mosquitto';
export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export interface MosquittoStartOptions {
  /** cafile: the PEM bundle client certificates must chain to (e.g. one or more tenants' ca-chain). */
  readonly clientCaPem: string;
  /** The first content of the crlfile. Mosquitto refuses to start without one (it fails closed at start, open on reload). */
  readonly crlPem: string;
  readonly adminUsername?: string;
  /** Mosquitto's `log_type`s; `all` logs every packet, which is slow with hundreds of sessions. */
  readonly logTypes?: readonly string[];
  /** Extra lines for the global section of mosquitto.conf. */
  readonly extraConfig?: readonly string[];
}

/** Owner for the files Mosquitto reads: when started as root it drops to the `mosquitto` user. */
interface FileOwner {
  readonly uid: number;
  readonly gid: number;
}

export class MosquittoUnderTest {
  private constructor(
    readonly directory: string,
    readonly tlsPort: number,
    readonly adminPort: number,
    readonly serverCaPem: string,
    readonly adminUsername: string,
    readonly adminPassword: string,
    private readonly child: ChildProcess,
    private readonly owner: FileOwner | null,
  ) {}

  static async start(options: MosquittoStartOptions): Promise<MosquittoUnderTest> {
    const directory = await mkdtemp(join(tmpdir(), 'ccm-mosquitto-'));
    try {
      const owner = await mosquittoUserIfRoot();
      const write = async (name: string, content: string, mode = 0o644): Promise<string> => {
        const path = join(directory, name);
        await writeFile(path, content, { mode });
        await chmod(path, mode);
        if (owner) await chown(path, owner.uid, owner.gid);
        return path;
      };
      await chmod(directory, 0o755);
      // The directory belongs to the broker's user: the dynsec plugin saves its JSON by write + rename beside it.
      if (owner) await chown(directory, owner.uid, owner.gid);

      const server = await throwawayServerCertificate();
      const [tlsPort, adminPort] = [await freePort(), await freePort()];
      const adminUsername = options.adminUsername ?? 'ccm-agent';
      const adminPassword = `pw-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;

      const dynsecFile = join(directory, 'dynamic-security.json');
      const init = await run('mosquitto_ctrl', ['dynsec', 'init', dynsecFile, adminUsername, adminPassword]);
      if (init.code !== 0) throw new Error(`mosquitto_ctrl dynsec init failed: ${init.stderr}${init.stdout}`);
      await chmod(dynsecFile, 0o600);
      if (owner) await chown(dynsecFile, owner.uid, owner.gid);

      const cafile = await write('clients-ca.pem', options.clientCaPem);
      const certfile = await write('server.pem', server.certificatePem);
      const keyfile = await write('server.key', server.privateKeyPem, 0o600);
      const crlfile = await write('crl.pem', options.crlPem);
      const logfile = join(directory, 'mosquitto.log');
      const config = [
        'per_listener_settings false',
        'persistence false',
        `log_dest file ${logfile}`,
        ...(options.logTypes ?? ['error', 'warning', 'notice', 'information']).map((type) => `log_type ${type}`),
        'log_timestamp_format %Y-%m-%dT%H:%M:%S',
        'connection_messages true',
        `plugin ${DYNSEC_PLUGIN}`,
        `plugin_opt_config_file ${dynsecFile}`,
        ...(options.extraConfig ?? []),
        '',
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${cafile}`,
        `certfile ${certfile}`,
        `keyfile ${keyfile}`,
        'require_certificate true',
        'use_identity_as_username true',
        'use_username_as_clientid true',
        `crlfile ${crlfile}`,
        '',
        `listener ${adminPort} 127.0.0.1`,
        '',
      ].join('\n');
      const configFile = await write('mosquitto.conf', config);

      const child = spawn(MOSQUITTO_BINARY, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const broker = new MosquittoUnderTest(directory, tlsPort, adminPort, server.caPem, adminUsername, adminPassword, child, owner);
      // Mosquitto writes pid_file only when it daemonises; the agent reads the pid from a file, so write one.
      await write('mosquitto.pid', `${child.pid}\n`);
      try {
        await broker.waitUntilListening(output);
      } catch (error) {
        const log = await readFile(logfile, 'utf8').catch(() => '');
        await broker.stop();
        throw new Error(`Mosquitto did not start: ${(error as Error).message}\n${output}\n${log}`);
      }
      return broker;
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

  get pidFile(): string {
    return join(this.directory, 'mosquitto.pid');
  }

  get crlFile(): string {
    return join(this.directory, 'crl.pem');
  }

  get logFile(): string {
    return join(this.directory, 'mosquitto.log');
  }

  get tlsUrl(): string {
    return `mqtts://127.0.0.1:${this.tlsPort}`;
  }

  get adminUrl(): string {
    return `mqtt://127.0.0.1:${this.adminPort}`;
  }

  /** Writes the crlfile the way an operator's tool would: temp file + rename, readable by the broker. Does not signal. */
  async replaceCrl(pem: string): Promise<void> {
    const temporary = join(this.directory, `.crl.pem.${process.pid}.tmp`);
    await writeFile(temporary, pem, { mode: 0o644 });
    if (this.owner) await chown(temporary, this.owner.uid, this.owner.gid);
    await rename(temporary, this.crlFile);
  }

  reload(): void {
    process.kill(this.pid, 'SIGHUP');
  }

  log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** An MQTT client over mutual TLS with a device certificate; no automatic reconnect unless asked. */
  connectDevice(certificatePem: string, privateKeyPem: string, options: IClientOptions = {}): MqttClient {
    return mqtt.connect(this.tlsUrl, {
      ca: this.serverCaPem,
      cert: certificatePem,
      key: privateKeyPem,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      protocolVersion: 4,
      ...options,
    });
  }

  /** One connection attempt: 'connected' (then closed again) or 'refused' (TLS or MQTT level). */
  async tryConnect(certificatePem: string, privateKeyPem: string, timeoutMs = 5000): Promise<'connected' | 'refused'> {
    const client = this.connectDevice(certificatePem, privateKeyPem, { connectTimeout: timeoutMs });
    const outcome = await new Promise<'connected' | 'refused'>((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('error', () => resolve('refused'));
      client.once('close', () => resolve('refused'));
    });
    client.end(true);
    return outcome;
  }

  /** An MQTT client for the admin listener (the dynsec admin user). */
  connectAdmin(options: IClientOptions = {}): MqttClient {
    return mqtt.connect(this.adminUrl, { username: this.adminUsername, password: this.adminPassword, reconnectPeriod: 0, ...options });
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

  private async waitUntilListening(initialOutput: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!this.running) throw new Error(`exited with ${this.child.exitCode ?? this.child.signalCode} ${initialOutput}`);
      const [tls, admin] = await Promise.all([tcpReachable(this.tlsPort), tcpReachable(this.adminPort)]);
      if (tls && admin) return;
      if (Date.now() > deadline) throw new Error('ports not listening after 10 s');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

function tcpReachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function mosquittoUserIfRoot(): Promise<FileOwner | null> {
  if (process.getuid?.() !== 0) return null;
  const [uid, gid] = await Promise.all([run('id', ['-u', 'mosquitto']), run('id', ['-g', 'mosquitto'])]);
  if (uid.code !== 0 || gid.code !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The broker's own TLS certificate, from a CA made for this run only (devices trust it, nothing else does). */
async function throwawayServerCertificate(): Promise<{ caPem: string; certificatePem: string; privateKeyPem: string }> {
  const directory = await mkdtemp(join(tmpdir(), 'ccm-mosquitto-ca-'));
  try {
    const path = (name: string) => join(directory, name);
    const key = async (name: string) => {
      const generated = await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path(name)]);
      if (generated.code !== 0) throw new Error(generated.stderr);
    };
    await key('ca.key');
    await key('server.key');
    const steps: string[][] = [
      ['req', '-x509', '-new', '-key', path('ca.key'), '-subj', '/CN=test MQTT server CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-out', path('ca.pem')],
      ['req', '-new', '-key', path('server.key'), '-subj', '/CN=127.0.0.1', '-out', path('server.csr')],
    ];
    for (const step of steps) {
      const result = await openssl(step);
      if (result.code !== 0) throw new Error(result.stderr);
    }
    await writeFile(path('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    const signed = await openssl(['x509', '-req', '-in', path('server.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', path('server.ext'), '-out', path('server.pem')]);
    if (signed.code !== 0) throw new Error(signed.stderr);
    const [caPem, certificatePem, privateKeyPem] = await Promise.all([readFile(path('ca.pem'), 'utf8'), readFile(path('server.pem'), 'utf8'), readFile(path('server.key'), 'utf8')]);
    return { caPem, certificatePem, privateKeyPem };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
