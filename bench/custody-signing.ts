/**
 * Benchmark: signatures per second through custody, Vault Transit beside
 * local keys.
 *
 *   npm run build && node dist/bench/custody-signing.js [--seconds=1] [--runs=3] [--in-flight=10,50,200]
 *       [--vault=inline|thread] [--latency-ms=0] [--bytes=512]
 *
 * One ecdsa-p256 key per custody; `--in-flight` callers each sign `--bytes`
 * random bytes (a client certificate's TBS is about that size), wait for the
 * signature and sign again, for `--seconds` per cell. The three custodies
 * take turns, `--runs` rounds, and the table shows each cell's median run:
 * on a shared machine the load of others drifts, and turns spread it evenly.
 * Signatures per CPU-second of ccm's thread (the main thread's user +
 * system time, from /proc) is the figure least disturbed by other processes.
 *
 * Vault is the Transit test server (test/support/transit-server.ts), in this
 * process. `--vault=inline` (the default) runs it on ccm's own thread, so
 * its request handling and signing are charged to ccm: a pessimistic stand-in
 * for a Vault on its own cores. `--vault=thread` gives it a worker thread,
 * closer to a real Vault, with the caveat that the two threads compete for
 * this machine's cores. `--latency-ms` delays each Vault request like a
 * network round trip would.
 *
 * - local: LocalKeyCustody, node:crypto in-process.
 * - vault batched: VaultTransitCustody with its default batching.
 * - vault unbatched: CCM_VAULT_SIGN_BATCH_SIZE=1, one Transit request per signature.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { KeyCustody } from '../src/custody/key-custody.js';
import { LocalKeyCustody } from '../src/custody/local-key-custody.js';
import { DEFAULT_SIGN_BATCH_SIZE, VaultTransitCustody } from '../src/custody/vault-transit-custody.js';
import { TransitServer } from '../test/support/transit-server.js';
import { TransitServerThread } from './support/transit-server-thread.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const SECONDS = Number(args.get('seconds') ?? 1);
const RUNS = Number(args.get('runs') ?? 3);
const IN_FLIGHT = (args.get('in-flight') ?? '10,50,200').split(',').map(Number);
const VAULT = (args.get('vault') ?? 'inline') as 'inline' | 'thread';
const LATENCY_MS = Number(args.get('latency-ms') ?? 0);
const BYTES = Number(args.get('bytes') ?? 512);
const KEY = 'bench';
const CLOCK_TICKS_PER_SECOND = 100;

interface VaultUnderTest {
  readonly address: string;
  readonly rootToken: string;
  signRequests(): Promise<number>;
  stop(): Promise<void>;
}

async function startVault(): Promise<VaultUnderTest> {
  if (VAULT === 'thread') return TransitServerThread.start({ latencyMs: LATENCY_MS });
  const server = new TransitServer({ latencyMs: LATENCY_MS });
  const address = await server.start();
  return { address, rootToken: server.rootToken, signRequests: async () => server.stats.signRequests, stop: () => server.stop() };
}

/** User + system seconds of this process's main thread (the one ccm's code runs on); the whole process where /proc is missing. */
function mainThreadCpuSeconds(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
  }
}

interface Figures {
  readonly perSecond: number;
  readonly perCpuSecond: number;
  readonly p99Ms: number;
  /** Signatures per Transit sign request; null for local custody. */
  readonly signaturesPerRequest: number | null;
}

async function measure(custody: KeyCustody, inFlight: number, seconds: number, vault: VaultUnderTest | null): Promise<Figures> {
  const data = randomBytes(BYTES);
  const latencies: number[] = [];
  const requestsBefore = vault ? await vault.signRequests() : 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  const cpuBefore = mainThreadCpuSeconds();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await custody.sign(KEY, data);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = mainThreadCpuSeconds() - cpuBefore;
  latencies.sort((a, b) => a - b);
  const requests = vault ? (await vault.signRequests()) - requestsBefore : 0;
  return {
    perSecond: latencies.length / elapsed,
    perCpuSecond: latencies.length / cpu,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    signaturesPerRequest: vault ? latencies.length / requests : null,
  };
}

function median(runs: readonly Figures[]): Figures {
  return [...runs].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(runs.length / 2)]!;
}

async function main(): Promise<void> {
  const vault = await startVault();
  const directory = await mkdtemp(join(tmpdir(), 'ccm-bench-custody-'));
  try {
    const local = await LocalKeyCustody.open(directory, { source: 'env', key: randomBytes(32) });
    const vaultOptions = { address: vault.address, keyPrefix: 'ccm-', auth: { method: 'token', token: vault.rootToken } } as const;
    const batched = new VaultTransitCustody(vaultOptions);
    const unbatched = new VaultTransitCustody({ ...vaultOptions, signBatchSize: 1 });
    await local.createKey(KEY, 'ecdsa-p256');
    await batched.createKey(KEY, 'ecdsa-p256');
    await unbatched.getKey(KEY);

    const modes: { readonly label: string; readonly custody: KeyCustody; readonly vault: VaultUnderTest | null }[] = [
      { label: 'local', custody: local, vault: null },
      { label: `vault batched (≤${DEFAULT_SIGN_BATCH_SIZE})`, custody: batched, vault },
      { label: 'vault unbatched', custody: unbatched, vault },
    ];
    for (const mode of modes) await measure(mode.custody, 50, 0.5, mode.vault); // JIT and connections warm

    console.log(`ecdsa-p256, ${BYTES}-byte inputs, ${SECONDS} s per cell, median of ${RUNS} runs; Vault ${VAULT}, latency ${LATENCY_MS} ms; Node ${process.version}`);
    console.log('in flight | custody                | signatures/s | × local | per ccm-thread CPU-s | × local | sigs/request | p99 ms');
    console.log('----------|------------------------|--------------|---------|----------------------|---------|--------------|-------');
    for (const inFlight of IN_FLIGHT) {
      const runs = modes.map((): Figures[] => []);
      for (let run = 0; run < RUNS; run++) {
        for (const [i, mode] of modes.entries()) runs[i]!.push(await measure(mode.custody, inFlight, SECONDS, mode.vault));
      }
      const localFigures = median(runs[0]!);
      for (const [i, mode] of modes.entries()) {
        const figures = median(runs[i]!);
        console.log(
          [
            String(inFlight).padStart(9),
            mode.label.padEnd(22),
            figures.perSecond.toFixed(0).padStart(12),
            (figures.perSecond / localFigures.perSecond).toFixed(2).padStart(7),
            figures.perCpuSecond.toFixed(0).padStart(20),
            (figures.perCpuSecond / localFigures.perCpuSecond).toFixed(2).padStart(7),
            (figures.signaturesPerRequest === null ? '-' : figures.signaturesPerRequest.toFixed(1)).padStart(12),
            figures.p99Ms.toFixed(1).padStart(6),
          ].join(' | '),
        );
      }
    }
  } finally {
    await vault.stop();
    await rm(directory, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
