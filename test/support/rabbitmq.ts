/**
 * A real RabbitMQ 3.10 node for tests, configured the way
 * packages/rabbitmq-agent/README.md tells operators to: rabbitmq_mqtt with a
 * mutual-TLS listener (verify_peer, fail_if_no_peer_cert, the tenants'
 * trust bundle), certificate login by distinguished name, anonymous login
 * off; rabbitmq_management on loopback; the agent's management user with
 * the least rights that work (tag administrator, no vhost permissions).
 *
 * The node is the test's own: its own node name, ports from 25600–25699,
 * Erlang cookie, data, logs, plugin list and configuration files in a temp
 * directory, so the system node (rabbit@localhost on 5672) is never touched.
 * It runs from the Debian package's files alone (as root too) and stop()
 * removes everything it wrote.
 *
 * Start-up, measured on a 2-core machine: ~6 s. Most of a fresh node's
 * start is fixed (Erlang boot, loading every module for its boot steps);
 * the MQTT plugin would add 3.3–6 s more waiting for cluster peers before
 * electing its client-id tracker (mqtt_node:start/0 sleeps 300 ms 11–20
 * times on a node with no Raft data). The harness starts the node with the
 * management plugin only, starts that Raft member itself (the same call
 * mqtt_node makes), then enables rabbitmq_mqtt, which finds it and skips
 * the wait.
 *
 * The test PKI is openssl.ts's OpensslTestCa (re-exported here).
 */
import 'reflect-metadata'; // @peculiar/x509 needs it loaded first
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { run, type CommandResult, type IssuedCertificate } from './openssl.js';
import { AgentProcess } from './agent-process.js';
import { isRunning, portBindable, tcpReachable, waitUntil } from './broker-process.js';
import { connack } from './mqtt-session.js';

const RABBITMQ_LIB = '/usr/lib/rabbitmq/lib';

/** The applications a node with rabbitmq_mqtt and rabbitmq_management loads (3.10.8): the plugin directory holds only these, so fewer modules are scanned at boot. */
const NEEDED_APPLICATIONS = [
  'amqp10_common', 'amqp_client', 'aten', 'cowboy', 'cowlib', 'credentials_obfuscation', 'cuttlefish', 'enough', 'gen_batch_server', 'jsx',
  'observer_cli', 'osiris', 'ra', 'rabbit', 'rabbit_common', 'rabbitmq_management', 'rabbitmq_management_agent', 'rabbitmq_mqtt', 'rabbitmq_prelaunch',
  'rabbitmq_web_dispatch', 'ranch', 'recon', 'seshat', 'stdout_formatter', 'syslog', 'sysmon_handler', 'systemd',
];

/** The ports a node takes, one block of PORT_BLOCK from 25600. */
const PORT_RANGE_START = 25600;
const PORT_BLOCKS = 12;
const PORT_BLOCK = 8;

export interface RabbitMqStartOptions {
  readonly serverCertificatePem: string;
  readonly serverKeyPem: string;
  /** ssl_options.cacertfile: the CA certificates client certificates must chain to (the tenants' ca-chain). */
  readonly trustBundlePem: string;
  /** The CA that issued serverCertificatePem, for the MQTT clients connectDevice makes. */
  readonly serverCaPem: string;
  /** Extra rabbitmq.conf lines. */
  readonly extraConfig?: readonly string[];
  /** advanced.config content (Erlang terms), e.g. ssl_options with crl_check. Default: none. */
  readonly advancedConfig?: string;
}

export interface RabbitMqPorts {
  readonly mqttTls: number;
  readonly management: number;
  readonly distribution: number;
  /** rabbitmqctl's own distribution ports (min, max). */
  readonly cli: readonly [number, number];
  /** One more free port of the block, for the agent's health endpoint. */
  readonly spare: number;
}

export class RabbitMqUnderTest {
  /** The management user the agent uses: tag administrator, no permissions on any vhost. */
  readonly agentUsername = 'ccm-agent';
  private readonly exited: Promise<void>;

  private constructor(
    readonly directory: string,
    readonly nodeName: string,
    readonly ports: RabbitMqPorts,
    readonly serverCaPem: string,
    readonly agentPassword: string,
    /** The harness's own administrator (the node's default user, no vhost permissions): for setting up and inspecting. */
    private readonly adminPassword: string,
    private readonly home: string,
    private readonly child: ChildProcess,
    private readonly output: { text: string },
    private readonly epmdWasRunning: boolean,
    private readonly installation: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Milliseconds start() took, for the report. */
  startupMs = 0;

  static async start(options: RabbitMqStartOptions): Promise<RabbitMqUnderTest> {
    const started = performance.now();
    const installation = await rabbitMqInstallation();
    const directory = await mkdtemp(join(tmpdir(), 'ccm-rabbitmq-'));
    let node: RabbitMqUnderTest | null = null;
    try {
      await chmod(directory, 0o700);
      const path = (name: string) => join(directory, name);
      const home = path('home');
      await mkdir(home);
      // Server and rabbitmqctl both read $HOME/.erlang.cookie (RABBITMQ_ERLANG_COOKIE is deprecated in 3.10).
      await writeFile(join(home, '.erlang.cookie'), randomBytes(24).toString('hex'), { mode: 0o400 });
      const ports = await freePortBlock();
      const nodeName = `ccm-test-${randomBytes(4).toString('hex')}@localhost`;
      const adminPassword = randomBytes(18).toString('base64url');
      const agentPassword = randomBytes(18).toString('base64url');
      await writeFile(path('server.pem'), options.serverCertificatePem);
      await writeFile(path('server.key'), options.serverKeyPem, { mode: 0o600 });
      await writeFile(path('trust-bundle.pem'), options.trustBundlePem);
      await writeFile(path('rabbitmq.conf'), [...brokerConfiguration(directory, ports, adminPassword), ...(options.extraConfig ?? [])].join('\n') + '\n');
      await writeFile(path('advanced.config'), options.advancedConfig ?? '[].\n');
      await writeFile(path('rabbitmq-env.conf'), '');
      // The MQTT plugin is enabled once its Raft member runs (see the header).
      await writeFile(path('enabled_plugins'), '[rabbitmq_management].\n');
      const pluginsDirectory = await pluginDirectory(installation, path('plugins'));

      const epmdWasRunning = (await run('epmd', ['-names'])).code === 0;
      const env = nodeEnvironment(directory, home, nodeName, ports, pluginsDirectory);
      const output = { text: '' };
      const child = spawn(join(installation, 'sbin', 'rabbitmq-server'), [], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.stdout!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
      node = new RabbitMqUnderTest(directory, nodeName, ports, options.serverCaPem, agentPassword, adminPassword, home, child, output, epmdWasRunning, installation);
      await node.waitFor('the management API', 90_000, async () => (await node!.management('GET', '/whoami', undefined, 'admin')).status === 200);
      await node.enableMqttWithoutClusterWait();
      await node.waitFor('the MQTT TLS listener', 30_000, () => tcpReachable(ports.mqttTls));
      const created = await node.management('PUT', `/users/${node.agentUsername}`, { password: agentPassword, tags: 'administrator' }, 'admin');
      if (created.status !== 201 && created.status !== 204) throw new Error(`creating the agent user answered ${created.status}: ${created.text}`);
      node.startupMs = Math.round(performance.now() - started);
      return node;
    } catch (error) {
      const log = node ? await node.log() : '';
      if (node) await node.stop();
      else await rm(directory, { recursive: true, force: true });
      throw new Error(`RabbitMQ did not start: ${(error as Error).message}\n${node?.output.text ?? ''}\n${log.slice(-4000)}`);
    }
  }

  get running(): boolean {
    return isRunning(this.child);
  }

  get managementUrl(): string {
    return `http://127.0.0.1:${this.ports.management}`;
  }

  get mqttsUrl(): string {
    return `mqtts://127.0.0.1:${this.ports.mqttTls}`;
  }

  /** The agent's CCM_RABBITMQ_* variables for this node; `passwordFile` holds agentPassword. */
  agentEnvironment(passwordFile: string): Record<string, string> {
    return {
      CCM_RABBITMQ_MANAGEMENT_URL: this.managementUrl,
      CCM_RABBITMQ_USERNAME: this.agentUsername,
      CCM_RABBITMQ_PASSWORD_FILE: passwordFile,
    };
  }

  /** A management API request as the agent's user or the harness's administrator. */
  async management(method: string, path: string, body?: unknown, as: 'agent' | 'admin' = 'admin'): Promise<{ status: number; text: string; json: () => unknown }> {
    const credentials = as === 'agent' ? `${this.agentUsername}:${this.agentPassword}` : `ccm-test-admin:${this.adminPassword}`;
    try {
      const response = await fetch(`${this.managementUrl}/api${path}`, {
        method,
        headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      return { status: response.status, text, json: () => JSON.parse(text) };
    } catch (error) {
      return { status: 0, text: (error as Error).message, json: () => null };
    }
  }

  /** rabbitmqctl against this node (its cookie, its CLI ports). */
  rabbitmqctl(args: readonly string[]): Promise<CommandResult> {
    return run(join(this.installation, 'sbin', 'rabbitmqctl'), ['-n', this.nodeName, ...args], { env: cliEnvironment(this.home, this.ports) });
  }

  /** An MQTT 3.1.1 client over mutual TLS with a device certificate; no automatic reconnect unless asked. */
  connectDevice(certificatePem: string, privateKeyPem: string, options: IClientOptions = {}): MqttClient {
    return mqtt.connect(this.mqttsUrl, { ca: this.serverCaPem, cert: certificatePem, key: privateKeyPem, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options });
  }

  /** connectDevice, resolved once the CONNACK came. */
  connectedDevice(device: IssuedCertificate, options: IClientOptions = {}): Promise<MqttClient> {
    return connack(this.connectDevice(device.certificatePem, device.privateKeyPem, options));
  }

  /** One connection attempt: connected (then closed again), or refused with the reason (TLS or CONNACK). */
  async tryConnect(certificatePem: string, privateKeyPem: string, options: IClientOptions = {}): Promise<{ outcome: 'connected' | 'refused'; reason: string }> {
    const client = this.connectDevice(certificatePem, privateKeyPem, options);
    const result = await new Promise<{ outcome: 'connected' | 'refused'; reason: string }>((resolve) => {
      client.once('connect', () => resolve({ outcome: 'connected', reason: '' }));
      client.once('error', (error) => resolve({ outcome: 'refused', reason: error.message }));
      client.once('close', () => resolve({ outcome: 'refused', reason: 'closed' }));
    });
    client.end(true);
    return result;
  }

  log(): Promise<string> {
    return readFile(join(this.directory, 'log', `${this.nodeName}.log`), 'utf8').catch(() => '');
  }

  /**
   * Stops the node and removes its directory. By default the node is
   * killed: its data is thrown away, and a graceful stop (rabbitmqctl stop,
   * or SIGTERM) takes ~6 s on 3.10, 5 of them in the management plugin's
   * statistics refresh at shutdown. `graceful` stops it with rabbitmqctl
   * first (killed if that fails).
   */
  async stop(options: { graceful?: boolean } = {}): Promise<void> {
    if (this.running && options.graceful) await this.rabbitmqctl(['stop']);
    if (this.running) {
      const beam = Number((await readFile(join(this.directory, 'rabbitmq.pid'), 'utf8').catch(() => '')).trim());
      if (Number.isInteger(beam) && beam > 0) killQuietly(beam);
      // The rabbitmq-server script and the VM it started: their own process group (spawned detached).
      killQuietly(-this.child.pid!);
      await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    }
    // An epmd this node started (none ran before) is stopped again; `epmd -kill` refuses while another node is registered.
    if (!this.epmdWasRunning) await run('epmd', ['-kill']);
    await rm(this.directory, { recursive: true, force: true });
  }

  private async enableMqttWithoutClusterWait(): Promise<void> {
    // mqtt_node:start_server/0 of rabbitmq_mqtt 3.10.8, on a node without peers, then rabbitmq-plugins enable --online.
    const expression = [
      'NodeId = {mqtt_node, node()},',
      'UId = ra:new_uid(<<"mqtt_node">>),',
      'Timeout = application:get_env(kernel, net_ticktime, 60) + 5,',
      'ok = ra:start_server(coordination, #{cluster_name => mqtt_node, id => NodeId, uid => UId, friendly_name => "mqtt_node", initial_members => [], log_init_args => #{uid => UId}, tick_timeout => Timeout, machine => {module, mqtt_machine, #{}}}),',
      'ok = ra:trigger_election(NodeId, 60000),',
      '{ok, File} = application:get_env(rabbit, enabled_plugins_file),',
      'ok = file:write_file(File, <<"[rabbitmq_management,rabbitmq_mqtt].\\n">>),',
      '{ok, _, _} = rabbit_plugins:ensure(File),',
      'ok.',
    ].join(' ');
    const result = await this.rabbitmqctl(['eval', expression]);
    if (result.code !== 0 || result.stdout.trim() !== 'ok') throw new Error(`enabling rabbitmq_mqtt failed (${result.code}): ${result.stdout}${result.stderr}`);
  }

  private waitFor(what: string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
    return waitUntil(this.child, `${what} answered`, timeoutMs, ready, 50);
  }
}

function brokerConfiguration(directory: string, ports: RabbitMqPorts, adminPassword: string): string[] {
  return [
    '# AMQP is not used by the tests.',
    'listeners.tcp = none',
    `default_user = ccm-test-admin`,
    `default_pass = ${adminPassword}`,
    // The default user gets no permissions: a password user with access to the MQTT vhost could be logged into over the certificate listener.
    'default_permissions.configure = ^$',
    'default_permissions.write = ^$',
    'default_permissions.read = ^$',
    'mqtt.listeners.tcp = none',
    `mqtt.listeners.ssl.default = 127.0.0.1:${ports.mqttTls}`,
    'mqtt.allow_anonymous = false',
    'mqtt.ssl_cert_login = true',
    'ssl_cert_login_from = distinguished_name',
    `ssl_options.cacertfile = ${join(directory, 'trust-bundle.pem')}`,
    `ssl_options.certfile = ${join(directory, 'server.pem')}`,
    `ssl_options.keyfile = ${join(directory, 'server.key')}`,
    'ssl_options.verify = verify_peer',
    'ssl_options.fail_if_no_peer_cert = true',
    'management.tcp.ip = 127.0.0.1',
    `management.tcp.port = ${ports.management}`,
    'log.file.level = info',
  ];
}

function nodeEnvironment(directory: string, home: string, nodeName: string, ports: RabbitMqPorts, pluginsDirectory: string): NodeJS.ProcessEnv {
  return {
    ...cliEnvironment(home, ports),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_DIST_PORT: String(ports.distribution),
    RABBITMQ_CONFIG_FILE: join(directory, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(directory, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(directory, 'enabled_plugins'),
    RABBITMQ_PLUGINS_DIR: pluginsDirectory,
    RABBITMQ_PLUGINS_EXPAND_DIR: join(directory, 'plugins-expand'),
    RABBITMQ_MNESIA_BASE: join(directory, 'mnesia'),
    RABBITMQ_LOG_BASE: join(directory, 'log'),
    RABBITMQ_PID_FILE: join(directory, 'rabbitmq.pid'),
    // The distribution listener on loopback only.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

/** What both the server and rabbitmqctl need: the cookie's HOME, no system rabbitmq-env.conf (it names the system node), loopback epmd. */
function cliEnvironment(home: string, ports: RabbitMqPorts): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: home,
    RABBITMQ_CONF_ENV_FILE: join(home, '..', 'rabbitmq-env.conf'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_CTL_DIST_PORT_MIN: String(ports.cli[0]),
    RABBITMQ_CTL_DIST_PORT_MAX: String(ports.cli[1]),
    RABBITMQ_CTL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

async function rabbitMqInstallation(): Promise<string> {
  const versions = (await readdir(RABBITMQ_LIB).catch(() => [] as string[])).filter((name) => name.startsWith('rabbitmq_server-')).sort();
  if (versions.length === 0) throw new Error(`no RabbitMQ under ${RABBITMQ_LIB} (Debian package rabbitmq-server)`);
  return join(RABBITMQ_LIB, versions[versions.length - 1]!);
}

/** A plugin directory with only the applications the node loads (links into the package's); the package's own when one is missing. */
async function pluginDirectory(installation: string, target: string): Promise<string> {
  const source = join(installation, 'plugins');
  const entries = await readdir(source);
  const chosen = NEEDED_APPLICATIONS.map((application) => entries.find((entry) => entry.startsWith(`${application}-`) && /^\d/.test(entry.slice(application.length + 1))));
  if (chosen.some((entry) => entry === undefined)) return source;
  await mkdir(target);
  for (const entry of chosen) await symlink(join(source, entry!), join(target, entry!));
  return target;
}

/** A block of free loopback ports in 25600–25699, picked at random among the blocks so two test files rarely try the same one. */
async function freePortBlock(): Promise<RabbitMqPorts> {
  const order = Array.from({ length: PORT_BLOCKS }, (_, i) => i).sort(() => Math.random() - 0.5);
  for (const block of order) {
    const first = PORT_RANGE_START + block * PORT_BLOCK;
    const ports = Array.from({ length: PORT_BLOCK }, (_, i) => first + i);
    if ((await Promise.all(ports.map(portBindable))).every(Boolean)) {
      return { mqttTls: first, management: first + 1, distribution: first + 2, cli: [first + 3, first + 6], spare: first + 7 };
    }
  }
  throw new Error('no free block of ports in 25600–25699');
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** For bench/ and the RabbitMQ tests, which take the test CA from here. */
export { OpensslTestCa, type IssuedCertificate } from './openssl.js';

/** For bench/: the RabbitMQ agent's process (the tests call AgentProcess.start('rabbitmq-agent', …) themselves). */
export const RabbitMqAgentProcess = { start: (env: Record<string, string>): Promise<AgentProcess> => AgentProcess.start('rabbitmq-agent', env) };

/** The subject DER of a certificate, for ccm's own name decoder. */
export function subjectDer(certificatePem: string): Uint8Array {
  return new Uint8Array(new x509.X509Certificate(certificatePem).subjectName.toArrayBuffer());
}
