/**
 * Benchmark: device authentications per second, the broker's hot path.
 * A certificate already in use (active, last use recorded within the minute,
 * so the life cycle writes nothing) is authenticated over and over by
 * CONCURRENCY loops for DURATION seconds, as a broker would for reconnecting
 * devices: by PEM (signature checked against the stored CA), and by issuer
 * and serial number (the cheap path). Everything the audit trail writes for
 * these decisions is counted afterwards.
 *
 *   npm run build && node dist/bench/authentication-throughput.js [--concurrency=10] [--seconds=5] [--database=postgres|sqlite]
 *
 * ccm runs in this process (as in the e2e tests); the load loops share its
 * event loop, so the figures are a floor for a dedicated server.
 */
import { execFileSync } from 'node:child_process';
import { TestInstallation, type CcmUnderTest } from '../test/support/ccm-under-test.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const CONCURRENCY = Number(args.get('concurrency') ?? 10);
const SECONDS = Number(args.get('seconds') ?? 5);
const DATABASE = (args.get('database') ?? 'postgres') as 'postgres' | 'sqlite';

interface Figures {
  readonly requests: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly statuses: string;
}

async function load(send: () => Promise<number>): Promise<Figures> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        const status = await send();
        latencies.push(performance.now() - started);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    rps: Math.round(latencies.length / SECONDS),
    p50: Number(latencies[Math.floor(latencies.length * 0.5)]!.toFixed(1)),
    p99: Number(latencies[Math.floor(latencies.length * 0.99)]!.toFixed(1)),
    statuses: [...statuses].map(([status, count]) => `${status}×${count}`).join(' '),
  };
}

async function json<T>(ccm: CcmUnderTest, path: string, body: object, key = ccm.adminKey): Promise<T> {
  const response = await fetch(`${ccm.url}${path}`, { method: 'POST', headers: { ...ccm.authorization(key), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

async function main(): Promise<void> {
  const installation = await TestInstallation.create({ database: DATABASE, custody: 'local' });
  const ccm = await installation.start();
  try {
    const tenant = await json<{ id: string }>(ccm, '/v1/tenants', { name: `bench-${Date.now()}` });
    const issued = await json<{ id: string; certificatePem: string; serialNumber: string }>(ccm, `/v1/tenants/${tenant.id}/certificates`, { commonName: 'bench-device', ttlSeconds: 3600 });
    const brokerKey = await ccm.createApiKey('broker');
    const issuer = execFileSync('openssl', ['x509', '-noout', '-issuer', '-nameopt', 'RFC2253'], { input: issued.certificatePem }).toString().trim().replace(/^issuer=/, '');
    const authenticate = (body: object) => async () => {
      const response = await fetch(`${ccm.url}/v1/authentications`, { method: 'POST', headers: { ...ccm.authorization(brokerKey), 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await response.arrayBuffer();
      return response.status;
    };
    const byPem = authenticate({ certificatePem: issued.certificatePem });
    const bySerial = authenticate({ issuer, serialNumber: issued.serialNumber });
    // First use: activates the certificate and records its use, so every measured call is a repeat use.
    if ((await byPem()) !== 200 || (await bySerial()) !== 200) throw new Error('the warm-up authentication was refused');
    await load(byPem);

    const auditRowsBefore = await auditRows(installation);
    const pem = await load(byPem);
    const serial = await load(bySerial);
    const auditRowsAfter = await auditRows(installation);
    console.log(`POST /v1/authentications, repeat use, ${CONCURRENCY} in flight, ${SECONDS} s each, ${DATABASE}`);
    console.table({ 'by certificatePem': pem, 'by issuer + serialNumber': serial });
    console.log(auditRowsAfter === null ? 'no audit_log table' : `audit_log rows written during the runs: ${auditRowsAfter - auditRowsBefore!} for ${pem.requests + serial.requests} requests`);
  } finally {
    await ccm.close();
    await installation.destroy();
  }
}

async function auditRows(installation: TestInstallation): Promise<number | null> {
  try {
    return Number((await installation.database.query<{ count: string | number }>('SELECT COUNT(*) AS count FROM audit_log'))[0]!.count);
  } catch {
    return null;
  }
}

await main();
