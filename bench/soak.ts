/**
 * Soak: ccm's memory under a steady, mixed load for a long run.
 *
 *   npm run build && node dist/bench/soak.js [--minutes=10] [--rate=40] [--loops=16] [--sample-seconds=30]
 *       [--warmup-seconds=60] [--workers=N]
 *
 * ccm runs as its own process (`node dist/src/main.js`, or N cluster workers
 * with --workers, passed on as CCM_WORKERS) on PostgreSQL with local custody
 * and the Redis relay on, with one event subscriber whose queue this process
 * consumes (so the relay publishes every event, and the queue does not pile
 * up in Redis). From this process `--loops` callers drive, together, about
 * `--rate` requests per second (each paced to its share, never more than one
 * request in flight) for `--minutes` in all, picking each request by weight:
 *
 *   issue from a CSR (tenant key) 14 · issue with a server-made key 8 ·
 *   authenticate by certificate (broker key; the first use activates) 34 ·
 *   OCSP 12 · CRL (broker API, PEM, and the public distribution point, DER) 8 ·
 *   list certificates 4 · suspend 8 · reactivate 7 · revoke 5
 *
 * Authentications and OCSP requests go to certificates this run issued, in
 * whatever state they are (a suspended or revoked one must be refused with
 * 403, which counts as the expected answer); the life-cycle operations pick a
 * certificate in a state they apply to, and one certificate is never in two
 * requests at once. Reactivations follow suspensions, so suspended
 * certificates do not pile up; revocations do, slowly, so the CRL grows
 * during the run the way it would in service.
 *
 * The resident set size of ccm's process tree (rssMiB, cluster workers
 * included) is sampled every `--sample-seconds`, twice: as found, and right
 * after a full garbage collection that this process asks ccm's V8 for through
 * its inspector (ccm is started with --inspect on a loopback port; not with
 * --workers, where the HTTP work is in processes the primary's inspector does
 * not reach), together with the V8 heap in use at that moment. The first
 * `--warmup-seconds` are load without measurement: code is compiled, pools
 * and caches fill. Printed for each series: the value at the end of the
 * warm-up ("start") and at the end, the maximum, the least-squares slope over
 * the last half of the measured samples (MiB per minute), plus CPU seconds,
 * and requests and errors per kind.
 *
 * Why after a collection: as found, RSS is a sawtooth. The heap grows until
 * V8 collects it, and on a first run that swing was 170 to 277 MiB with a
 * period of two or three minutes, so 30-second samples of it say more about
 * where the collector was than about what ccm keeps; after a full collection
 * the same load measured flat within 2 MiB. The verdict is on RSS and heap
 * after a collection (on RSS as found with --workers), each failing
 * (exit 1) on:
 * - growth: end more than 25% above start. A process that keeps no
 *   per-request state ends where it started, give or take its allocator's
 *   slack; a quarter is well above that and well below what a leak of a few
 *   hundred bytes per request adds over the run (~150 MiB at 40 requests/s
 *   for 10 minutes at 1 KiB each).
 * - a steady upward slope: the last half's slope above 1% of start per minute
 *   AND the lowest sample of the last half more than 5% above the lowest of
 *   the first half. Both must hold, so that noise in a few samples or a cache
 *   filling once does not fail the run, while a leak too slow for the 25%
 *   bound within 10 minutes still does.
 * Whatever the memory did, the run also fails when more than 1% of the
 * requests were answered other than expected: a failed load is no soak.
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its providers through tsyringe, which needs it
import { execFile } from 'node:child_process';
import { createHash, webcrypto } from 'node:crypto';
import { Queue } from 'bullmq';
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { CcmEventConsumer } from '@ccm/event-consumer';
import { subscriberQueueName } from '@ccm/event-consumer/contract';
import { TestInstallation } from '../test/support/ccm-under-test.js';
import { ServerProcess, freePort } from '../test/support/server-process.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
function numberOption(name: string, fallback: number, min: number): number {
  const value = args.has(name) ? Number(args.get(name)) : fallback;
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number ≥ ${min}`);
  return value;
}
const MINUTES = numberOption('minutes', 10, 1);
const RATE = numberOption('rate', 40, 1);
const LOOPS = Math.round(numberOption('loops', 16, 1));
const SAMPLE_SECONDS = numberOption('sample-seconds', 30, 1);
const WARMUP_SECONDS = Math.min(numberOption('warmup-seconds', 60, 0), (MINUTES * 60) / 4);
const WORKERS = args.get('workers');
const REDIS_URL = process.env['CCM_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const GROWTH_LIMIT = 0.25;
const SLOPE_LIMIT_PER_MINUTE = 0.01;
const FLOOR_RISE_LIMIT = 0.05;
const ERROR_LIMIT = 0.01;
/** Certificates kept to authenticate, check and change; older ones are forgotten (ccm keeps them all). */
const KNOWN_CERTIFICATES = 3000;

type Operation = 'issue-csr' | 'issue-keygen' | 'authenticate' | 'ocsp' | 'crl' | 'list' | 'suspend' | 'reactivate' | 'revoke';
const WEIGHTS: ReadonlyArray<readonly [Operation, number]> = [
  ['issue-csr', 14],
  ['issue-keygen', 8],
  ['authenticate', 34],
  ['ocsp', 12],
  ['crl', 8],
  ['list', 4],
  ['suspend', 8],
  ['reactivate', 7],
  ['revoke', 5],
];

interface Known {
  readonly id: string;
  readonly serialNumber: string;
  readonly certificatePem: string;
  state: 'inactive' | 'active' | 'suspended' | 'revoked';
  busy: boolean;
}

interface Tally {
  ok: number;
  errors: number;
  readonly latencies: number[];
  lastError: string | null;
}

interface Sample {
  readonly seconds: number;
  /** As found: wherever the garbage collector happens to be in its cycle. */
  readonly rssMiB: number;
  /** Right after a full collection in ccm (null with --workers: only the primary could be asked). */
  readonly settledRssMiB: number | null;
  readonly heapMiB: number | null;
  readonly cpuSeconds: number;
  readonly requests: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Least-squares slope of y over x. */
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

// ---------------------------------------------------------------------------------------------
// OCSP requests (RFC 6960 §4.1.1), one certificate each, SHA-1 CertID as every client sends.

function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const length = body.length < 0x80 ? Buffer.from([body.length]) : body.length < 0x100 ? Buffer.from([0x81, body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

function ocspRequest(issuerNameDer: Buffer, issuerPublicKey: Buffer, serialHex: string): Buffer {
  const sha1 = (data: Buffer): Buffer => createHash('sha1').update(data).digest();
  let serial = Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex');
  if (serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  const algorithm = der(0x30, Buffer.from('06052b0e03021a', 'hex'), Buffer.from('0500', 'hex'));
  const certId = der(0x30, algorithm, der(0x04, sha1(issuerNameDer)), der(0x04, sha1(issuerPublicKey)), der(0x02, serial));
  return der(0x30, der(0x30, der(0x30, der(0x30, certId))));
}

// ---------------------------------------------------------------------------------------------
// A full garbage collection in ccm, through its inspector (Chrome DevTools Protocol over a WebSocket: Node 20 has
// WebSocket behind a flag, so a short-lived helper process speaks it).

const COLLECT_AND_MEASURE = `
const [target] = await (await fetch('http://127.0.0.1:' + process.argv[1] + '/json/list')).json();
const ws = new WebSocket(target.webSocketDebuggerUrl);
let id = 0;
const pending = new Map();
ws.onmessage = (message) => { const reply = JSON.parse(message.data); pending.get(reply.id)?.(reply); };
const call = (method) => new Promise((resolve) => { const n = ++id; pending.set(n, resolve); ws.send(JSON.stringify({ id: n, method })); });
await new Promise((resolve) => (ws.onopen = resolve));
await call('HeapProfiler.collectGarbage');
console.log(JSON.stringify((await call('Runtime.getHeapUsage')).result));
ws.close();
`;

/** ccm's V8 heap in use right after a full collection, in MiB; null when the inspector cannot be reached. */
function collectGarbage(inspectorPort: number): Promise<number | null> {
  // Never synchronously: this process must go on reading ccm's output (ccm blocks writing to a full pipe) and loading it.
  return new Promise((resolve) => {
    execFile(process.execPath, ['--experimental-websocket', '--no-warnings', '--input-type=module', '-e', COLLECT_AND_MEASURE, String(inspectorPort)], { encoding: 'utf8', timeout: 30_000 }, (error, stdout) => {
      try {
        resolve(error ? null : (JSON.parse(stdout) as { usedSize: number }).usedSize / 1024 / 1024);
      } catch {
        resolve(null);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const measuredSeconds = MINUTES * 60 - WARMUP_SECONDS;
  console.log(
    `soak: ${MINUTES} min (${WARMUP_SECONDS} s warm-up), about ${RATE} requests/s from ${LOOPS} loops, RSS every ${SAMPLE_SECONDS} s; ccm${WORKERS ? ` with ${WORKERS} workers` : ''} on postgres + local custody, Redis relay with one consuming subscriber`,
  );
  const installation = await TestInstallation.create(
    { database: 'postgres', custody: 'local' },
    {
      CCM_LOG_LEVEL: 'warn',
      CCM_REDIS_URL: REDIS_URL,
      // The limits guard a shared service; here one tenant key and one broker key are the whole load.
      CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '1000000',
      CCM_RATE_LIMIT_ISSUANCE_BURST: '1000000',
      CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND: '1000000',
      CCM_RATE_LIMIT_AUTHENTICATION_BURST: '1000000',
      ...(WORKERS !== undefined ? { CCM_WORKERS: WORKERS } : {}),
    },
  );
  const cleanups: Array<() => Promise<unknown>> = [() => installation.destroy()];
  try {
    // Without cluster workers ccm is one process, and its inspector can be asked for a full collection before a sample.
    const inspectorPort = WORKERS === undefined ? await freePort() : null;
    const ccm = await ServerProcess.ccm({ ...installation.env, ...(inspectorPort ? { NODE_OPTIONS: `--inspect=127.0.0.1:${inspectorPort}` } : {}) });
    cleanups.unshift(() => ccm.stop());
    const call = async (method: string, path: string, authorization: string | null, body?: unknown, contentType = 'application/json'): Promise<Response> =>
      fetch(`${ccm.url}${path}`, {
        method,
        headers: { ...(authorization ? { authorization } : {}), ...(body !== undefined ? { 'content-type': contentType } : {}) },
        ...(body !== undefined ? { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    const admin = `Bearer ${installation.adminKey}`;
    const created = async <T>(path: string, body: unknown): Promise<T> => {
      const response = await call('POST', path, admin, body);
      if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as T;
    };
    const tenant = await created<{ id: string; rootAuthority: { id: string } }>('/v1/tenants', { name: `soak-${Date.now()}` });
    const authorityId = tenant.rootAuthority.id;
    const tenantKey = `Bearer ${(await created<{ key: string }>('/v1/api-credentials', { name: 'soak-tenant', role: 'tenant', tenantId: tenant.id })).key}`;
    const brokerKey = `Bearer ${(await created<{ key: string }>('/v1/api-credentials', { name: 'soak-broker', role: 'broker' })).key}`;
    const subscriber = await created<{ id: string }>('/v1/event-subscribers', { name: `soak-${Date.now()}`, tenantIds: [tenant.id] });
    let eventsConsumed = 0;
    const consumer = new CcmEventConsumer({ redis: REDIS_URL, subscriberId: subscriber.id, concurrency: 16, handler: async () => void (eventsConsumed += 1) });
    await consumer.start();
    cleanups.unshift(() => consumer.close());
    cleanups.push(async () => {
      const queue = new Queue(subscriberQueueName(subscriber.id), { connection: { url: REDIS_URL } });
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    });

    const chain = await (await call('GET', `/v1/tenants/${tenant.id}/ca-chain`, tenantKey)).text();
    const ca = new x509.X509Certificate(chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
    const caNameDer = Buffer.from(ca.subjectName.toArrayBuffer());
    const caKeyBits = Buffer.from(AsnConvert.parse(ca.publicKey.rawData, SubjectPublicKeyInfo).subjectPublicKey);
    const csrs: string[] = [];
    for (let i = 0; i < 16; i++) {
      const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as unknown as webcrypto.CryptoKeyPair;
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=soak-csr-${i}`, keys: keys as never, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } }, webcrypto as never);
      csrs.push(csr.toString('pem'));
    }

    const known: Known[] = [];
    const tallies = new Map<Operation, Tally>(WEIGHTS.map(([operation]) => [operation, { ok: 0, errors: 0, latencies: [], lastError: null }]));
    const totalWeight = WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0);
    const pick = (): Operation => {
      let roll = Math.random() * totalWeight;
      for (const [operation, weight] of WEIGHTS) if ((roll -= weight) < 0) return operation;
      return 'authenticate';
    };
    const claim = (wanted: (certificate: Known) => boolean): Known | null => {
      for (let tries = 0; tries < 20 && known.length > 0; tries++) {
        const candidate = known[Math.floor(Math.random() * known.length)]!;
        if (!candidate.busy && wanted(candidate)) {
          candidate.busy = true;
          return candidate;
        }
      }
      return null;
    };
    const remember = (body: { id: string; serialNumber: string; certificatePem: string; state: Known['state'] }): void => {
      known.push({ id: body.id, serialNumber: body.serialNumber, certificatePem: body.certificatePem, state: body.state, busy: false });
      if (known.length > KNOWN_CERTIFICATES) {
        const index = known.findIndex((certificate) => !certificate.busy);
        if (index >= 0) known.splice(index, 1);
      }
    };

    /** One request; true when the answer was the expected one. */
    const perform = async (operation: Operation): Promise<[Operation, boolean, string | null]> => {
      const expect = async (response: Response, status: number): Promise<[boolean, string | null]> => {
        const text = response.status === status ? null : (await response.text()).slice(0, 200);
        if (text === null) await response.arrayBuffer();
        return [text === null, text === null ? null : `${response.status} ${text}`];
      };
      switch (operation) {
        case 'issue-csr':
        case 'issue-keygen': {
          const body = operation === 'issue-csr' ? { csr: csrs[Math.floor(Math.random() * csrs.length)], ttlSeconds: 86_400 } : { commonName: `soak-${Math.random().toString(36).slice(2, 10)}`, ttlSeconds: 86_400 };
          const response = await call('POST', `/v1/tenants/${tenant.id}/certificates`, tenantKey, body);
          if (response.status !== 201) return [operation, ...(await expect(response, 201))];
          remember((await response.json()) as { id: string; serialNumber: string; certificatePem: string; state: Known['state'] });
          return [operation, true, null];
        }
        case 'authenticate': {
          const certificate = claim(() => true);
          if (!certificate) return perform('issue-keygen');
          try {
            const response = await call('POST', '/v1/authentications', brokerKey, { certificatePem: certificate.certificatePem });
            const refused = certificate.state === 'suspended' || certificate.state === 'revoked';
            const result = await expect(response, refused ? 403 : 200);
            if (!refused && result[0]) certificate.state = 'active';
            return [operation, ...result];
          } finally {
            certificate.busy = false;
          }
        }
        case 'ocsp': {
          const certificate = claim(() => true);
          if (!certificate) return perform('issue-keygen');
          try {
            const response = await call('POST', `/ocsp/${authorityId}`, null, ocspRequest(caNameDer, caKeyBits, certificate.serialNumber), 'application/ocsp-request');
            return [operation, ...(await expect(response, 200))];
          } finally {
            certificate.busy = false;
          }
        }
        case 'crl': {
          const response = Math.random() < 0.5 ? await call('GET', `/v1/tenants/${tenant.id}/crl?format=pem`, brokerKey) : await call('GET', `/crl/${authorityId}.crl`, null);
          return [operation, ...(await expect(response, 200))];
        }
        case 'list': {
          const response = await call('GET', `/v1/tenants/${tenant.id}/certificates?limit=50`, tenantKey);
          return [operation, ...(await expect(response, 200))];
        }
        case 'suspend':
        case 'reactivate':
        case 'revoke': {
          const from: ReadonlyArray<Known['state']> = operation === 'reactivate' ? ['suspended'] : operation === 'suspend' ? ['active', 'inactive'] : ['active', 'inactive', 'suspended'];
          const certificate = claim((candidate) => from.includes(candidate.state));
          if (!certificate) return perform(operation === 'reactivate' ? 'suspend' : 'issue-keygen');
          try {
            const response = await call('POST', `/v1/tenants/${tenant.id}/certificates/${certificate.id}/${operation}`, tenantKey, operation === 'revoke' ? { reason: 'superseded' } : {});
            const result = await expect(response, 200);
            if (result[0]) certificate.state = operation === 'suspend' ? 'suspended' : operation === 'revoke' ? 'revoked' : 'active';
            return [operation, ...result];
          } finally {
            certificate.busy = false;
          }
        }
      }
    };

    const started = performance.now();
    const deadline = started + MINUTES * 60_000;
    let requests = 0;
    const loop = async (index: number): Promise<void> => {
      const period = (LOOPS / RATE) * 1000;
      // Spread the loops over one period so they do not fire together.
      let next = started + (index * period) / LOOPS;
      while (performance.now() < deadline) {
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        next = Math.max(next + period, performance.now() - period);
        const at = performance.now();
        let outcome: [Operation, boolean, string | null];
        try {
          outcome = await perform(pick());
        } catch (error) {
          outcome = ['authenticate', false, (error as Error).message];
        }
        const tally = tallies.get(outcome[0])!;
        requests += 1;
        if (outcome[1]) tally.ok += 1;
        else {
          tally.errors += 1;
          tally.lastError = outcome[2];
        }
        if (tally.latencies.length < 200_000) tally.latencies.push(performance.now() - at);
      }
    };

    const samples: Sample[] = [];
    const measure = async (seconds: number): Promise<Sample> => {
      const rssMiB = ccm.rssMiB();
      const heapMiB = inspectorPort ? await collectGarbage(inspectorPort) : null;
      return { seconds, rssMiB, settledRssMiB: heapMiB === null ? null : ccm.rssMiB(), heapMiB, cpuSeconds: ccm.cpuSeconds(), requests };
    };
    const mib = (value: number | null): string => (value === null ? '     -' : value.toFixed(1).padStart(6));
    const print = (sample: Sample): void =>
      console.log(`  ${(sample.seconds / 60).toFixed(1).padStart(4)} min  RSS ${mib(sample.rssMiB)} MiB  after a full GC: RSS ${mib(sample.settledRssMiB)} MiB, heap ${mib(sample.heapMiB)} MiB  CPU ${sample.cpuSeconds.toFixed(0).padStart(4)} s  requests ${sample.requests}`);
    const sampler = (async () => {
      await sleep(WARMUP_SECONDS * 1000);
      const first = performance.now();
      for (;;) {
        const seconds = (performance.now() - first) / 1000;
        samples.push(await measure(seconds));
        print(samples.at(-1)!);
        const next = first + (samples.length * SAMPLE_SECONDS * 1000);
        if (next > deadline + 1) break;
        await sleep(Math.max(0, next - performance.now()));
      }
    })();
    console.log(`load running; samples after the ${WARMUP_SECONDS} s warm-up:`);
    await Promise.all([...Array.from({ length: LOOPS }, (_, i) => loop(i)), sampler]);
    // The end sample is taken when the load stops, not after it (unless the last regular one was just taken).
    if ((performance.now() - started) / 1000 - WARMUP_SECONDS - samples.at(-1)!.seconds > SAMPLE_SECONDS / 2) {
      const end = await measure((performance.now() - started) / 1000 - WARMUP_SECONDS);
      samples.push(end);
      print(end);
    }
    const elapsed = (performance.now() - started) / 1000;

    const start = samples[0]!;
    const last = samples.at(-1)!;
    const total = [...tallies.values()].reduce((sum, t) => sum + t.ok + t.errors, 0);
    const errors = [...tallies.values()].reduce((sum, t) => sum + t.errors, 0);

    console.log('');
    console.log(`requests: ${total} in ${elapsed.toFixed(0)} s (${(total / elapsed).toFixed(1)}/s), ${errors} not answered as expected; events consumed from the subscriber's queue: ${eventsConsumed}`);
    console.log('| kind | expected | other | p50 ms | p99 ms | last unexpected answer |');
    console.log('|---|---:|---:|---:|---:|---|');
    for (const [operation, tally] of tallies) {
      console.log(`| ${operation} | ${tally.ok} | ${tally.errors} | ${percentile(tally.latencies, 50).toFixed(1)} | ${percentile(tally.latencies, 99).toFixed(1)} | ${tally.lastError ?? ''} |`);
    }
    console.log(`ccm CPU: ${(last.cpuSeconds - start.cpuSeconds).toFixed(0)} s over the ${((last.seconds - start.seconds) / 60).toFixed(1)} measured minutes (${((last.cpuSeconds - start.cpuSeconds) / Math.max(1, last.seconds - start.seconds)).toFixed(2)} cores)`);

    const failures: string[] = [];
    const judge = (what: string, values: readonly number[], verdict: boolean): void => {
      const first = values[0]!;
      const end = values.at(-1)!;
      const secondHalf = samples.flatMap((sample, i) => (sample.seconds >= last.seconds / 2 ? [[sample.seconds / 60, values[i]!] as const] : []));
      const firstHalf = values.filter((_, i) => samples[i]!.seconds < last.seconds / 2);
      const slopePerMinute = slope(secondHalf);
      const growth = end / first - 1;
      const floorRise = Math.min(...secondHalf.map(([, value]) => value)) / Math.min(...firstHalf) - 1;
      const signed = (value: number, digits: number): string => `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
      console.log(
        `${what}: start ${first.toFixed(1)} MiB (after the warm-up), end ${end.toFixed(1)} MiB (${signed(growth * 100, 1)}%), max ${Math.max(...values).toFixed(1)} MiB; slope over the last half ${signed(slopePerMinute, 2)} MiB/min; lowest sample of the last half ${signed(floorRise * 100, 1)}% against the first half's${verdict ? ' (judged)' : ''}`,
      );
      if (!verdict) return;
      if (growth > GROWTH_LIMIT) failures.push(`${what} grew ${(growth * 100).toFixed(1)}% (limit ${GROWTH_LIMIT * 100}%)`);
      if (slopePerMinute > SLOPE_LIMIT_PER_MINUTE * first && floorRise > FLOOR_RISE_LIMIT) {
        failures.push(`${what} climbs steadily: ${slopePerMinute.toFixed(2)} MiB/min over the last half (limit ${(SLOPE_LIMIT_PER_MINUTE * first).toFixed(2)}) with its floor up ${(floorRise * 100).toFixed(1)}% (limit ${FLOOR_RISE_LIMIT * 100}%)`);
      }
    };
    const settled = samples.every((sample) => sample.settledRssMiB !== null && sample.heapMiB !== null);
    judge('RSS as found', samples.map((sample) => sample.rssMiB), !settled);
    if (settled) {
      judge('RSS after a full GC', samples.map((sample) => sample.settledRssMiB!), true);
      judge('V8 heap in use after a full GC', samples.map((sample) => sample.heapMiB!), true);
    }
    if (errors > 0) console.log(`ccm's last output:\n${ccm.log.slice(-3000)}`);
    if (errors > ERROR_LIMIT * total) failures.push(`${errors} of ${total} requests were not answered as expected (limit ${ERROR_LIMIT * 100}%)`);
    if (measuredSeconds < SAMPLE_SECONDS * 4) failures.push('too few samples for a verdict: run longer');
    console.log(failures.length === 0 ? 'verdict: memory steady' : `verdict: FAILED: ${failures.join('; ')}`);
    if (failures.length > 0) process.exitCode = 1;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
