/**
 * A real Mosquitto 2.0 for tests, configured the way packages/mosquitto-agent/README.md
 * tells operators to: a mutual-TLS listener (client CA bundle = the tenants'
 * ca-chains, require_certificate, use_identity_as_username,
 * use_username_as_clientid, crlfile), the dynamic-security plugin, and a
 * loopback listener for the agent's admin user. It listens on free 127.0.0.1
 * ports, never touches the system broker, and stop() removes everything it wrote.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it loaded first
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmod, chown, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { freePort, OpensslTestCa, run } from './openssl.js';
import { AgentProcess } from './agent-process.js';
import { isRunning, tcpReachable, terminate, waitUntil } from './broker-process.js';
import { connack } from './mqtt-session.js';

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
        `pid_file ${join(directory, 'mosquitto.pid')}`,
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
      try {
        await broker.waitUntilListening();
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
    return isRunning(this.child);
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

  /** The agent's CCM_MOSQUITTO_* variables that point at this broker; `passwordFile` holds adminPassword. */
  agentEnvironment(passwordFile: string): Record<string, string> {
    return {
      CCM_MOSQUITTO_CRL_FILE: this.crlFile,
      CCM_MOSQUITTO_PID_FILE: this.pidFile,
      CCM_MOSQUITTO_MQTT_URL: this.adminUrl,
      CCM_MOSQUITTO_USERNAME: this.adminUsername,
      CCM_MOSQUITTO_PASSWORD_FILE: passwordFile,
    };
  }

  /** How many times the broker has logged a reload (SIGHUP) so far. */
  async reloads(): Promise<number> {
    return ((await this.log()).match(/Reloading config/g) ?? []).length;
  }

  /** The dynamic-security commands the broker has logged so far (`<command> <username>`), e.g. "disableClient meter-1". */
  async dynsecCommands(): Promise<string[]> {
    return [...(await this.log()).matchAll(/dynsec: \S+ \| (\w+) \| username=(\S+)/g)].map((match) => `${match[1]} ${match[2]}`);
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

  /** connectDevice, resolved once the CONNACK came. */
  connectedDevice(device: Pick<DeviceCredentials, 'certificatePem' | 'privateKeyPem'>, options: IClientOptions = {}): Promise<MqttClient> {
    return connack(this.connectDevice(device.certificatePem, device.privateKeyPem, options));
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
    await terminate(this.child, 3000);
    await rm(this.directory, { recursive: true, force: true });
  }

  private async waitUntilListening(): Promise<void> {
    await waitUntil(this.child, 'both listeners accepted and the pid file named the broker', 10_000, async () => {
      const [tls, admin, pid] = await Promise.all([tcpReachable(this.tlsPort), tcpReachable(this.adminPort), readFile(this.pidFile, 'utf8').catch(() => '')]);
      // The agent finds the broker through the pid_file Mosquitto writes (also when not daemonised).
      return tls && admin && pid.trim() === String(this.child.pid);
    }, 25);
  }
}

async function mosquittoUserIfRoot(): Promise<FileOwner | null> {
  if (process.getuid?.() !== 0) return null;
  const [uid, gid] = await Promise.all([run('id', ['-u', 'mosquitto']), run('id', ['-g', 'mosquitto'])]);
  if (uid.code !== 0 || gid.code !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The broker's own TLS certificate, from a CA made for this run only (devices trust it, nothing else does). */
async function throwawayServerCertificate(): Promise<{ caPem: string; certificatePem: string; privateKeyPem: string }> {
  const ca = await OpensslTestCa.create('test MQTT server CA');
  try {
    return { caPem: ca.caPem, ...(await ca.serverCertificate()) };
  } finally {
    await ca.cleanup();
  }
}

/** For bench/: the Mosquitto agent's process (the tests call AgentProcess.start('mosquitto-agent', …) themselves). */
export const MosquittoAgentProcess = { start: (env: Record<string, string>): Promise<AgentProcess> => AgentProcess.start('mosquitto-agent', env) };

/** A device identity as the tests hand it to MQTT clients. */
export interface DeviceCredentials {
  readonly commonName: string;
  readonly serialNumber: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

export interface CrlOptions {
  readonly entries?: ReadonlyArray<{ readonly serialNumber: string; readonly reason?: x509.X509CrlReason }>;
  readonly thisUpdate?: Date;
  readonly nextUpdate?: Date;
  readonly crlNumber?: number;
}

/**
 * An in-process CA pair (root → tenant CA) that issues device certificates
 * and CRLs, for tests of the Mosquitto-facing parts before or without ccm.
 */
export class ThrowawayPki {
  private crlNumber = 0;

  private constructor(
    readonly tenantCa: x509.X509Certificate,
    private readonly tenantKeys: CryptoKeyPair,
    readonly root: x509.X509Certificate,
  ) {}

  static async create(name = 'throwaway tenant CA'): Promise<ThrowawayPki> {
    const rootKeys = await generateP256();
    const root = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomSerial(),
        name: `CN=${name} root`,
        keys: rootKeys,
        notBefore: new Date(Date.now() - 3600_000),
        notAfter: new Date(Date.now() + 2 * 86400_000),
        signingAlgorithm: ECDSA_SHA256,
        extensions: [new x509.BasicConstraintsExtension(true, 2, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
      },
      webcrypto as never,
    );
    const tenantKeys = await generateP256();
    const tenantCa = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: `CN=${name}`,
        issuer: root.subject,
        publicKey: tenantKeys.publicKey,
        signingKey: rootKeys.privateKey,
        notBefore: new Date(Date.now() - 3600_000),
        notAfter: new Date(Date.now() + 2 * 86400_000),
        signingAlgorithm: ECDSA_SHA256,
        extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
      },
      webcrypto as never,
    );
    return new ThrowawayPki(tenantCa, tenantKeys, root);
  }

  /** cafile content: the tenant CA, then the root (as ccm's ca-chain). */
  get chainPem(): string {
    return `${this.tenantCa.toString('pem')}\n${this.root.toString('pem')}\n`;
  }

  /** A device certificate with subject CN=<commonName>; an empty commonName gives a subject without a CN (O=ccm tests). */
  async issueDevice(commonName: string): Promise<DeviceCredentials> {
    const keys = await generateP256();
    const serialNumber = randomSerial();
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber,
        subject: commonName === '' ? 'O=ccm tests' : `CN=${commonName}`,
        issuer: this.tenantCa.subject,
        publicKey: keys.publicKey,
        signingKey: this.tenantKeys.privateKey,
        notBefore: new Date(Date.now() - 3600_000),
        notAfter: new Date(Date.now() + 86400_000),
        signingAlgorithm: ECDSA_SHA256,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        ],
      },
      webcrypto as never,
    );
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as never));
    const privateKeyPem = pem('PRIVATE KEY', pkcs8);
    return { commonName, serialNumber: certificate.serialNumber.replace(/^0+/, ''), certificatePem: `${certificate.toString('pem')}\n`, privateKeyPem };
  }

  /** A CRL of the tenant CA, PEM. */
  async crl(options: CrlOptions = {}): Promise<string> {
    const thisUpdate = options.thisUpdate ?? new Date(Math.floor(Date.now() / 1000) * 1000 - 1000);
    const number = options.crlNumber ?? ++this.crlNumber;
    const crl = await x509.X509CrlGenerator.create(
      {
        issuer: this.tenantCa.subject,
        thisUpdate,
        nextUpdate: options.nextUpdate ?? new Date(thisUpdate.getTime() + 86400_000),
        signingAlgorithm: ECDSA_SHA256,
        signingKey: this.tenantKeys.privateKey,
        extensions: [new x509.Extension('2.5.29.20', false, derInteger(number))],
        entries: (options.entries ?? []).map((entry) => ({ serialNumber: entry.serialNumber, revocationDate: thisUpdate, ...(entry.reason !== undefined ? { reason: entry.reason } : {}) })),
      },
      webcrypto as never,
    );
    // RFC 7468 labels a CRL "X509 CRL"; OpenSSL (and so Mosquitto) reads nothing else.
    return pem('X509 CRL', Buffer.from(crl.rawData));
  }
}

const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' };

type CryptoKeyPair = webcrypto.CryptoKeyPair;

async function generateP256(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
}

/** 16 random bytes, positive (high bit clear), as hex. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x10;
  return bytes.toString('hex');
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

function derInteger(value: number): ArrayBuffer {
  const hex = value.toString(16);
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  const der = Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}
