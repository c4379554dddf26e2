/**
 * Benchmark: CRL generation with 100,000 revoked entries, side by side with
 * cfssl's `gencrl` on the same machine, and OCSP responses per second (with
 * a nonce: signed per request; without: served from the cache).
 *
 *   npm run build && node dist/bench/crl-and-ocsp.js [--revoked=100000] [--runs=3]
 *
 * ccm's figure is end to end: GET /crl/{authority}.crl after a change, so it
 * includes reading the revoked rows from PostgreSQL, encoding, signing through
 * custody and storing the CRL. cfssl's is `cfssl gencrl` on a serial list
 * file with a key file. Installs golang-cfssl with apt when it is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestInstallation } from '../test/support/ccm-under-test.js';
import { openssl } from '../test/support/openssl.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const REVOKED = Number(args.get('revoked') ?? 100_000);
const RUNS = Number(args.get('runs') ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function ensureCfssl(): void {
  if (spawnSync('cfssl', ['version']).status === 0) return;
  console.log('installing golang-cfssl (apt)…');
  execFileSync('bash', ['-c', 'apt-get update -qq && apt-get install -y -qq golang-cfssl'], { stdio: 'inherit' });
}

interface OcspFigures {
  readonly nonceRps: number;
  readonly nonceP99: number;
  readonly cachedRps: number;
  readonly cachedP99: number;
}

/** Requests per second from CONCURRENCY loops on a second core of the same machine (this process), for DURATION_MS. */
async function load(send: () => Promise<void>): Promise<{ rps: number; p99: number }> {
  const latencies: number[] = [];
  const deadline = performance.now() + 5000;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await send();
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / 5, p99: latencies[Math.floor(latencies.length * 0.99)]! };
}

async function ccmOcsp(ccmUrl: string, authorityId: string, leafPem: string, rootPem: string): Promise<OcspFigures> {
  const directory = await mkdtemp(join(tmpdir(), 'ccm-bench-ocsp-'));
  try {
    const leaf = join(directory, 'leaf.pem');
    const root = join(directory, 'root.pem');
    await writeFile(leaf, leafPem);
    await writeFile(root, rootPem);
    const withNonce = join(directory, 'nonce.der');
    const withoutNonce = join(directory, 'plain.der');
    await openssl(['ocsp', '-issuer', root, '-cert', leaf, '-reqout', withNonce]);
    await openssl(['ocsp', '-issuer', root, '-cert', leaf, '-no_nonce', '-reqout', withoutNonce]);
    const post = (body: Buffer) => async () => {
      const response = await fetch(`${ccmUrl}/ocsp/${authorityId}`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body });
      const der = Buffer.from(await response.arrayBuffer());
      if (response.status !== 200 || der.length <= 5) throw new Error(`OCSP request failed: ${der.toString("hex")}`);
    };
    // A nonce makes each answer unique: every request is signed. Without one, answers come from the cache.
    const nonce = await load(post(await readFile(withNonce)));
    const cached = await load(post(await readFile(withoutNonce)));
    return { nonceRps: nonce.rps, nonceP99: nonce.p99, cachedRps: cached.rps, cachedP99: cached.p99 };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

async function ccmCrl(): Promise<{ builds: number[]; cached: number; bytes: number; ocsp: OcspFigures }> {
  const installation = await TestInstallation.create({ database: 'postgres', custody: 'local' });
  const ccm = await installation.start();
  try {
    const tenant = await (await fetch(`${ccm.url}/v1/tenants`, { method: 'POST', headers: { ...ccm.authorization(), 'content-type': 'application/json' }, body: JSON.stringify({ name: `bench-${Date.now()}` }) })).json() as { id: string; rootAuthority: { id: string } };
    const authorityId = tenant.rootAuthority.id;
    await installation.database.query(`
      INSERT INTO certificates (id, tenant_id, authority_id, serial_number, state, fingerprint_sha256, fingerprint_sha1, subject, common_name, subject_alt_names,
        not_before, not_after, key_algorithm, public_key_sha256, key_source, issued_at, revoked_at, revocation_reason, created_at, updated_at)
      SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(h, 14, 3) || '-8' || substr(h, 18, 3) || '-' || substr(h, 21, 12),
        '${tenant.id}', '${authorityId}', '7f' || lpad(to_hex(i), 30, '0'), 'revoked', h || md5(h), substr(md5(h), 1, 40), 'CN=bench-' || i, 'bench-' || i, '{}',
        '2026-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z', 'ecdsa-p256', md5(h) || h, 'server', '2026-01-01T00:00:00.000Z',
        '2026-06-01T00:00:00.000Z', 'keyCompromise', '2026-01-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z'
      FROM (SELECT i, md5('bench' || i) AS h FROM generate_series(1, ${REVOKED}) AS i) AS s`);
    const builds: number[] = [];
    let bytes = 0;
    for (let run = 0; run < RUNS; run++) {
      // What a revocation does to the CA: its revocation version moves, so the next request builds a new CRL.
      await installation.database.query(`UPDATE authorities SET revocation_version = revocation_version + 1 WHERE id = '${authorityId}'`);
      const started = performance.now();
      const response = await fetch(`${ccm.url}/crl/${authorityId}.crl`);
      const body = Buffer.from(await response.arrayBuffer());
      builds.push(performance.now() - started);
      if (response.status !== 200) throw new Error(`GET CRL answered ${response.status}`);
      bytes = body.length;
    }
    const started = performance.now();
    await (await fetch(`${ccm.url}/crl/${authorityId}.crl`)).arrayBuffer();
    const cached = performance.now() - started;
    const issued = await (await fetch(`${ccm.url}/v1/tenants/${tenant.id}/certificates`, { method: 'POST', headers: { ...ccm.authorization(), 'content-type': 'application/json' }, body: JSON.stringify({ commonName: 'ocsp-bench' }) })).json() as { certificatePem: string; chainPem: string };
    const ocsp = await ccmOcsp(ccm.url, authorityId, issued.certificatePem, issued.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!);
    return { builds, cached, bytes, ocsp };
  } finally {
    await ccm.close();
    await installation.destroy();
  }
}

async function cfsslCrl(): Promise<number[]> {
  ensureCfssl();
  const directory = await mkdtemp(join(tmpdir(), 'ccm-bench-cfssl-'));
  try {
    const key = join(directory, 'ca-key.pem');
    await writeFile(key, (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
    // cfssl reads SEC 1 "EC PRIVATE KEY" PEM.
    await writeFile(key, (await openssl(['ec', '-in', key])).stdout);
    const ca = join(directory, 'ca.pem');
    await writeFile(ca, (await openssl(['req', '-x509', '-new', '-key', key, '-subj', '/CN=bench CA', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE'])).stdout);
    const serials = join(directory, 'serials.txt');
    const base = BigInt('0x7f' + '0'.repeat(30));
    await writeFile(serials, Array.from({ length: REVOKED }, (_, i) => String(base + BigInt(i + 1))).join('\n') + '\n');
    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const started = performance.now();
      const result = spawnSync('cfssl', ['gencrl', serials, ca, key], { maxBuffer: 64 * 1024 * 1024 });
      times.push(performance.now() - started);
      if (result.status !== 0) throw new Error(`cfssl gencrl failed: ${result.stderr.toString()}`);
    }
    return times;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

const ccm = await ccmCrl();
const cfssl = await cfsslCrl();
console.log(`CRL with ${REVOKED.toLocaleString('en')} revoked entries (P-256 CA), ${RUNS} runs each, medians:`);
console.log(`| peer | build (ms) | runs (ms) |`);
console.log(`|---|---|---|`);
console.log(`| ccm: GET /crl after a change (PostgreSQL read + encode + sign + store) | ${median(ccm.builds).toFixed(0)} | ${ccm.builds.map((t) => t.toFixed(0)).join(', ')} |`);
console.log(`| cfssl 1.2 gencrl (serial file + key file) | ${median(cfssl).toFixed(0)} | ${cfssl.map((t) => t.toFixed(0)).join(', ')} |`);
console.log(`ccm CRL size ${(ccm.bytes / 1e6).toFixed(2)} MB; served again unchanged in ${ccm.cached.toFixed(0)} ms; ratio ccm/cfssl ${(median(ccm.builds) / median(cfssl)).toFixed(2)}`);
console.log('');
console.log('OCSP (POST, 10 in flight for 5 s, load generator in the same process, 2 cores, local custody, P-256):');
console.log(`| request | responses/s | p99 (ms) |`);
console.log(`|---|---|---|`);
console.log(`| with a nonce (signed each time) | ${ccm.ocsp.nonceRps.toFixed(0)} | ${ccm.ocsp.nonceP99.toFixed(1)} |`);
console.log(`| without a nonce (cached answer) | ${ccm.ocsp.cachedRps.toFixed(0)} | ${ccm.ocsp.cachedP99.toFixed(1)} |`);
