/**
 * Benchmark: device authentications per second, the broker's hot path, with
 * the certificates table at production size.
 *
 *   npm run build && node dist/bench/authentication-throughput.js [--database=postgres|sqlite]
 *       [--certificates=1000000] [--connections=10] [--seconds=10] [--runs=1] [--workers=N] [--cpu-prof=DIR]
 *
 * ccm runs as its own process (`node dist/src/main.js`, or N cluster workers
 * with --workers, passed on as CCM_WORKERS) and autocannon loads it from
 * another, so neither shares the other's event loop or CPU accounting.
 *
 * - `--certificates` rows (default 1,000,000 on PostgreSQL, 100,000 on
 *   SQLite) are written straight into the certificates table in one SQL
 *   statement, under the tenant root CA the measured certificates come from:
 *   distinct 128-bit serials and SHA-256 fingerprints, a realistic mix of
 *   states. They only make the lookups run against a table of that size.
 * - Two certificates are then issued through the API and used once each
 *   (first use activates), so every measured call is a repeat use: active,
 *   last use recorded within the minute, nothing for the life cycle to write.
 *   Each is authenticated over and over by `--connections` callers for
 *   `--seconds`: one by PEM (signature checked against the stored CA), one by
 *   issuer and serial number (the cheap path), `--runs` times alternating.
 * - The rate limit for authentications is set out of the way; the broker API
 *   key, the audit entry of every decision and the rate-limit count stay on.
 *
 * Reported per run: answers per second (2xx), p50 and p99 latency, CPU
 * (in cores) used by ccm's process tree, by the PostgreSQL backends serving
 * it and by the whole machine (the load generator and anything else running
 * included), ccm's CPU milliseconds per answer, and the audit rows written
 * against the requests answered. `--cpu-prof=DIR` starts ccm under
 * `node --cpu-prof` and leaves the profile in DIR after the orderly stop.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TestInstallation } from '../test/support/ccm-under-test.js';
import { runLoad, type LoadFigures, type LoadRequest } from './support/http-load.js';
import { ServerProcess, freePort } from '../test/support/server-process.js';
import { getJson, postJson } from './support/api-calls.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const DATABASE = (args.get('database') ?? 'postgres') as 'postgres' | 'sqlite';
const CERTIFICATES = Number(args.get('certificates') ?? (DATABASE === 'postgres' ? 1_000_000 : 100_000));
const CONNECTIONS = Number(args.get('connections') ?? args.get('concurrency') ?? 10);
const SECONDS = Number(args.get('seconds') ?? 10);
const RUNS = Number(args.get('runs') ?? 1);
const WORKERS = args.get('workers');
const CPU_PROFILE_DIRECTORY = args.get('cpu-prof');
const EXIT_AFTER_SHUTDOWN = join(dirname(fileURLToPath(import.meta.url)), 'support', 'exit-after-shutdown.js');
const CCM_MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.js');

/**
 * N certificate rows under one CA in one statement. Serials and fingerprints
 * are hashes of the row number, so they are distinct and spread over the
 * index like random ones; 1 in 100 is revoked, 1 in 100 suspended, 1 in 20
 * never used, the rest active.
 */
async function seedCertificates(installation: TestInstallation, tenantId: string, authorityId: string, count: number): Promise<void> {
  const now = new Date();
  const notBefore = new Date(now.getTime() - 86_400_000).toISOString();
  const notAfter = new Date(now.getTime() + 365 * 86_400_000).toISOString();
  const at = now.toISOString();
  if (installation.database.kind === 'postgres') {
    // Building the secondary indexes once afterwards is several times faster than maintaining them row by row;
    // they are put back exactly as the migrations made them (pg_indexes keeps each one's definition).
    const indexes = await installation.database.query<{ indexname: string; indexdef: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'certificates' AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'certificates'::regclass)",
    );
    // One session (simple query protocol: several statements in one string), so the SETs hold for the INSERT.
    // session_replication_role=replica skips the foreign-key triggers: every row names the tenant and CA created above.
    await installation.database.query(`
      SET session_replication_role = replica;
      SET maintenance_work_mem = '256MB';
      ${indexes.map((index) => `DROP INDEX "${index.indexname}";`).join('\n')}
      INSERT INTO certificates (id, tenant_id, authority_id, serial_number, state, fingerprint_sha256, fingerprint_sha1, subject, common_name,
        subject_alt_names, not_before, not_after, key_algorithm, public_key_sha256, key_source, issued_at, first_used_at, last_used_at,
        revoked_at, revocation_reason, suspended_at, crl_shard, created_at, updated_at)
      SELECT md5('bench-id-' || g)::uuid::text, '${tenantId}', '${authorityId}', '4' || substr(md5('bench-serial-' || g), 2), s.state,
        encode(sha256(('bench-fp-' || g)::bytea), 'hex'), substr(md5('bench-fp1-' || g) || md5('bench-fp2-' || g), 1, 40),
        'CN=bench-seeded-' || g, 'bench-seeded-' || g, '{}', '${notBefore}', '${notAfter}', 'ecdsa-p256',
        encode(sha256(('bench-pk-' || g)::bytea), 'hex'), 'server', '${notBefore}',
        CASE WHEN s.state = 'inactive' THEN NULL ELSE '${notBefore}' END, CASE WHEN s.state = 'inactive' THEN NULL ELSE '${notBefore}' END,
        CASE WHEN s.state = 'revoked' THEN '${at}' END, CASE WHEN s.state = 'revoked' THEN 'keyCompromise' END,
        CASE WHEN s.state = 'suspended' THEN '${at}' END, 0, '${notBefore}', '${at}'
      FROM generate_series(1, ${count}) AS g,
        LATERAL (SELECT CASE WHEN g % 100 = 0 THEN 'revoked' WHEN g % 100 = 1 THEN 'suspended' WHEN g % 20 = 2 THEN 'inactive' ELSE 'active' END AS state) AS s;
      ${indexes.map((index) => `${index.indexdef};`).join('\n')}
      ANALYZE certificates;`);
    return;
  }
  // The test database handle is read-only: write through a connection of our own (ccm waits on the file lock meanwhile).
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(installation.env.CCM_SQLITE_PATH!);
  try {
    db.pragma('busy_timeout = 10000');
    db.exec(`
      WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < ${count}),
        rows AS (SELECT g, CASE WHEN g % 100 = 0 THEN 'revoked' WHEN g % 100 = 1 THEN 'suspended' WHEN g % 20 = 2 THEN 'inactive' ELSE 'active' END AS state,
          lower(hex(randomblob(16))) AS id FROM seq)
      INSERT INTO certificates (id, tenant_id, authority_id, serial_number, state, fingerprint_sha256, fingerprint_sha1, subject, common_name,
        subject_alt_names, not_before, not_after, key_algorithm, public_key_sha256, key_source, issued_at, first_used_at, last_used_at,
        revoked_at, revocation_reason, suspended_at, crl_shard, created_at, updated_at)
      SELECT substr(id, 1, 8) || '-' || substr(id, 9, 4) || '-' || substr(id, 13, 4) || '-' || substr(id, 17, 4) || '-' || substr(id, 21, 12),
        '${tenantId}', '${authorityId}', '4' || substr(lower(hex(randomblob(16))), 2), state,
        lower(hex(randomblob(32))), lower(hex(randomblob(20))), 'CN=bench-seeded-' || g, 'bench-seeded-' || g, '{}', '${notBefore}', '${notAfter}',
        'ecdsa-p256', lower(hex(randomblob(32))), 'server', '${notBefore}',
        CASE WHEN state = 'inactive' THEN NULL ELSE '${notBefore}' END, CASE WHEN state = 'inactive' THEN NULL ELSE '${notBefore}' END,
        CASE WHEN state = 'revoked' THEN '${at}' END, CASE WHEN state = 'revoked' THEN 'keyCompromise' END,
        CASE WHEN state = 'suspended' THEN '${at}' END, 0, '${notBefore}', '${at}'
      FROM rows`);
    db.exec('ANALYZE certificates');
  } finally {
    db.close();
  }
}

async function countRows(installation: TestInstallation, table: string): Promise<number> {
  return Number((await installation.database.query<{ count: string | number }>(`SELECT COUNT(*) AS count FROM ${table}`))[0]!.count);
}

/** Audit entries leave in batches after the answer: wait until the count stops moving before reading it. */
async function settledAuditRows(installation: TestInstallation): Promise<number> {
  let last = await countRows(installation, 'audit_log');
  for (;;) {
    await new Promise((done) => setTimeout(done, 300));
    const now = await countRows(installation, 'audit_log');
    if (now === last) return now;
    last = now;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3]! + (fields[4] ?? 0);
  const total = fields.reduce((sum, value) => sum + value, 0);
  return { busy: total - idle, total };
}

/** CPU seconds (user + system) of the PostgreSQL backends serving the bench database: ccm's pooled connections. */
async function postgresCpuSeconds(installation: TestInstallation): Promise<number> {
  if (installation.database.kind !== 'postgres') return 0;
  const backends = await installation.database.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  let ticks = 0;
  for (const { pid } of backends) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // A backend that ended meanwhile.
    }
  }
  return ticks / 100;
}

interface RunFigures extends LoadFigures {
  /** Cores busy on the whole machine over the run. */
  readonly machineCpu: number;
  /** Cores used by PostgreSQL's backends for ccm over the run. */
  readonly postgresCpu: number;
  readonly auditRows: number;
}

async function measure(ccm: ServerProcess, installation: TestInstallation, request: LoadRequest): Promise<RunFigures> {
  const auditBefore = await settledAuditRows(installation);
  const postgresBefore = await postgresCpuSeconds(installation);
  const before = machineTicks();
  const started = performance.now();
  const figures = await runLoad(ccm, request);
  const wallSeconds = (performance.now() - started) / 1000;
  const after = machineTicks();
  const postgresCpu = ((await postgresCpuSeconds(installation)) - postgresBefore) / wallSeconds;
  const cores = (after.busy - before.busy) / 100 / wallSeconds;
  return { ...figures, machineCpu: Number(cores.toFixed(2)), postgresCpu: Number(postgresCpu.toFixed(2)), auditRows: (await settledAuditRows(installation)) - auditBefore };
}

function row(figures: RunFigures): Record<string, number | string> {
  return {
    'req/s': figures.rps,
    'p50 ms': figures.p50,
    'p99 ms': figures.p99,
    'ccm CPU': figures.cpu,
    'PostgreSQL CPU': figures.postgresCpu,
    'machine CPU': figures.machineCpu,
    'ccm CPU ms/req': figures.rps > 0 ? Number(((figures.cpu * 1000) / figures.rps).toFixed(3)) : '',
    'non-2xx': figures.non2xx,
    errors: figures.errors,
    requests: figures.requests,
    'audit rows': figures.auditRows,
  };
}

/** ccm under `node --cpu-prof` (not allowed in NODE_OPTIONS, so on the command line; cluster workers inherit it). */
async function profiledCcm(env: Record<string, string>, directory: string): Promise<ServerProcess> {
  await mkdir(directory, { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const flags = ['--cpu-prof', `--cpu-prof-dir=${directory}`, `--import=${pathToFileURL(EXIT_AFTER_SHUTDOWN).href}`];
  return ServerProcess.start('ccm', process.execPath, [...flags, CCM_MAIN], { ...env, CCM_PORT: String(port), CCM_PUBLIC_URL: url }, url, '/v1/platform-ca');
}

async function main(): Promise<void> {
  const installation = await TestInstallation.create(
    { database: DATABASE, custody: 'local' },
    {
      CCM_LOG_LEVEL: 'warn',
      // The limit guards a shared service; here one broker key is the whole load.
      CCM_RATE_LIMIT_AUTHENTICATION_PER_SECOND: '1000000',
      CCM_RATE_LIMIT_AUTHENTICATION_BURST: '1000000',
      ...(WORKERS !== undefined ? { CCM_WORKERS: WORKERS } : {}),
    },
  );
  let ccm: ServerProcess | null = null;
  try {
    const server = (ccm = CPU_PROFILE_DIRECTORY === undefined ? await ServerProcess.ccm(installation.env) : await profiledCcm(installation.env, resolve(CPU_PROFILE_DIRECTORY)));
    const admin = `Bearer ${installation.adminKey}`;
    const tenant = await postJson<{ id: string }>(`${server.url}/v1/tenants`, { name: `bench-${Date.now()}` }, admin);
    const authorities = await getJson<{ items: { id: string; kind: string; subject: string }[] }>(`${server.url}/v1/tenants/${tenant.id}/authorities`, admin);
    const root = authorities.items.find((authority) => authority.kind === 'tenant-root')!;

    const seeding = performance.now();
    await seedCertificates(installation, tenant.id, root.id, CERTIFICATES);
    const seeded = await countRows(installation, 'certificates');
    console.log(`seeded ${CERTIFICATES} certificate rows in ${((performance.now() - seeding) / 1000).toFixed(1)} s (${seeded} in the table)`);

    const brokerKey = (await postJson<{ key: string }>(`${server.url}/v1/api-credentials`, { name: 'bench-broker', role: 'broker' }, admin)).key;
    const issue = (commonName: string) => postJson<{ certificatePem: string; serialNumber: string }>(`${server.url}/v1/tenants/${tenant.id}/certificates`, { commonName, ttlSeconds: 31_536_000 }, admin);
    const byPemDevice = await issue('bench-device-pem');
    const bySerialDevice = await issue('bench-device-serial');
    const authentication = (body: object): LoadRequest => ({
      url: `${server.url}/v1/authentications`,
      method: 'POST',
      headers: { authorization: `Bearer ${brokerKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      connections: CONNECTIONS,
      seconds: SECONDS,
    });
    const byPem = authentication({ certificatePem: byPemDevice.certificatePem });
    const bySerial = authentication({ issuer: root.subject, serialNumber: bySerialDevice.serialNumber });
    // First use activates the certificate and records its use, so every measured call is a repeat use.
    for (const request of [byPem, bySerial]) await postJson(request.url, JSON.parse(request.body!) as object, request.headers!.authorization!);

    // Warm up (JIT, connection pool, caches) before anything is counted.
    await runLoad(server, { ...byPem, seconds: 3 });
    await runLoad(server, { ...bySerial, seconds: 3 });

    const rows: Record<string, Record<string, number | string>> = {};
    let requests = 0;
    let auditRows = 0;
    for (let run = 1; run <= RUNS; run++) {
      for (const [name, request] of [['by certificatePem', byPem], ['by issuer + serialNumber', bySerial]] as const) {
        const figures = await measure(server, installation, request);
        rows[RUNS === 1 ? name : `${name}, run ${run}`] = row(figures);
        requests += figures.requests;
        auditRows += figures.auditRows;
      }
    }
    console.log(
      `POST /v1/authentications, repeat use, ccm on ${DATABASE}${WORKERS ? ` with ${WORKERS} workers` : ''}, ${seeded} certificates in the table; ` +
        `${CONNECTIONS} connections, ${SECONDS} s per run`,
    );
    console.table(rows);
    console.log(`audit_log rows written during the runs: ${auditRows} for ${requests} requests`);
    console.log(`ccm RSS at the end: ${server.rssMiB().toFixed(0)} MiB`);
  } finally {
    await ccm?.stop();
    if (CPU_PROFILE_DIRECTORY !== undefined) console.log(`CPU profile(s) in ${resolve(CPU_PROFILE_DIRECTORY)}`);
    await installation.destroy();
  }
}

await main();
