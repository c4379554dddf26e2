/**
 * Benchmark: how long from "suspend" answered by ccm's API to the device's
 * MQTT connection closing, with many live mutual-TLS sessions on a real
 * Mosquitto guarded by the agent. Also: whether any suspended device got
 * back in (each reconnects every --reconnect-ms), whether any bystander was
 * dropped, and the broker-side costs under that load (kick, SIGHUP applied).
 *
 *   npm run build && node dist/bench/suspend-to-disconnect.js [--devices=250] [--suspend=100]
 *       [--reconnect-ms=1000] [--api-concurrency=100] [--agent-concurrency=N] [--database=postgres|sqlite] [--custody=local|vault]
 *       [--agent-log=FILE]
 *
 * The devices live in a child process of their own (the same script, in
 * fleet mode), so their TLS handshakes do not starve ccm's event loop in
 * this one; times cross the process boundary as epoch milliseconds with
 * sub-millisecond precision (performance.timeOrigin + performance.now()).
 *
 * Needs what the e2e tests need: PostgreSQL (for --database=postgres) and
 * Redis on 127.0.0.1, Mosquitto 2.0 with the dynsec plugin, openssl.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import mqtt from 'mqtt';
import { subscriberQueueName } from '../dist/src/events/certificate-event.js';
import { AtomicCrlFile } from '../dist/src/mosquitto-agent/crl-file.js';
import { DynsecBrokerControl } from '../dist/src/mosquitto-agent/dynsec-control.js';
import { SighupReloader } from '../dist/src/mosquitto-agent/process-signaller.js';
import { TestInstallation } from '../dist/test/support/ccm-under-test.js';
import { MosquittoAgentProcess, MosquittoUnderTest } from '../dist/test/support/mosquitto.js';
function parseOptions(argv) {
    const named = new Map(argv.map((arg) => arg.replace(/^--/, '').split('=')));
    const integer = (name, fallback, min) => {
        const raw = named.get(name);
        const value = raw === undefined ? fallback : Number(raw);
        if (!Number.isInteger(value) || value < min)
            throw new Error(`--${name} must be an integer ≥ ${min}`);
        return value;
    };
    const devices = integer('devices', 250, 2);
    const suspend = integer('suspend', Math.min(100, devices - 1), 1);
    if (suspend >= devices)
        throw new Error('--suspend must leave at least one device connected');
    const database = (named.get('database') ?? 'postgres');
    const custody = (named.get('custody') ?? 'local');
    if (!['postgres', 'sqlite'].includes(database) || !['local', 'vault'].includes(custody))
        throw new Error('--database is postgres or sqlite, --custody local or vault');
    return { devices, suspend, reconnectMs: integer('reconnect-ms', 1000, 0), apiConcurrency: integer('api-concurrency', 100, 1), agentConcurrency: named.has('agent-concurrency') ? integer('agent-concurrency', 16, 1) : null, agentLog: named.get('agent-log') ?? null, database, custody, redisUrl: process.env['CCM_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379' };
}
/** Wall-clock milliseconds with sub-millisecond precision, comparable between processes on one machine. */
function epochNow() {
    return performance.timeOrigin + performance.now();
}
function runFleet() {
    const clients = new Map();
    const report = { closes: {}, connects: {} };
    const reply = (message) => void process.send(message);
    process.on('message', (command) => {
        if (command.type === 'connect') {
            void pool(command.devices, 50, async (device) => {
                report.closes[device.commonName] = [];
                report.connects[device.commonName] = [];
                const client = mqtt.connect(command.url, { ca: command.serverCaPem, cert: device.certificatePem, key: device.privateKeyPem, reconnectPeriod: command.reconnectMs, connectTimeout: 10_000, keepalive: 60, protocolVersion: 4 });
                client.on('error', () => undefined);
                client.on('close', () => report.closes[device.commonName].push(epochNow()));
                client.on('connect', () => report.connects[device.commonName].push(epochNow()));
                clients.set(device.commonName, client);
                await new Promise((resolve) => client.once('connect', () => resolve()));
            }).then(() => reply({ type: 'connected', count: clients.size }));
        }
        else if (command.type === 'report') {
            reply({ type: 'report', report });
        }
        else if (command.type === 'end') {
            for (const name of command.names)
                clients.get(name)?.end(true);
            reply({ type: 'ended' });
        }
    });
    process.on('disconnect', () => {
        for (const client of clients.values())
            client.end(true);
        process.exit(0);
    });
}
class Fleet {
    child;
    constructor(child) {
        this.child = child;
    }
    static start() {
        const child = fork(new URL(import.meta.url).pathname, ['--fleet-worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        return new Fleet(child);
    }
    ask(command, answer) {
        return new Promise((resolve, reject) => {
            const onMessage = (message) => {
                if (message.type !== answer)
                    return;
                this.child.off('message', onMessage);
                resolve(message);
            };
            this.child.on('message', onMessage);
            const onExit = (code) => reject(new Error(`the fleet process exited with ${code}`));
            this.child.once('exit', onExit);
            this.child.on('message', function cleanup(message) {
                if (message.type !== answer)
                    return;
                this.off('exit', onExit);
                this.off('message', cleanup);
            });
            this.child.send(command);
        });
    }
    connect(url, serverCaPem, devices, reconnectMs) {
        return this.ask({ type: 'connect', url, serverCaPem, devices, reconnectMs }, 'connected');
    }
    async report() {
        return (await this.ask({ type: 'report' }, 'report')).report;
    }
    async end(names) {
        await this.ask({ type: 'end', names }, 'ended');
    }
    async stop() {
        if (this.child.exitCode !== null)
            return;
        const exited = new Promise((resolve) => this.child.once('exit', resolve));
        this.child.disconnect();
        await exited;
    }
}
async function post(ccm, path, body) {
    const response = await fetch(`${ccm.url}${path}`, { method: 'POST', headers: { ...ccm.authorization(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const at = epochNow();
    const parsed = (await response.json());
    return { status: response.status, body: parsed, at };
}
async function get(ccm, path) {
    const response = await fetch(`${ccm.url}${path}`, { headers: ccm.authorization() });
    if (!response.ok)
        throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return response.text();
}
/** Runs `task` over `items` with at most `limit` in flight. */
async function pool(items, limit, task) {
    const results = new Array(items.length);
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
        while (next < items.length) {
            const index = next++;
            results[index] = await task(items[index], index);
        }
    }));
    return results;
}
function percentile(sorted, p) {
    if (sorted.length === 0)
        return Number.NaN;
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
function summary(values) {
    if (values.length === 0)
        return 'no samples';
    const sorted = [...values].sort((a, b) => a - b);
    return `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted.at(-1).toFixed(1)} ms (n=${sorted.length})`;
}
function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
async function main() {
    const options = parseOptions(process.argv.slice(2));
    const run = randomUUID().slice(0, 8);
    console.log(`suspend-to-disconnect: ${options.devices} live mutual-TLS sessions, ${options.suspend} suspended in one burst (API concurrency ${options.apiConcurrency}), devices reconnect every ${options.reconnectMs} ms; ccm on ${options.database} + ${options.custody} custody`);
    const installation = await TestInstallation.create({ database: options.database, custody: options.custody }, 
    // The fleet is issued as fast as ccm can; the default per-credential issuance limit would answer 429 past 200.
    { CCM_REDIS_URL: options.redisUrl, CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '1000000', CCM_RATE_LIMIT_ISSUANCE_BURST: '1000000' });
    const cleanups = [() => installation.destroy()];
    try {
        const ccm = await installation.start();
        cleanups.unshift(() => ccm.close());
        const tenant = await post(ccm, '/v1/tenants', { name: `bench-${run}` });
        if (tenant.status !== 201)
            throw new Error(`tenant: ${JSON.stringify(tenant.body)}`);
        const tenantId = tenant.body.id;
        let started = performance.now();
        const devices = await pool(Array.from({ length: options.devices }, (_, i) => i), 20, async (i) => {
            const commonName = `bench-${run}-${String(i).padStart(4, '0')}`;
            const issued = await post(ccm, `/v1/tenants/${tenantId}/certificates`, { commonName, ttlSeconds: 3600 });
            if (issued.status !== 201)
                throw new Error(`issue: ${JSON.stringify(issued.body)}`);
            return { id: issued.body.id, commonName, certificatePem: issued.body.certificatePem, privateKeyPem: issued.body.privateKeyPem, suspendSentAt: null, suspendAnsweredAt: null };
        });
        console.log(`issued ${devices.length} certificates in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        const subscriber = await post(ccm, '/v1/event-subscribers', { name: `bench-mosquitto-${run}`, tenantIds: [tenantId] });
        if (subscriber.status !== 201)
            throw new Error(`subscriber: ${JSON.stringify(subscriber.body)}`);
        cleanups.push(async () => {
            const queue = new Queue(subscriberQueueName(subscriber.body.id), { connection: { url: options.redisUrl } });
            await queue.obliterate({ force: true }).catch(() => undefined);
            await queue.close();
        });
        const broker = await MosquittoUnderTest.start({ clientCaPem: await get(ccm, `/v1/tenants/${tenantId}/ca-chain`), crlPem: await get(ccm, `/v1/tenants/${tenantId}/crl?format=pem`), logTypes: ['error', 'warning'] });
        cleanups.unshift(() => broker.stop());
        const scratch = await mkdtemp(join(tmpdir(), 'ccm-bench-'));
        cleanups.push(() => rm(scratch, { recursive: true, force: true }));
        await writeFile(join(scratch, 'mqtt-password'), broker.adminPassword, { mode: 0o600 });
        const agent = await MosquittoAgentProcess.start({
            CCM_AGENT_CCM_URL: ccm.url,
            CCM_AGENT_CCM_AUTHORIZATION: `Bearer ${await ccm.createApiKey('broker')}`,
            CCM_AGENT_TENANT_IDS: tenantId,
            ...broker.agentEnvironment(join(scratch, 'mqtt-password')),
            CCM_AGENT_REDIS_URL: options.redisUrl,
            CCM_AGENT_SUBSCRIBER_ID: subscriber.body.id,
            CCM_AGENT_LOG_LEVEL: 'debug',
            ...(options.agentConcurrency ? { CCM_AGENT_EVENT_CONCURRENCY: String(options.agentConcurrency) } : {}),
            // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": profiles the agent, which runs as its own process.
            ...(process.env['CCM_BENCH_AGENT_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['CCM_BENCH_AGENT_NODE_OPTIONS'] } : {}),
        });
        cleanups.unshift(() => agent.stop());
        const fleet = Fleet.start();
        cleanups.unshift(() => fleet.stop());
        started = performance.now();
        const { count } = await fleet.connect(broker.tlsUrl, broker.serverCaPem, devices.map(({ commonName, certificatePem, privateKeyPem }) => ({ commonName, certificatePem, privateKeyPem })), options.reconnectMs);
        console.log(`${count} sessions connected in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        // The burst.
        const targets = devices.slice(0, options.suspend);
        const bystanders = devices.slice(options.suspend);
        const { DataSource } = await import('typeorm');
        const ds = ccm.app.get(DataSource);
        const pgPool = ds.driver.master;
        const samples = [];
        const sampler = setInterval(() => samples.push([Math.round(epochNow() - burstStart), pgPool.waitingCount, pgPool.totalCount - pgPool.idleCount]), 100);
        const burstStart = epochNow();
        await pool(targets, options.apiConcurrency, async (device) => {
            device.suspendSentAt = epochNow();
            const answer = await post(ccm, `/v1/tenants/${tenantId}/certificates/${device.id}/suspend`, {});
            if (answer.status !== 200 || answer.body.state !== 'suspended')
                throw new Error(`suspend ${device.commonName}: ${answer.status} ${JSON.stringify(answer.body)}`);
            device.suspendAnsweredAt = answer.at;
        });
        const burstAnswered = epochNow();
        // The first close once the request was sent: the agent may kick before ccm's answer reaches the caller (the
        // answer waits for the audit row, the event does not), which shows as a negative answered → closed time.
        const closedAfterSuspension = (report, device) => report.closes[device.commonName].find((at) => at >= device.suspendSentAt);
        let report = await fleet.report();
        const deadline = Date.now() + 60_000;
        while (targets.some((d) => closedAfterSuspension(report, d) === undefined) && Date.now() < deadline) {
            await sleep(50);
            report = await fleet.report();
        }
        // Let the suspended devices try their way back in: several reconnect periods, and beyond the agent's re-kicks.
        clearInterval(sampler);
        console.log('pool (ms, waiting, busy): ' + samples.map((x) => x.join('/')).join(' '));
        await sleep(Math.max(3000, options.reconnectMs * 5));
        report = await fleet.report();
        const latencies = targets.flatMap((d) => {
            const closed = closedAfterSuspension(report, d);
            return closed === undefined ? [] : [closed - d.suspendAnsweredAt];
        });
        const fromSent = targets.flatMap((d) => {
            const closed = closedAfterSuspension(report, d);
            return closed === undefined ? [] : [closed - d.suspendSentAt];
        });
        if (process.env.DEVICE_DUMP) (await import('node:fs')).writeFileSync(process.env.DEVICE_DUMP, JSON.stringify(targets.map((d) => ({ id: d.id, cn: d.commonName, sent: d.suspendSentAt, answered: d.suspendAnsweredAt, closed: closedAfterSuspension(report, d) }))));
        const lastClose = Math.max(...targets.map((d) => closedAfterSuspension(report, d) ?? Number.NaN));
        const stillOpen = targets.length - latencies.length;
        // Any connect after the kick counts, also one before the answer arrived.
        const reconnected = targets.filter((d) => report.connects[d.commonName].some((at) => at > (closedAfterSuspension(report, d) ?? d.suspendAnsweredAt)));
        const bystanderDrops = bystanders.filter((d) => report.closes[d.commonName].length > 0);
        const logged = (message, field) => agent.lines.filter((line) => line['msg'] === message).map((line) => Number(line[field]));
        const requests = (pattern) => agent.lines.filter((line) => line['msg'] === 'ccm request' && pattern.test(String(line['path']))).map((line) => Number(line['ms']));
        console.log('');
        console.log(`API burst: ${targets.length} suspensions answered in ${(burstAnswered - burstStart).toFixed(0)} ms; the last suspended session closed ${(lastClose - burstStart).toFixed(0)} ms after the burst began`);
        console.log(`suspend answered → connection closed: ${summary(latencies)}${latencies.some((ms) => ms < 0) ? `; ${latencies.filter((ms) => ms < 0).length} closed before the answer arrived` : ''}`);
        console.log(`  suspend sent → answered: ${summary(targets.map((d) => d.suspendAnsweredAt - d.suspendSentAt))}; suspend sent → connection closed: ${summary(fromSent)}`);
        console.log(`  event committed → put on the subscriber's queue by ccm's relay: ${summary(logged('event delivered', 'relayLagMs'))}`);
        console.log(`  queued → taken by the agent's worker: ${summary(logged('event delivered', 'queueWaitMs'))}`);
        console.log(`  event committed → agent began handling it: ${summary(logged('event received', 'eventLagMs'))}`);
        console.log(`  event committed → agent kicked: ${summary(logged('device kicked', 'eventLagMs'))}`);
        console.log(`  agent per suspension: reading ccm ${summary(logged('device kicked', 'readMs'))}; waiting for the crlfile write + SIGHUP ${summary(logged('device kicked', 'installMs'))}; kick ${summary(logged('device kicked', 'kickMs'))}`);
        console.log(`  agent → ccm: GET crl ${summary(requests(/\/crl$/))}; GET certificate ${summary(requests(/\/certificates\/[0-9a-f-]+$/))}`);
        console.log(`  crlfile writes + SIGHUPs by the agent: ${agent.lines.filter((line) => line['msg'] === 'CRLs installed, Mosquitto reloading').length} (start-up included)`);
        console.log(`suspended devices still connected after 60 s: ${stillOpen}`);
        console.log(`suspended devices that reconnected: ${reconnected.length}${reconnected.length ? ` (${reconnected.map((d) => d.commonName).join(', ')})` : ''}`);
        console.log(`bystanders dropped: ${bystanderDrops.length} of ${bystanders.length}`);
        // Broker-side costs with the bystanders' sessions up (the suspended devices stop knocking first).
        await fleet.end(targets.map((d) => d.commonName));
        await sleep(500);
        const control = await DynsecBrokerControl.connect({ url: broker.adminUrl, username: broker.adminUsername, password: broker.adminPassword });
        try {
            const crlFile = new AtomicCrlFile(broker.crlFile);
            const reloader = new SighupReloader({ kind: 'file', path: broker.pidFile });
            const crl = await get(ccm, `/v1/tenants/${tenantId}/crl?format=pem`);
            const reloads = [];
            for (let i = 0; i < 20; i++) {
                await crlFile.install(crl);
                const at = performance.now();
                await reloader.reload();
                await control.roundTrip();
                reloads.push(performance.now() - at);
                await sleep(20);
            }
            const kicks = [];
            for (const device of bystanders.slice(0, 20)) {
                const at = epochNow();
                await control.disableClients([device.commonName]);
                let closed;
                for (let i = 0; i < 100 && closed === undefined; i++) {
                    closed = (await fleet.report()).closes[device.commonName].find((t) => t >= at);
                    if (closed === undefined)
                        await sleep(5);
                }
                if (closed !== undefined)
                    kicks.push(closed - at);
            }
            console.log(`with ${bystanders.length} sessions up: SIGHUP → reload applied (admin round trip answered): ${summary(reloads)}`);
            console.log(`with ${bystanders.length} sessions up: disableClient → session closed: ${summary(kicks)}`);
        }
        finally {
            await control.close();
        }
        if (options.agentLog)
            await writeFile(options.agentLog, agent.lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
        if (stillOpen > 0 || reconnected.length > 0 || bystanderDrops.length > 0)
            process.exitCode = 1;
    }
    finally {
        for (const cleanup of cleanups)
            await cleanup().catch((error) => console.error(`cleanup: ${error.message}`));
    }
}
if (process.argv.includes('--fleet-worker')) {
    runFleet();
}
else {
    main().catch((error) => {
        console.error(error);
        process.exit(1);
    });
}
//# sourceMappingURL=suspend-to-disconnect.js.map