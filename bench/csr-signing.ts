/**
 * Benchmark: certificate issuance over HTTP, ccm beside cfssl.
 *
 *   npm run build && node dist/bench/csr-signing.js [--workload=csr|keygen] [--database=sqlite|postgres]
 *       [--custody=local|vault] [--connections=10] [--seconds=10] [--runs=3] [--workers=N]
 *
 * Both servers run as their own processes on this machine and get the same
 * load from autocannon (another process): `--connections` requests in flight
 * for `--seconds`, the same P-256 CSR every time, one after the other,
 * `--runs` times alternating; the table shows each run and the medians.
 *
 * - ccm: `POST /v1/tenants/{id}/certificates` through its real API with a
 *   tenant API key: authentication, rate limiting (set high enough not to
 *   refuse), validation, policy, the database record, signing by the tenant
 *   root CA through custody, and the audit entry.
 * - cfssl: Debian's golang-cfssl (installed with apt when missing),
 *   `cfssl serve` with a P-256 CA of the same subject and validity as ccm's
 *   tenant root, and a "client" profile with the same extensions as ccm's:
 *   digitalSignature, clientAuth, a CRL distribution point and an OCSP URL
 *   (not ccm's urn:uuid subjectAltName, which names a record cfssl does not keep).
 *   `POST /api/v1/cfssl/sign` (csr) or `/api/v1/cfssl/newcert` (keygen); cfssl
 *   stores nothing and asks for no credential.
 *
 * CPU is the server process tree's user + system time over the run, in cores.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestInstallation } from '../test/support/ccm-under-test.js';
import { runLoad, type LoadFigures } from './support/http-load.js';
import { ServerProcess, freePort } from '../test/support/server-process.js';
import { getJson, postJson } from './support/api-calls.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const WORKLOAD = (args.get('workload') ?? 'csr') as 'csr' | 'keygen';
const DATABASE = (args.get('database') ?? 'sqlite') as 'postgres' | 'sqlite';
const CUSTODY = (args.get('custody') ?? 'local') as 'local' | 'vault';
const CONNECTIONS = Number(args.get('connections') ?? 10);
const SECONDS = Number(args.get('seconds') ?? 10);
const RUNS = Number(args.get('runs') ?? 3);
const WORKERS = args.get('workers');
const PEER = args.get('peer') !== 'none';

function ensureCfssl(): void {
  if (spawnSync('cfssl', ['version']).status === 0) return;
  console.log('installing golang-cfssl (apt)…');
  execFileSync('bash', ['-c', 'apt-get update -qq && apt-get install -y -qq golang-cfssl'], { stdio: 'inherit' });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** A CA for cfssl shaped like ccm's tenant root: P-256, same subject, CA:TRUE, keyCertSign + cRLSign. */
function cfsslCa(directory: string, subject: string): void {
  const extensions = join(directory, 'ca.cnf');
  execFileSync('bash', ['-c', `cat > ${extensions} <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF`]);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(directory, 'ca-key.pem')]);
  execFileSync('openssl', ['req', '-new', '-x509', '-key', join(directory, 'ca-key.pem'), '-subj', subject, '-days', '3650', '-sha256', '-config', extensions, '-extensions', 'ca', '-out', join(directory, 'ca.pem')]);
}

async function main(): Promise<void> {
  if (PEER) ensureCfssl();
  const directory = await mkdtemp(join(tmpdir(), 'ccm-bench-issuance-'));
  const installation = await TestInstallation.create(
    { database: DATABASE, custody: CUSTODY },
    {
      CCM_LOG_LEVEL: 'warn',
      // The limits guard a shared service; here one tenant key is the whole load.
      CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '1000000',
      CCM_RATE_LIMIT_ISSUANCE_BURST: '1000000',
      ...(WORKERS !== undefined ? { CCM_WORKERS: WORKERS } : {}),
    },
  );
  let ccm: ServerProcess | null = null;
  let cfssl: ServerProcess | null = null;
  try {
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(directory, 'device-key.pem')]);
    const csrPem = execFileSync('openssl', ['req', '-new', '-key', join(directory, 'device-key.pem'), '-subj', '/CN=bench-device', '-sha256']).toString();

    ccm = await ServerProcess.ccm(installation.env);
    const admin = `Bearer ${installation.adminKey}`;
    const tenant = await postJson<{ id: string }>(`${ccm.url}/v1/tenants`, { name: `bench-${Date.now()}` }, admin);
    const tenantKey = (await postJson<{ key: string }>(`${ccm.url}/v1/api-credentials`, { name: 'bench', role: 'tenant', tenantId: tenant.id }, admin)).key;
    const root = await getJson<{ subject: string }>(`${ccm.url}/v1/tenants/${tenant.id}/authorities`, admin).then((page) => (page as unknown as { items: { subject: string; kind: string }[] }).items.find((a) => a.kind === 'tenant-root')!);
    const ccmRequest = {
      url: `${ccm.url}/v1/tenants/${tenant.id}/certificates`,
      method: 'POST' as const,
      headers: { authorization: `Bearer ${tenantKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(WORKLOAD === 'csr' ? { csr: csrPem, ttlSeconds: 31_536_000 } : { commonName: 'bench-device', keyAlgorithm: 'ecdsa-p256', ttlSeconds: 31_536_000 }),
      connections: CONNECTIONS,
      seconds: SECONDS,
    };
    await postJson(ccmRequest.url, JSON.parse(ccmRequest.body) as object, ccmRequest.headers.authorization);

    let cfsslRequest: Parameters<typeof runLoad>[1] | null = null;
    if (PEER) {
      const subject = '/' + root.subject.split(',').reverse().join('/');
      cfsslCa(directory, subject);
      const config = {
        signing: {
          default: { expiry: '8760h' },
          profiles: {
            client: {
              usages: ['digital signature', 'client auth'],
              expiry: '8760h',
              crl_url: `${ccm.url}/crl/bench.crl`,
              ocsp_url: `${ccm.url}/ocsp/bench`,
            },
          },
        },
      };
      await writeFile(join(directory, 'config.json'), JSON.stringify(config));
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      cfssl = await ServerProcess.start(
        'cfssl',
        'cfssl',
        ['serve', '-address=127.0.0.1', `-port=${port}`, `-ca=${join(directory, 'ca.pem')}`, `-ca-key=${join(directory, 'ca-key.pem')}`, `-config=${join(directory, 'config.json')}`, '-loglevel=5'],
        {},
        url,
        '/api/v1/cfssl/info',
      );
      cfsslRequest = {
        url: `${url}/api/v1/cfssl/${WORKLOAD === 'csr' ? 'sign' : 'newcert'}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          WORKLOAD === 'csr'
            ? { certificate_request: csrPem, profile: 'client' }
            : { request: { CN: 'bench-device', key: { algo: 'ecdsa', size: 256 } }, profile: 'client' },
        ),
        connections: CONNECTIONS,
        seconds: SECONDS,
      };
      const check = await fetch(cfsslRequest.url, { method: 'POST', headers: cfsslRequest.headers, body: cfsslRequest.body });
      if (!check.ok) throw new Error(`cfssl answered ${check.status}: ${await check.text()}`);
    }

    // Warm both up (JIT, connection pools, caches) before anything is counted.
    await runLoad(ccm, { ...ccmRequest, seconds: 3 });
    if (cfssl && cfsslRequest) await runLoad(cfssl, { ...cfsslRequest, seconds: 3 });

    const rows: Record<string, Record<string, number | string>> = {};
    const ccmRuns: LoadFigures[] = [];
    const cfsslRuns: LoadFigures[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const ccmFigures = await runLoad(ccm, ccmRequest);
      ccmRuns.push(ccmFigures);
      rows[`ccm run ${run}`] = row(ccmFigures);
      if (cfssl && cfsslRequest) {
        const cfsslFigures = await runLoad(cfssl, cfsslRequest);
        cfsslRuns.push(cfsslFigures);
        rows[`cfssl run ${run}`] = row(cfsslFigures);
        rows[`ccm/cfssl run ${run}`] = { 'req/s': (ccmFigures.rps / cfsslFigures.rps).toFixed(2) };
      }
    }
    const ccmMedian = medians(ccmRuns);
    rows['ccm median'] = row(ccmMedian);
    if (cfsslRuns.length > 0) {
      const cfsslMedian = medians(cfsslRuns);
      rows['cfssl median'] = row(cfsslMedian);
      rows['ccm/cfssl (medians)'] = { 'req/s': (ccmMedian.rps / cfsslMedian.rps).toFixed(2), 'p99 ms': (ccmMedian.p99 / cfsslMedian.p99).toFixed(2) };
    }
    console.log(
      `${WORKLOAD === 'csr' ? 'CSR signing' : 'server-side key generation (P-256)'}: ccm on ${DATABASE} + ${CUSTODY} custody${WORKERS ? `, ${WORKERS} workers` : ''}; ` +
        `${CONNECTIONS} connections, ${SECONDS} s per run, ${RUNS} runs`,
    );
    console.table(rows);
    console.log(`ccm RSS at the end: ${ccm.rssMiB().toFixed(0)} MiB`);
    if (installation.vault) console.log(`Transit sign calls: ${installation.vault.stats.signRequests}, items in batches: ${installation.vault.stats.signBatchItems}`);
  } finally {
    await cfssl?.stop();
    await ccm?.stop();
    await installation.destroy();
    await rm(directory, { recursive: true, force: true });
  }
}

function row(figures: LoadFigures): Record<string, number | string> {
  return { 'req/s': figures.rps, 'p50 ms': figures.p50, 'p99 ms': figures.p99, 'CPU cores': figures.cpu, 'non-2xx': figures.non2xx, errors: figures.errors };
}

function medians(runs: readonly LoadFigures[]): LoadFigures {
  return {
    requests: median(runs.map((r) => r.requests)),
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpu: median(runs.map((r) => r.cpu)),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  };
}

await main();
