/**
 * The brokers the suspend-to-disconnect bench can put under its fleet
 * (Mosquitto, RabbitMQ, NATS), each behind one interface: start the broker
 * with the tenant's CA chain as its client trust, start the broker's agent
 * with the common CCM_AGENT_* variables plus its own, tell the fleet where
 * to connect and what server CA to trust, pick the broker-specific lines
 * out of the agent's log, take the broker's own extra measurements under
 * load, stop. The bench's run is written once against this interface.
 *
 * RabbitMQ and NATS admit only identities the agent knows: their agents
 * let ccm's certificates in at the start-up reconciliation, and the agent
 * processes resolve their start only after it ("<broker> agent running"),
 * so a fleet issued before startAgent() can connect as soon as it returns.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicCrlFile, DynsecBrokerControl, SighupReloader } from '@ccm/mosquitto-agent';
import { rabbitMqUsernameOf } from '@ccm/rabbitmq-agent';
import { MosquittoAgentProcess, MosquittoUnderTest } from '../../test/support/mosquitto.js';
import { NatsAgentProcess, NatsTestPki, NatsUnderTest, portInRange } from '../../test/support/nats.js';
import { OpensslTestCa, RabbitMqAgentProcess, RabbitMqUnderTest } from '../../test/support/rabbitmq.js';

export const BROKER_KINDS = ['mosquitto', 'rabbitmq', 'nats'] as const;
export type BrokerKind = (typeof BROKER_KINDS)[number];

/** What the fleet speaks to the broker. */
export type DeviceProtocol = 'mqtt' | 'nats';

export type AgentLogLine = Record<string, unknown>;

/** A running agent process: its JSON log lines so far, and its stop. */
export interface BenchAgent {
  readonly lines: readonly AgentLogLine[];
  stop(): Promise<unknown>;
}

/** What the broker-specific measurements may use of the run. */
export interface UnderLoadContext {
  /** GET on ccm's API as the bench's operator, the body as text. */
  readonly ccmGet: (path: string) => Promise<string>;
  readonly tenantId: string;
  /** Devices still connected (not suspended), by common name. */
  readonly connectedDevices: readonly string[];
  /** The first close of that device's session at or after `since` (epoch ms), polled up to `timeoutMs`; undefined when none. */
  readonly closedSince: (commonName: string, since: number, timeoutMs: number) => Promise<number | undefined>;
  /** Epoch ms with sub-millisecond precision, the clock the fleet's times use. */
  readonly now: () => number;
}

export interface BenchBroker {
  readonly kind: BrokerKind;
  readonly protocol: DeviceProtocol;
  /** Where devices connect (mqtts:// or tls://). */
  readonly deviceUrl: string;
  /** The CA devices trust the broker's server certificate by. */
  readonly serverCaPem: string;
  /** Starts the agent with `common` (CCM_AGENT_*, NODE_OPTIONS) and the broker's own variables; resolves after its first reconciliation. */
  startAgent(common: Readonly<Record<string, string>>): Promise<BenchAgent>;
  /** Report lines read from the agent's log that only this broker's agent writes. */
  agentBreakdown(lines: readonly AgentLogLine[], summary: (values: readonly number[]) => string): string[];
  /** Measurements of the broker's own mechanisms with the remaining sessions up; report lines. */
  measureUnderLoad(context: UnderLoadContext, summary: (values: readonly number[]) => string): Promise<string[]>;
  /** Stops the broker and removes what its start wrote; the agent is stopped by the caller before. */
  stop(): Promise<void>;
}

export interface BrokerTrust {
  /** GET /v1/tenants/{id}/ca-chain: what device certificates must chain to. */
  readonly caChainPem: string;
  /** GET /v1/tenants/{id}/crl?format=pem: Mosquitto needs a crlfile to start. */
  readonly crlPem: string;
}

export function parseBrokerKind(value: string | undefined): BrokerKind {
  const kind = value ?? 'mosquitto';
  if (!(BROKER_KINDS as readonly string[]).includes(kind)) throw new Error(`--broker must be one of ${BROKER_KINDS.join(', ')}`);
  return kind as BrokerKind;
}

export function startBenchBroker(kind: BrokerKind, trust: BrokerTrust): Promise<BenchBroker> {
  switch (kind) {
    case 'mosquitto':
      return MosquittoBench.start(trust);
    case 'rabbitmq':
      return RabbitMqBench.start(trust);
    case 'nats':
      return NatsBench.start(trust);
  }
}

function numbers(lines: readonly AgentLogLine[], message: string, field: string, where: (line: AgentLogLine) => boolean = () => true): number[] {
  return lines.filter((line) => line['msg'] === message && where(line)).map((line) => Number(line[field]));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The admin password as a file of its own, as the agents read it. */
async function passwordFile(password: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'ccm-bench-'));
  const path = join(directory, 'password');
  await writeFile(path, `${password}\n`, { mode: 0o600 });
  return { path, remove: () => rm(directory, { recursive: true, force: true }) };
}

class MosquittoBench implements BenchBroker {
  readonly kind = 'mosquitto';
  readonly protocol = 'mqtt';

  private constructor(
    private readonly broker: MosquittoUnderTest,
    private readonly password: { path: string; remove: () => Promise<void> },
  ) {}

  static async start(trust: BrokerTrust): Promise<MosquittoBench> {
    const broker = await MosquittoUnderTest.start({ clientCaPem: trust.caChainPem, crlPem: trust.crlPem, logTypes: ['error', 'warning'] });
    try {
      return new MosquittoBench(broker, await passwordFile(broker.adminPassword));
    } catch (error) {
      await broker.stop();
      throw error;
    }
  }

  get deviceUrl(): string {
    return this.broker.tlsUrl;
  }

  get serverCaPem(): string {
    return this.broker.serverCaPem;
  }

  startAgent(common: Readonly<Record<string, string>>): Promise<BenchAgent> {
    return MosquittoAgentProcess.start({ ...common, ...this.broker.agentEnvironment(this.password.path) });
  }

  agentBreakdown(lines: readonly AgentLogLine[], summary: (values: readonly number[]) => string): string[] {
    const kicks = lines.filter((line) => line['msg'] === 'devices kicked' && line['operation'] === 'shutOut');
    return [
      `  Mosquitto adapter's kicks (shutOut calls that had work): ${kicks.length} for ${kicks.reduce((n, line) => n + Number(line['devices']), 0)} devices (${kicks.map((line) => line['devices']).join(', ')}); per call: reading the CRL from ccm ${summary(numbers(kicks, 'devices kicked', 'readMs'))}; crlfile write + SIGHUP ${summary(numbers(kicks, 'devices kicked', 'installMs'))}; kick ${summary(numbers(kicks, 'devices kicked', 'kickMs'))}`,
      `  crlfile writes + SIGHUPs by the agent: ${lines.filter((line) => line['msg'] === 'CRLs installed, Mosquitto reloading').length} (start-up included)`,
    ];
  }

  /** SIGHUP → reload applied, and dynsec disableClient → session closed, with the remaining sessions up. */
  async measureUnderLoad(context: UnderLoadContext, summary: (values: readonly number[]) => string): Promise<string[]> {
    const control = await DynsecBrokerControl.connect({ url: this.broker.adminUrl, username: this.broker.adminUsername, password: this.broker.adminPassword });
    try {
      const crlFile = new AtomicCrlFile(this.broker.crlFile);
      const reloader = new SighupReloader({ kind: 'file', path: this.broker.pidFile });
      const crl = await context.ccmGet(`/v1/tenants/${context.tenantId}/crl?format=pem`);
      const reloads: number[] = [];
      for (let i = 0; i < 20; i++) {
        await crlFile.install(crl);
        const at = performance.now();
        await reloader.reload();
        await control.roundTrip();
        reloads.push(performance.now() - at);
        await sleep(20);
      }
      const kicks: number[] = [];
      for (const name of context.connectedDevices.slice(0, 20)) {
        const at = context.now();
        await control.disableClients([name]);
        const closed = await context.closedSince(name, at, 500);
        if (closed !== undefined) kicks.push(closed - at);
      }
      const up = context.connectedDevices.length;
      return [`with ${up} sessions up: SIGHUP → reload applied (admin round trip answered): ${summary(reloads)}`, `with ${up} sessions up: disableClient → session closed: ${summary(kicks)}`];
    } finally {
      await control.close();
    }
  }

  async stop(): Promise<void> {
    await this.broker.stop();
    await this.password.remove();
  }
}

class RabbitMqBench implements BenchBroker {
  readonly kind = 'rabbitmq';
  readonly protocol = 'mqtt';

  private constructor(
    private readonly node: RabbitMqUnderTest,
    private readonly serverCa: OpensslTestCa,
    private readonly password: { path: string; remove: () => Promise<void> },
  ) {}

  static async start(trust: BrokerTrust): Promise<RabbitMqBench> {
    const serverCa = await OpensslTestCa.create('ccm bench RabbitMQ server CA');
    let node: RabbitMqUnderTest | null = null;
    try {
      const server = await serverCa.serverCertificate();
      node = await RabbitMqUnderTest.start({ serverCertificatePem: server.certificatePem, serverKeyPem: server.privateKeyPem, trustBundlePem: trust.caChainPem, serverCaPem: serverCa.caPem });
      return new RabbitMqBench(node, serverCa, await passwordFile(node.agentPassword));
    } catch (error) {
      await node?.stop();
      await serverCa.cleanup();
      throw error;
    }
  }

  get deviceUrl(): string {
    return this.node.mqttsUrl;
  }

  get serverCaPem(): string {
    return this.node.serverCaPem;
  }

  startAgent(common: Readonly<Record<string, string>>): Promise<BenchAgent> {
    return RabbitMqAgentProcess.start({ CCM_AGENT_HEALTH_LISTEN: `127.0.0.1:${this.node.ports.spare}`, ...common, ...this.node.agentEnvironment(this.password.path) });
  }

  agentBreakdown(): string[] {
    // The RabbitMQ agent logs nothing per call beyond the core's "broker call done".
    return [];
  }

  /** Management API: close one device's connections → session closed, with the remaining sessions up. */
  async measureUnderLoad(context: UnderLoadContext, summary: (values: readonly number[]) => string): Promise<string[]> {
    const listed: number[] = [];
    const closes: number[] = [];
    for (const name of context.connectedDevices.slice(0, 20)) {
      const username = rabbitMqUsernameOf(`CN=${name}`)!;
      const at = context.now();
      const found = await this.node.management('GET', `/connections/username/${encodeURIComponent(username)}`);
      listed.push(context.now() - at);
      for (const connection of (found.json() as Array<{ name: string }> | null) ?? []) {
        await this.node.management('DELETE', `/connections/${encodeURIComponent(connection.name)}`);
      }
      const closed = await context.closedSince(name, at, 2000);
      if (closed !== undefined) closes.push(closed - at);
    }
    const up = context.connectedDevices.length;
    return [`with ${up} sessions up: GET /api/connections/username/{user}: ${summary(listed)}; that + DELETE /api/connections/{name} → session closed: ${summary(closes)}`];
  }

  async stop(): Promise<void> {
    await this.node.stop();
    await this.serverCa.cleanup();
    await this.password.remove();
  }
}

class NatsBench implements BenchBroker {
  readonly kind = 'nats';
  readonly protocol = 'nats';

  private constructor(
    private readonly server: NatsUnderTest,
    private readonly pki: NatsTestPki,
  ) {}

  static async start(trust: BrokerTrust): Promise<NatsBench> {
    const pki = await NatsTestPki.create();
    try {
      const server = await NatsUnderTest.start({ serverCertificatePem: pki.serverCertificatePem, serverKeyPem: pki.serverKeyPem, trustBundlePem: trust.caChainPem, clientTrustPem: pki.serverCaPem });
      return new NatsBench(server, pki);
    } catch (error) {
      await pki.cleanup();
      throw error;
    }
  }

  get deviceUrl(): string {
    return this.server.url;
  }

  get serverCaPem(): string {
    return this.server.clientTrustPem;
  }

  async startAgent(common: Readonly<Record<string, string>>): Promise<BenchAgent> {
    const health = await portInRange([this.server.clientPort, this.server.monitorPort]);
    return NatsAgentProcess.start({ CCM_AGENT_HEALTH_LISTEN: `127.0.0.1:${health}`, ...common, ...this.server.agentEnvironment() });
  }

  agentBreakdown(lines: readonly AgentLogLine[], summary: (values: readonly number[]) => string): string[] {
    const closed = lines.filter((line) => line['msg'] === 'nats sessions of shut-out devices closed');
    return [
      `  users file reloads (SIGHUP → /varz config_load_time moved): ${summary(numbers(lines, 'nats-server reloaded the users file', 'ms'))}`,
      `  SIGHUP → /connz shows none of the shut-out devices: ${summary(numbers(closed, 'nats sessions of shut-out devices closed', 'msAfterReloadSignal'))} (per shutOut call; ${closed.map((line) => line['identities']).join(', ')} identities)`,
      `  re-reloads for shut-out devices still connected: ${lines.filter((line) => line['msg'] === 'shut-out devices are connected although the users file excludes them; reloading nats-server').length}`,
    ];
  }

  /**
   * The monitor endpoints the agent polls, and what one users-file reload
   * costs nats-server, with the remaining sessions up. The reload adds one
   * user nobody connects as (an authorization change, so the server
   * re-checks every connected client, as for a suspension, but drops none);
   * the agent's own file is put back afterwards.
   */
  async measureUnderLoad(context: UnderLoadContext, summary: (values: readonly number[]) => string): Promise<string[]> {
    const connz: number[] = [];
    const varz: number[] = [];
    for (let i = 0; i < 20; i++) {
      let at = performance.now();
      await this.server.connz();
      connz.push(performance.now() - at);
      at = performance.now();
      await this.server.varz();
      varz.push(performance.now() - at);
    }
    const agentsFile = await readFile(this.server.usersFile, 'utf8');
    if (!agentsFile.includes('users = [\n')) throw new Error(`${this.server.usersFile} is not the agent's users file`);
    const reloads: number[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        await writeFile(this.server.usersFile, agentsFile.replace('users = [\n', `users = [\n  ${JSON.stringify({ user: `CN=bench-reload-probe-${i}` })}\n`));
        reloads.push(await this.reloadMs());
      }
    } finally {
      await writeFile(this.server.usersFile, agentsFile);
      await this.reloadMs();
    }
    const up = context.connectedDevices.length;
    return [`with ${up} sessions up: GET /connz?auth=true: ${summary(connz)}; GET /varz: ${summary(varz)}`, `with ${up} sessions up: users file + 1 user, SIGHUP → reload confirmed (/varz config_load_time moved): ${summary(reloads)}`];
  }

  /** SIGHUP to nats-server, then /varz every 5 ms until config_load_time moves; ms it took. */
  private async reloadMs(): Promise<number> {
    const before = (await this.server.varz()).config_load_time;
    const at = performance.now();
    process.kill(this.server.pid, 'SIGHUP');
    while ((await this.server.varz()).config_load_time === before) {
      if (performance.now() - at > 30_000) throw new Error('nats-server did not confirm a reload within 30 s');
      await sleep(5);
    }
    return performance.now() - at;
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.pki.cleanup();
  }
}
