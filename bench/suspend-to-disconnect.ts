/**
 * Benchmark: how long from "suspend" answered by ccm's API to the device's
 * connection closing, with many live mutual-TLS sessions on a real broker
 * guarded by its agent: Mosquitto or RabbitMQ (MQTT), or nats-server (NATS),
 * each set up by bench/support/bench-brokers.ts and measured the same way.
 * Also: whether any suspended device got back in (each reconnects every
 * --reconnect-ms), whether any bystander was dropped, and the broker-side
 * costs under that load (Mosquitto: kick, SIGHUP applied; RabbitMQ: closing
 * a connection through the management API; NATS: the monitor endpoints).
 *
 *   npm run build && node dist/bench/suspend-to-disconnect.js [--broker=mosquitto|rabbitmq|nats] [--devices=1000] [--suspend=100]
 *       [--reconnect-ms=1000] [--api-concurrency=100] [--api-client=process|in-process] [--agent-concurrency=N] [--read-ahead=N]
 *       [--database=postgres|sqlite] [--custody=local|vault] [--events=queue|feed] [--agent-log=FILE]
 *
 * `--events` is how the agent learns of the suspensions: `queue` (default),
 * the subscriber's BullMQ queue on Redis filled by ccm's outbox relay;
 * `feed`, ccm's HTTP feed read by long polling (ccm then runs without Redis).
 *
 * The devices live in a child process of their own (the same script, in
 * fleet mode), so their TLS handshakes do not starve ccm's event loop in
 * this one; times cross the process boundary as epoch milliseconds with
 * sub-millisecond precision (performance.timeOrigin + performance.now()).
 * So does the caller that sends the burst of suspensions (api mode), as a
 * platform service calling ccm would: sent from ccm's own process, the 100
 * requests took 30% of that event loop's time during the burst (CPU
 * profile), and ccm answered the agent's CRL reads that much later.
 * `--api-client=in-process` sends them from this process, as before.
 *
 * Needs what the e2e tests need: PostgreSQL (for --database=postgres) and
 * Redis on 127.0.0.1, openssl, and the broker: Mosquitto 2.0 with the dynsec
 * plugin, RabbitMQ 3.10 (Debian package), or nats-server 2.9. RabbitMQ and
 * NATS admit only identities their agent knows, so the fleet is issued
 * before the agent starts: its start-up reconciliation lets them all in.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import mqtt, { type MqttClient } from 'mqtt';
import { connect as connectNats, type NatsConnection } from 'nats';
import { subscriberQueueName } from '@ccm/event-consumer/contract';
import { TestInstallation, type CcmUnderTest, type CustodyKind, type DatabaseKind } from '../test/support/ccm-under-test.js';
import { parseBrokerKind, startBenchBroker, type BrokerKind, type DeviceProtocol } from './support/bench-brokers.js';

interface Options {
  /** How the agent learns of events: the BullMQ queue, or the HTTP feed by long polling. */
  readonly events: 'queue' | 'feed';
  readonly broker: BrokerKind;
  readonly devices: number;
  readonly suspend: number;
  readonly reconnectMs: number;
  readonly apiConcurrency: number;
  /** Where the burst of suspensions is sent from: a process of its own (as a platform service), or ccm's. */
  readonly apiClient: 'process' | 'in-process';
  readonly database: DatabaseKind;
  readonly custody: CustodyKind;
  readonly redisUrl: string;
  /** The agent's CCM_AGENT_EVENT_CONCURRENCY; its own default when absent. */
  readonly agentConcurrency: number | null;
  /** The agent's CCM_AGENT_QUEUE_READ_AHEAD (queue only; 0 turns read-ahead off); its own default when absent. */
  readonly readAhead: number | null;
  /** Where to write the agent's log lines (JSON lines) for a closer look; none when absent. */
  readonly agentLog: string | null;
}

function parseOptions(argv: readonly string[]): Options {
  const named = new Map(argv.map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
  const integer = (name: string, fallback: number, min: number): number => {
    const raw = named.get(name);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
    return value;
  };
  const devices = integer('devices', 1000, 2);
  const apiClient = named.get('api-client') ?? 'process';
  if (apiClient !== 'process' && apiClient !== 'in-process') throw new Error('--api-client is process or in-process');
  const suspend = integer('suspend', Math.min(100, devices - 1), 1);
  if (suspend >= devices) throw new Error('--suspend must leave at least one device connected');
  const database = (named.get('database') ?? 'postgres') as DatabaseKind;
  const custody = (named.get('custody') ?? 'local') as CustodyKind;
  if (!['postgres', 'sqlite'].includes(database) || !['local', 'vault'].includes(custody)) throw new Error('--database is postgres or sqlite, --custody local or vault');
  const events = named.get('events') ?? 'queue';
  if (events !== 'queue' && events !== 'feed') throw new Error('--events is queue or feed');
  return { events, broker: parseBrokerKind(named.get('broker')), devices, suspend, reconnectMs: integer('reconnect-ms', 1000, 0), apiConcurrency: integer('api-concurrency', 100, 1), apiClient, agentConcurrency: named.has('agent-concurrency') ? integer('agent-concurrency', 16, 1) : null, readAhead: named.has('read-ahead') ? integer('read-ahead', 256, 0) : null, agentLog: named.get('agent-log') ?? null, database, custody, redisUrl: process.env['CCM_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379' };
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable between processes on one machine. */
function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

// ---------------------------------------------------------------------------------------------
// The fleet: the devices' MQTT or NATS clients, in a child process.

interface FleetDevice {
  readonly commonName: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

type FleetCommand =
  | { readonly type: 'connect'; readonly protocol: DeviceProtocol; readonly url: string; readonly serverCaPem: string; readonly devices: readonly FleetDevice[]; readonly reconnectMs: number }
  | { readonly type: 'report' }
  | { readonly type: 'end'; readonly names: readonly string[] };

interface FleetReport {
  /** Per device, every connection close and every successful (re)connect, as epoch ms. */
  readonly closes: Record<string, number[]>;
  readonly connects: Record<string, number[]>;
  /** Per device, how many times it tried to (re)connect after a close: proof that suspended devices kept knocking. */
  readonly attempts: Record<string, number>;
}

/** One device's session, whatever the protocol: connected once, then reconnecting by itself until ended. */
interface FleetSession {
  end(): void;
}

type SessionLog = { readonly closed: () => void; readonly connected: () => void; readonly attempted: () => void };

/**
 * An MQTT 3.1.1 client that reconnects every `reconnectMs`, also after a
 * refusing CONNACK (reconnectOnConnackError: mqtt.js stops for good after
 * one by default; RabbitMQ refuses a shut-out device that way, Mosquitto
 * already in the TLS handshake); resolves at the first CONNACK.
 */
async function mqttSession(url: string, serverCaPem: string, device: FleetDevice, reconnectMs: number, log: SessionLog): Promise<FleetSession> {
  const client: MqttClient = mqtt.connect(url, { ca: serverCaPem, cert: device.certificatePem, key: device.privateKeyPem, reconnectPeriod: reconnectMs, reconnectOnConnackError: true, connectTimeout: 10_000, keepalive: 60, protocolVersion: 4 });
  client.on('error', () => undefined);
  client.on('close', log.closed);
  client.on('connect', log.connected);
  client.on('reconnect', log.attempted);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  return { end: () => void client.end(true) };
}

/**
 * A NATS client that reconnects forever every `reconnectMs` (no jitter, as
 * the MQTT fleet), also after the server refused it (ignoreAuthErrorAbort:
 * by default nats.js gives up after two authorization errors in a row,
 * and a suspended device must keep knocking). Disconnects and reconnects
 * come from status().
 */
async function natsSession(url: string, serverCaPem: string, device: FleetDevice, reconnectMs: number, log: SessionLog): Promise<FleetSession> {
  const connection: NatsConnection = await connectNats({
    servers: url,
    tls: { ca: serverCaPem, cert: device.certificatePem, key: device.privateKeyPem },
    timeout: 10_000,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: reconnectMs,
    reconnectJitter: 0,
    reconnectJitterTLS: 0,
    ignoreAuthErrorAbort: true,
    pingInterval: 60_000,
  });
  log.connected();
  void (async () => {
    for await (const status of connection.status()) {
      if (status.type === 'disconnect') log.closed();
      else if (status.type === 'reconnect') log.connected();
      else if (status.type === 'reconnecting') log.attempted();
    }
  })();
  return { end: () => void connection.close().catch(() => undefined) };
}

function runFleet(): void {
  const sessions = new Map<string, FleetSession>();
  const report: FleetReport = { closes: {}, connects: {}, attempts: {} };
  const reply = (message: unknown): void => void process.send!(message);
  process.on('message', (command: FleetCommand) => {
    if (command.type === 'connect') {
      const open = command.protocol === 'nats' ? natsSession : mqttSession;
      void pool(command.devices, 50, async (device) => {
        const closes: number[] = (report.closes[device.commonName] = []);
        const connects: number[] = (report.connects[device.commonName] = []);
        report.attempts[device.commonName] = 0;
        const attempted = (): void => void report.attempts[device.commonName]!++;
        const session = await open(command.url, command.serverCaPem, device, command.reconnectMs, { closed: () => closes.push(epochNow()), connected: () => connects.push(epochNow()), attempted });
        sessions.set(device.commonName, session);
      }).then(
        () => reply({ type: 'connected', count: sessions.size }),
        (error: unknown) => {
          console.error(`fleet: ${(error as Error).message}`);
          process.exit(1);
        },
      );
    } else if (command.type === 'report') {
      reply({ type: 'report', report });
    } else if (command.type === 'end') {
      for (const name of command.names) sessions.get(name)?.end();
      reply({ type: 'ended' });
    }
  });
  process.on('disconnect', () => {
    for (const session of sessions.values()) session.end();
    process.exit(0);
  });
}

class Fleet {
  private constructor(private readonly child: ChildProcess) {}

  static start(): Fleet {
    const child = fork(new URL(import.meta.url).pathname, ['--fleet-worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Fleet(child);
  }

  private ask<T>(command: FleetCommand, answer: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: { type: string } & T): void => {
        if (message.type !== answer) return;
        this.child.off('message', onMessage);
        resolve(message);
      };
      this.child.on('message', onMessage);
      const onExit = (code: number | null): void => reject(new Error(`the fleet process exited with ${code}`));
      this.child.once('exit', onExit);
      this.child.on('message', function cleanup(this: ChildProcess, message: { type: string }) {
        if (message.type !== answer) return;
        this.off('exit', onExit);
        this.off('message', cleanup);
      });
      this.child.send(command);
    });
  }

  connect(protocol: DeviceProtocol, url: string, serverCaPem: string, devices: readonly FleetDevice[], reconnectMs: number): Promise<{ count: number }> {
    return this.ask({ type: 'connect', protocol, url, serverCaPem, devices, reconnectMs }, 'connected');
  }

  async report(): Promise<FleetReport> {
    return (await this.ask<{ report: FleetReport }>({ type: 'report' }, 'report')).report;
  }

  async end(names: readonly string[]): Promise<void> {
    await this.ask({ type: 'end', names }, 'ended');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.disconnect();
    await exited;
  }
}

/** What the api process is asked: send these suspensions, at most `concurrency` at once. */
interface SuspensionBurst {
  readonly type: 'suspend';
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly tenantId: string;
  readonly certificateIds: readonly string[];
  readonly concurrency: number;
}

/** Per certificate id, when its request was sent and its answer arrived (epoch ms). */
type BurstTimes = Record<string, { readonly sentAt: number; readonly answeredAt: number }>;

/** Sends each suspension, checks that ccm answered "suspended", and returns when each was sent and answered. */
async function sendSuspensions(burst: Omit<SuspensionBurst, 'type'>): Promise<BurstTimes> {
  const times: BurstTimes = {};
  await pool(burst.certificateIds, burst.concurrency, async (id) => {
    const sentAt = epochNow();
    const response = await fetch(`${burst.url}/v1/tenants/${burst.tenantId}/certificates/${id}/suspend`, { method: 'POST', headers: { ...burst.headers, 'content-type': 'application/json' }, body: '{}' });
    const answeredAt = epochNow();
    const body = (await response.json()) as { state?: string };
    if (response.status !== 200 || body.state !== 'suspended') throw new Error(`suspend ${id}: ${response.status} ${JSON.stringify(body)}`);
    times[id] = { sentAt, answeredAt };
  });
  return times;
}

/** The api process: one burst per message. */
function runApiCaller(): void {
  process.on('message', (burst: SuspensionBurst) => {
    sendSuspensions(burst).then(
      (times) => void process.send!({ type: 'suspended', times }),
      (error: unknown) => void process.send!({ type: 'failed', error: (error as Error).message }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

/** Sends the burst from a process of its own and waits for its times. */
async function suspendFromOwnProcess(burst: Omit<SuspensionBurst, 'type'>): Promise<BurstTimes> {
  const child = fork(new URL(import.meta.url).pathname, ['--api-worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    // Started and ready before the clock matters: the fork's own start-up is not part of the burst.
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return await new Promise<BurstTimes>((resolve, reject) => {
      child.once('message', (answer: { type: 'suspended'; times: BurstTimes } | { type: 'failed'; error: string }) => (answer.type === 'suspended' ? resolve(answer.times) : reject(new Error(answer.error))));
      child.once('exit', (code) => reject(new Error(`the api process exited with ${code}`)));
      child.send({ type: 'suspend', ...burst } satisfies SuspensionBurst);
    });
  } finally {
    if (child.connected) child.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// The run.

interface Device extends FleetDevice {
  readonly id: string;
  /** Epoch ms at which the suspension request was sent, and at which ccm's answer to it arrived. */
  suspendSentAt: number | null;
  suspendAnsweredAt: number | null;
}

async function post<T>(ccm: CcmUnderTest, path: string, body: unknown): Promise<{ status: number; body: T; at: number }> {
  const response = await fetch(`${ccm.url}${path}`, { method: 'POST', headers: { ...ccm.authorization(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const at = epochNow();
  const parsed = (await response.json()) as T;
  return { status: response.status, body: parsed, at };
}

async function get(ccm: CcmUnderTest, path: string): Promise<string> {
  const response = await fetch(`${ccm.url}${path}`, { headers: ccm.authorization() });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
  return response.text();
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await task(items[index]!, index);
      }
    }),
  );
  return results;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(values: readonly number[]): string {
  if (values.length === 0) return 'no samples';
  const sorted = [...values].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms (n=${sorted.length})`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const run = randomUUID().slice(0, 8);
  console.log(`suspend-to-disconnect on ${options.broker}: ${options.devices} live mutual-TLS sessions, ${options.suspend} suspended in one burst (API concurrency ${options.apiConcurrency}, sent from ${options.apiClient === 'process' ? 'a process of its own' : "ccm's process"}), devices reconnect every ${options.reconnectMs} ms; ccm on ${options.database} + ${options.custody} custody; events by ${options.events === 'queue' ? 'the BullMQ queue' : 'the HTTP feed (long polling)'}`);

  const installation = await TestInstallation.create(
    { database: options.database, custody: options.custody },
    // The fleet is issued as fast as ccm can; the default per-credential issuance limit would answer 429 past 200.
    { ...(options.events === 'queue' ? { CCM_REDIS_URL: options.redisUrl } : {}), CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '1000000', CCM_RATE_LIMIT_ISSUANCE_BURST: '1000000' },
  );
  const cleanups: Array<() => Promise<unknown>> = [() => installation.destroy()];
  try {
    const ccm = await installation.start();
    cleanups.unshift(() => ccm.close());
    const tenant = await post<{ id: string }>(ccm, '/v1/tenants', { name: `bench-${run}` });
    if (tenant.status !== 201) throw new Error(`tenant: ${JSON.stringify(tenant.body)}`);
    const tenantId = tenant.body.id;

    let started = performance.now();
    const devices: Device[] = await pool(
      Array.from({ length: options.devices }, (_, i) => i),
      20,
      async (i) => {
        const commonName = `bench-${run}-${String(i).padStart(4, '0')}`;
        const issued = await post<{ id: string; certificatePem: string; privateKeyPem: string }>(ccm, `/v1/tenants/${tenantId}/certificates`, { commonName, ttlSeconds: 3600 });
        if (issued.status !== 201) throw new Error(`issue: ${JSON.stringify(issued.body)}`);
        return { id: issued.body.id, commonName, certificatePem: issued.body.certificatePem, privateKeyPem: issued.body.privateKeyPem, suspendSentAt: null, suspendAnsweredAt: null };
      },
    );
    console.log(`issued ${devices.length} certificates in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    let eventSource: Record<string, string>;
    if (options.events === 'queue') {
      const subscriber = await post<{ id: string }>(ccm, '/v1/event-subscribers', { name: `bench-${options.broker}-${run}`, tenantIds: [tenantId] });
      if (subscriber.status !== 201) throw new Error(`subscriber: ${JSON.stringify(subscriber.body)}`);
      cleanups.push(async () => {
        const queue = new Queue(subscriberQueueName(subscriber.body.id), { connection: { url: options.redisUrl } });
        await queue.obliterate({ force: true }).catch(() => undefined);
        await queue.close();
      });
      eventSource = { CCM_AGENT_REDIS_URL: options.redisUrl, CCM_AGENT_SUBSCRIBER_ID: subscriber.body.id };
    } else {
      eventSource = { CCM_AGENT_CURSOR_FILE: join(installation.workDirectory, `agent-${run}.cursor`) };
    }

    started = performance.now();
    const broker = await startBenchBroker(options.broker, { caChainPem: await get(ccm, `/v1/tenants/${tenantId}/ca-chain`), crlPem: await get(ccm, `/v1/tenants/${tenantId}/crl?format=pem`) });
    cleanups.unshift(() => broker.stop());
    console.log(`${options.broker} started in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    // After the fleet was issued: the agent's start-up reconciliation lets every device in (RabbitMQ and NATS admit only known identities).
    started = performance.now();
    const agent = await broker.startAgent({
      CCM_AGENT_CCM_URL: ccm.url,
      CCM_AGENT_CCM_AUTHORIZATION: `Bearer ${await ccm.createApiKey('broker')}`,
      CCM_AGENT_TENANT_IDS: tenantId,
      ...eventSource,
      CCM_AGENT_LOG_LEVEL: 'debug',
      ...(options.agentConcurrency ? { CCM_AGENT_EVENT_CONCURRENCY: String(options.agentConcurrency) } : {}),
      ...(options.readAhead !== null ? { CCM_AGENT_QUEUE_READ_AHEAD: String(options.readAhead) } : {}),
      // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": profiles the agent, which runs as its own process.
      ...(process.env['CCM_BENCH_AGENT_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['CCM_BENCH_AGENT_NODE_OPTIONS'] } : {}),
    });
    cleanups.unshift(() => agent.stop());
    const reconciled = agent.lines.find((line) => line['msg'] === 'reconciled with ccm');
    console.log(`${options.broker} agent running in ${((performance.now() - started) / 1000).toFixed(1)} s (start-up reconciliation: ${String(reconciled?.['devices'])} devices, read ${String(reconciled?.['readMs'])} ms, enforced ${String(reconciled?.['enforceMs'])} ms)`);

    const fleet = Fleet.start();
    cleanups.unshift(() => fleet.stop());
    started = performance.now();
    const { count } = await fleet.connect(broker.protocol, broker.deviceUrl, broker.serverCaPem, devices.map(({ commonName, certificatePem, privateKeyPem }) => ({ commonName, certificatePem, privateKeyPem })), options.reconnectMs);
    console.log(`${count} sessions connected in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    // The burst.
    const targets = devices.slice(0, options.suspend);
    const bystanders = devices.slice(options.suspend);
    const burst = { url: ccm.url, headers: ccm.authorization(), tenantId, certificateIds: targets.map((device) => device.id), concurrency: options.apiConcurrency };
    const times = options.apiClient === 'process' ? await suspendFromOwnProcess(burst) : await sendSuspensions(burst);
    const burstStart = Math.min(...Object.values(times).map((time) => time.sentAt));
    for (const device of targets) {
      device.suspendSentAt = times[device.id]!.sentAt;
      device.suspendAnsweredAt = times[device.id]!.answeredAt;
    }
    const burstAnswered = epochNow();
    // The first close once the request was sent: the agent may kick before ccm's answer reaches the caller (the
    // answer waits for the audit row, the event does not), which shows as a negative answered → closed time.
    const closedAfterSuspension = (report: FleetReport, device: Device): number | undefined => report.closes[device.commonName]!.find((at) => at >= device.suspendSentAt!);
    let report = await fleet.report();
    const deadline = Date.now() + 60_000;
    while (targets.some((d) => closedAfterSuspension(report, d) === undefined) && Date.now() < deadline) {
      await sleep(50);
      report = await fleet.report();
    }
    // Let the suspended devices try their way back in: several reconnect periods, and beyond the agent's re-kicks.
    await sleep(Math.max(3000, options.reconnectMs * 5));
    report = await fleet.report();

    const latencies = targets.flatMap((d) => {
      const closed = closedAfterSuspension(report, d);
      return closed === undefined ? [] : [closed - d.suspendAnsweredAt!];
    });
    const fromSent = targets.flatMap((d) => {
      const closed = closedAfterSuspension(report, d);
      return closed === undefined ? [] : [closed - d.suspendSentAt!];
    });
    const lastClose = Math.max(...targets.map((d) => closedAfterSuspension(report, d) ?? Number.NaN));
    const stillOpen = targets.length - latencies.length;
    // Any connect after the kick counts, also one before the answer arrived.
    const reconnected = targets.filter((d) => report.connects[d.commonName]!.some((at) => at > (closedAfterSuspension(report, d) ?? d.suspendAnsweredAt!)));
    const bystanderDrops = bystanders.filter((d) => report.closes[d.commonName]!.length > 0);
    const logged = (message: string, field: string, where: (line: Record<string, unknown>) => boolean = () => true): number[] => agent.lines.filter((line) => line['msg'] === message && where(line)).map((line) => Number(line[field]));
    const suspension = (line: Record<string, unknown>): boolean => line['eventType'] === 'certificate.suspended';
    const shutOutCalls = agent.lines.filter((line) => line['msg'] === 'broker call done' && line['operation'] === 'shutOut');
    // Per suspended device, answered → closed split at the agent's log (same machine, millisecond clock): ccm's relay
    // after the answer (negative: queued before the answer arrived), the queue, and the agent's kick until the close.
    // The feed has no queue: its whole delivery counts as the first part (commit → page received), the wait as 0.
    const deliveredAt = new Map(agent.lines.filter((line) => line['msg'] === 'event delivered').map((line) => [String(line['eventId']), { taken: Date.parse(String(line['time'])), queueWaitMs: Number(line['queueWaitMs'] ?? 0) }]));
    const suspensionEventOf = new Map(agent.lines.filter((line) => line['msg'] === 'event enforced' && suspension(line)).map((line) => [String(line['certificateId']), String(line['eventId'])]));
    const split = targets.flatMap((d) => {
      const closed = closedAfterSuspension(report, d);
      const delivered = deliveredAt.get(suspensionEventOf.get(d.id) ?? '');
      return closed === undefined || !delivered ? [] : [{ relay: delivered.taken - delivered.queueWaitMs - d.suspendAnsweredAt!, queue: delivered.queueWaitMs, agent: closed - delivered.taken }];
    });
    const requests = (pattern: RegExp): number[] => agent.lines.filter((line) => line['msg'] === 'ccm request' && pattern.test(String(line['path']))).map((line) => Number(line['ms']));

    console.log('');
    console.log(`API burst: ${targets.length} suspensions answered in ${(burstAnswered - burstStart).toFixed(0)} ms; the last suspended session closed ${(lastClose - burstStart).toFixed(0)} ms after the burst began`);
    console.log(`suspend answered → connection closed: ${summary(latencies)}${latencies.some((ms) => ms < 0) ? `; ${latencies.filter((ms) => ms < 0).length} closed before the answer arrived` : ''}`);
    console.log(`  suspend sent → answered: ${summary(targets.map((d) => d.suspendAnsweredAt! - d.suspendSentAt!))}; suspend sent → connection closed: ${summary(fromSent)}`);
    if (options.events === 'queue') {
      console.log(`  event committed → put on the subscriber's queue by ccm's relay: ${summary(logged('event delivered', 'relayLagMs'))}`);
      console.log(`  queued → taken by the agent's worker: ${summary(logged('event delivered', 'queueWaitMs'))}`);
      console.log(`  answered → closed, split per device: answered → queued (ccm's relay after the answer) ${summary(split.map((x) => x.relay))}; queued → taken ${summary(split.map((x) => x.queue))}; taken by the agent → closed (its kick) ${summary(split.map((x) => x.agent))}`);
    } else {
      console.log(`  event committed → received by the agent in a feed page: ${summary(logged('event delivered', 'feedLagMs'))}`);
      console.log(`  answered → closed, split per device: answered → received (negative: before the answer arrived) ${summary(split.map((x) => x.relay))}; received by the agent → closed (its kick) ${summary(split.map((x) => x.agent))}`);
    }
    console.log(`  event committed → enforced by the agent (certificate read, broker call done): ${summary(logged('event enforced', 'eventLagMs', suspension))}`);
    console.log(`  the agent's enforcement per event (after the certificate read: the broker round it joined, incl. waiting for the round in flight): ${summary(logged('event enforced', 'enforceMs', suspension))}`);
    console.log(`  agent → ccm: GET crl ${summary(requests(/\/crl$/))}; GET certificate ${summary(requests(/\/certificates\/[0-9a-f-]+$/))}`);
    console.log(`  the core's shutOut calls: ${shutOutCalls.length} for ${shutOutCalls.reduce((n, line) => n + Number(line['devices']), 0)} devices (${shutOutCalls.map((line) => line['devices']).join(', ')}), each ${summary(shutOutCalls.map((line) => Number(line['ms'])))}`);
    for (const line of broker.agentBreakdown(agent.lines, summary)) console.log(line);
    console.log(`suspended devices still connected after 60 s: ${stillOpen}`);
    console.log(`suspended devices that reconnected: ${reconnected.length}${reconnected.length ? ` (${reconnected.map((d) => d.commonName).join(', ')})` : ''}; reconnect attempts by them meanwhile: ${targets.reduce((n, d) => n + report.attempts[d.commonName]!, 0)}`);
    console.log(`bystanders dropped: ${bystanderDrops.length} of ${bystanders.length}`);

    // Broker-side costs with the bystanders' sessions up (the suspended devices stop knocking first).
    await fleet.end(targets.map((d) => d.commonName));
    await sleep(500);
    const underLoad = await broker.measureUnderLoad(
      {
        ccmGet: (path) => get(ccm, path),
        tenantId,
        connectedDevices: bystanders.map((d) => d.commonName),
        closedSince: async (commonName, since, timeoutMs) => {
          const deadline = performance.now() + timeoutMs;
          for (;;) {
            const closed = (await fleet.report()).closes[commonName]!.find((at) => at >= since);
            if (closed !== undefined || performance.now() > deadline) return closed;
            await sleep(5);
          }
        },
        now: epochNow,
      },
      summary,
    );
    for (const line of underLoad) console.log(line);
    if (options.agentLog) await writeFile(options.agentLog, agent.lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    if (stillOpen > 0 || reconnected.length > 0 || bystanderDrops.length > 0) process.exitCode = 1;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
  }
}

if (process.argv.includes('--fleet-worker')) {
  runFleet();
} else if (process.argv.includes('--api-worker')) {
  runApiCaller();
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
