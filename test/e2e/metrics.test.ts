/**
 * Prometheus metrics on the CCM_METRICS_PORT listener, scraped over real
 * HTTP while ccm does real work: a tenant, issuance by CSR and by generated
 * key, authentications accepted and refused, suspension, reactivation and
 * revocation, a CA revocation, CRLs and OCSP answers (requests made by
 * openssl). Each scrape must parse as the strict text format; each metric
 * must move by exactly what was done; the outbox gauges must show events
 * that wait (no Redis, or Redis cut off) and drain once they are published;
 * the API port has no /metrics; nothing secret appears. On SQLite with local
 * custody and on PostgreSQL with Vault custody and Redis; then two HTTP
 * workers whose metrics the primary serves summed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { MetricsModule } from '../../src/metrics/metrics.module.js';
import { TestInstallation, backendName, type Backend, type CcmUnderTest } from '../support/ccm-under-test.js';
import { openssl, pemBlocks, Scratch } from '../support/openssl.js';
import { Exposition } from '../support/prometheus-exposition.js';
import { freePort, ServerProcess } from '../support/server-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const REDIS = { host: '127.0.0.1', port: 6379 };
const PROBLEM = 'urn:ccm:problem:';

interface Scrape {
  readonly exposition: Exposition;
  readonly text: string;
}

async function scrape(metricsUrl: string): Promise<Scrape> {
  const response = await fetch(metricsUrl);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4; charset=utf-8$/);
  const text = await response.text();
  return { exposition: Exposition.parse(text), text };
}

/** The change of one sample between two scrapes (a series that did not exist yet counts as 0). */
function delta(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return after.exposition.value(name, labels) - before.exposition.value(name, labels);
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Scenario {
  readonly backend: Backend;
  /** Redis behind a proxy the test cuts, so events wait and then drain; none: events wait in the outbox for good. */
  readonly redis: boolean;
}

const SCENARIOS: readonly Scenario[] = [
  { backend: { database: 'sqlite', custody: 'local' }, redis: false },
  { backend: { database: 'postgres', custody: 'vault' }, redis: true },
];

for (const scenario of SCENARIOS) {
  const { backend } = scenario;
  describe(`metrics on ${backendName(backend)}${scenario.redis ? ' with Redis' : ''}`, () => {
    let installation: TestInstallation;
    let ccm: CcmUnderTest;
    let scratch: Scratch;
    let proxy: TcpProxy | null = null;
    let metricsUrl: string;
    let subscriberQueue: string | null = null;

    before(async () => {
      const metricsPort = await freePort();
      const extra: Record<string, string> = { CCM_METRICS_PORT: String(metricsPort), CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '0' };
      if (scenario.redis) {
        proxy = new TcpProxy(REDIS.host, REDIS.port);
        await proxy.start();
        Object.assign(extra, { CCM_REDIS_URL: `redis://${proxy.address}`, CCM_RELAY_POLL_MS: '100' });
      }
      installation = await TestInstallation.create(backend, extra);
      ccm = await installation.start();
      metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      scratch = await Scratch.create();
    });

    after(async () => {
      await ccm?.close();
      if (subscriberQueue) {
        const queue = new Queue(subscriberQueue, { connection: REDIS });
        await queue.obliterate({ force: true });
        await queue.close();
      }
      await installation?.destroy();
      await proxy?.stop();
      await scratch?.cleanup();
    });

    test('every metric moves by exactly what ccm did, the exposition is well-formed, and nothing secret shows', async () => {
      const api = ccm.api();
      const tenant = (await api.post('/v1/tenants').send({ name: `metrics-${Date.now()}` }).expect(201)).body as { id: string };
      const chainPem = (await api.get(`/v1/tenants/${tenant.id}/ca-chain`).expect(200)).text;
      const subscriber = (await api.post('/v1/event-subscribers').send({ name: `metrics-${Date.now()}` }).expect(201)).body as { id: string; queue: string };
      subscriberQueue = scenario.redis ? subscriber.queue : null;
      const brokerKey = await ccm.createApiKey('broker');
      const s0 = await scrape(metricsUrl);
      const family = (name: string) => s0.exposition.family(name);
      assert.equal(family('ccm_certificates_issued_total').type, 'counter');
      assert.equal(family('ccm_issuance_duration_seconds').type, 'histogram');
      assert.equal(family('ccm_outbox_pending_events').type, 'gauge');
      assert.ok(s0.exposition.families.has('process_cpu_user_seconds_total'), 'prom-client process metrics');
      assert.ok(s0.exposition.families.has('nodejs_eventloop_lag_seconds'));
      assert.equal(s0.exposition.value('ccm_outbox_pending_events'), 0, 'the new subscriber starts at the end of the outbox');

      // Issuance: one by CSR, one with a key ccm generates. Nothing else signs in between (no transition yet, so no CRL build).
      const deviceKey = await scratch.write('device.key', (await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout);
      const csr = (await openssl(['req', '-new', '-key', deviceKey, '-subj', '/CN=metrics-csr'])).stdout;
      const byCsr = (await api.post(`/v1/tenants/${tenant.id}/certificates`).send({ csr, ttlSeconds: 3600 }).expect(201)).body as { id: string; certificatePem: string; authorityId?: string };
      const byKeygen = (await api.post(`/v1/tenants/${tenant.id}/certificates`).send({ commonName: 'metrics-keygen', ttlSeconds: 3600 }).expect(201)).body as { id: string; certificatePem: string; privateKeyPem: string };
      const s1 = await scrape(metricsUrl);
      const issued = (method: string) => delta(s0, s1, 'ccm_certificates_issued_total', { tenant: tenant.id, algorithm: 'ecdsa-p256', method });
      assert.equal(issued('csr'), 1);
      assert.equal(issued('keygen'), 1);
      assert.equal(issued('renew') + issued('est'), 0);
      assert.equal(delta(s0, s1, 'ccm_issuance_duration_seconds_count', { algorithm: 'ecdsa-p256' }), 2);
      assert.ok(delta(s0, s1, 'ccm_issuance_duration_seconds_sum', { algorithm: 'ecdsa-p256' }) > 0);
      assert.equal(delta(s0, s1, 'ccm_custody_sign_duration_seconds_count', { custody: backend.custody, algorithm: 'ecdsa-p256' }), 2, 'one CA signature per certificate');
      // Vault: each signature went alone (one request at a time), in the plain input form; local custody makes no Transit requests.
      assert.equal(delta(s0, s1, 'ccm_custody_sign_batch_size_count'), backend.custody === 'vault' ? 2 : 0);
      assert.equal(delta(s0, s1, 'ccm_custody_sign_batch_size_sum'), backend.custody === 'vault' ? 2 : 0);
      const certificates = { route: '/v1/tenants/:tenantId/certificates', method: 'POST', status: '201' };
      assert.equal(delta(s0, s1, 'ccm_http_requests_total', certificates), 2);
      assert.equal(delta(s0, s1, 'ccm_http_request_duration_seconds_count', certificates), 2);
      assert.ok(!s1.text.includes(tenant.id.replace(/-/g, '')) && !s1.text.includes(byCsr.id), 'route patterns, never ids in paths');

      // Authentication and the life cycle, with Redis (if any) cut off so every event waits in the outbox.
      if (proxy) await proxy.stop();
      const broker = ccm.api(brokerKey);
      await broker.post('/v1/authentications').send({ certificatePem: byKeygen.certificatePem }).expect(200);
      await api.post(`/v1/tenants/${tenant.id}/certificates/${byCsr.id}/suspend`).send({}).expect(200);
      const refused = await broker.post('/v1/authentications').send({ certificatePem: byCsr.certificatePem }).expect(403);
      assert.equal(refused.body.type, `${PROBLEM}certificate-suspended`);
      await broker.post('/v1/authentications').send({ certificatePem: '-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n' }).expect(400);
      await api.post(`/v1/tenants/${tenant.id}/certificates/${byCsr.id}/reactivate`).send({}).expect(200);
      await api.post(`/v1/tenants/${tenant.id}/certificates/${byKeygen.id}/revoke`).send({ reason: 'keyCompromise' }).expect(200);
      const s2 = await scrape(metricsUrl);
      assert.equal(delta(s1, s2, 'ccm_authentications_total', { decision: 'accepted' }), 1);
      assert.equal(delta(s1, s2, 'ccm_authentications_total', { decision: 'certificate-suspended' }), 1);
      assert.equal(delta(s1, s2, 'ccm_authentications_total', { decision: 'invalid-request' }), 1);
      assert.equal(s2.exposition.sum('ccm_authentications_total') - s1.exposition.sum('ccm_authentications_total'), 3);
      assert.equal(delta(s1, s2, 'ccm_authentication_duration_seconds_count'), 3);
      const transitions = (s: Scrape, from: string, to: string) => s.exposition.value('ccm_certificate_transitions_total', { from, to });
      assert.equal(transitions(s2, 'inactive', 'active') - transitions(s1, 'inactive', 'active'), 1, 'first use');
      assert.equal(transitions(s2, 'inactive', 'suspended') - transitions(s1, 'inactive', 'suspended'), 1);
      assert.equal(transitions(s2, 'suspended', 'inactive') - transitions(s1, 'suspended', 'inactive'), 1, 'reactivated, never used');
      assert.equal(transitions(s2, 'active', 'revoked') - transitions(s1, 'active', 'revoked'), 1);
      assert.equal(s2.exposition.sum('ccm_certificate_transitions_total') - s1.exposition.sum('ccm_certificate_transitions_total'), 4);
      const authentications = (status: string) => delta(s1, s2, 'ccm_http_requests_total', { route: '/v1/authentications', method: 'POST', status });
      assert.deepEqual([authentications('200'), authentications('403'), authentications('400')], [1, 1, 1]);
      // Four events (activated, suspended, reactivated, revoked) wait for the one subscriber.
      assert.equal(s2.exposition.value('ccm_outbox_pending_events'), 4);
      const age = s2.exposition.value('ccm_outbox_oldest_event_age_seconds');
      assert.ok(age >= 0 && age < 60, `oldest event age ${age}`);
      assert.equal(delta(s1, s2, 'ccm_events_published_total'), 0);

      // CRLs and OCSP.
      const authorityId = (await api.get(`/v1/tenants/${tenant.id}/certificates/${byCsr.id}`).expect(200)).body.authorityId as string;
      await api.get(`/v1/tenants/${tenant.id}/crl`).expect(200);
      await api.get(`/v1/tenants/${tenant.id}/crl?format=pem`).expect(200);
      assert.equal((await fetch(`${ccm.url}/crl/${authorityId}.crl`)).status, 200);
      const rootPath = await scratch.write('root.pem', pemBlocks(chainPem)[0]!);
      const ocspRequest = async (name: string, certificatePem: string): Promise<Buffer> => {
        const leaf = await scratch.write(`${name}.pem`, certificatePem);
        const out = scratch.path(`${name}.ocsp-request.der`);
        await openssl(['ocsp', '-issuer', rootPath, '-cert', leaf, '-reqout', out]);
        return readFile(out);
      };
      const ocsp = async (path: string, body: Uint8Array): Promise<void> => {
        const response = await fetch(`${ccm.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body });
        assert.equal(response.status, 200);
        assert.equal(response.headers.get('content-type'), 'application/ocsp-response');
        await response.arrayBuffer();
      };
      await ocsp(`/ocsp/${authorityId}`, await ocspRequest('good', byCsr.certificatePem));
      await ocsp(`/ocsp/${authorityId}`, await ocspRequest('revoked', byKeygen.certificatePem));
      await ocsp(`/ocsp/${authorityId}`, Buffer.from('garbage'));
      await ocsp('/ocsp/01a20000-0000-7000-8000-000000000000', await ocspRequest('elsewhere', byCsr.certificatePem));
      const s3 = await scrape(metricsUrl);
      assert.equal(delta(s2, s3, 'ccm_crl_requests_total', { format: 'der' }), 2);
      assert.equal(delta(s2, s3, 'ccm_crl_requests_total', { format: 'pem' }), 1);
      const ocspAnswers = (status: string) => delta(s2, s3, 'ccm_ocsp_responses_total', { status });
      assert.deepEqual(['good', 'revoked', 'unknown', 'malformed', 'unauthorized'].map(ocspAnswers), [1, 1, 0, 1, 1]);
      assert.equal(delta(s2, s3, 'ccm_http_requests_total', { route: '/crl/:file', method: 'GET', status: '200' }), 1);
      assert.equal(delta(s2, s3, 'ccm_http_requests_total', { route: '/ocsp/:authorityId', method: 'POST', status: '200' }), 4);

      // A CA revocation takes its certificates with it: the one not revoked yet.
      await api.post(`/v1/tenants/${tenant.id}/ca/revoke`).send({ reason: 'cessationOfOperation' }).expect(200);
      // The API port has no /metrics: a 404 problem, counted as a request no route matched.
      const onApi = await fetch(`${ccm.url}/metrics`);
      assert.equal(onApi.status, 404);
      assert.match(onApi.headers.get('content-type') ?? '', /application\/problem\+json/);
      await onApi.text();
      const s4 = await scrape(metricsUrl);
      assert.equal(transitions(s4, 'any', 'revoked') - transitions(s3, 'any', 'revoked'), 1);
      assert.equal(delta(s3, s4, 'ccm_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' }), 1);
      assert.equal(s4.exposition.value('ccm_outbox_pending_events'), 5, 'the authority.revoked event joins the four');

      if (proxy) {
        // Redis back: the relay publishes the five events to the subscriber's queue and the backlog drains.
        await proxy.start();
        const drained = await until(() => scrape(metricsUrl), (s) => s.exposition.value('ccm_outbox_pending_events') === 0, 'the outbox to drain');
        assert.equal(drained.exposition.value('ccm_outbox_oldest_event_age_seconds'), 0);
        assert.equal(delta(s4, drained, 'ccm_events_published_total'), 5);
      } else {
        assert.equal(delta(s0, s4, 'ccm_events_published_total'), 0, 'no relay without Redis');
      }

      // Only the metrics path, and only for reading.
      assert.equal((await fetch(metricsUrl.replace('/metrics', '/'))).status, 404);
      assert.equal((await fetch(metricsUrl, { method: 'POST' })).status, 405);

      // Issuances refused by the use case count by reason, and as nothing issued.
      const s5 = await scrape(metricsUrl);
      await api.post(`/v1/tenants/${tenant.id}/certificates`).send({ csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }).expect(400);
      await api.post(`/v1/tenants/${tenant.id}/certificates`).send({ csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }).expect(400);
      const s6 = await scrape(metricsUrl);
      assert.equal(delta(s5, s6, 'ccm_issuance_failures_total', { reason: 'malformed-csr' }), 2);
      assert.equal(delta(s5, s6, 'ccm_certificates_issued_total', { tenant: tenant.id, algorithm: 'ecdsa-p256', method: 'csr' }), 0);
      assert.equal(delta(s5, s6, 'ccm_issuance_duration_seconds_count', { algorithm: 'ecdsa-p256' }), 0);

      // Nothing secret in any scrape: no API key, no private key, no Vault token.
      const secrets = [installation.adminKey, brokerKey, ...byKeygen.privateKeyPem.split('\n').filter((line) => line.length > 40), installation.env.CCM_VAULT_TOKEN].filter((secret): secret is string => !!secret);
      for (const { text } of [s0, s1, s2, s3, s4]) for (const secret of secrets) assert.ok(!text.includes(secret), 'a secret in the metrics');
    });
  });
}

describe('metrics on an ephemeral port', () => {
  test('CCM_METRICS_PORT=0 binds a free port on CCM_METRICS_HOST, which closes with ccm', async () => {
    const installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' }, { CCM_METRICS_PORT: '0', CCM_METRICS_HOST: '127.0.0.1' });
    try {
      const ccm = await installation.start();
      const address = ccm.app.get(MetricsModule).listenerAddress();
      assert.ok(address && address.port > 0 && address.host === '127.0.0.1', JSON.stringify(address));
      const metricsUrl = `http://127.0.0.1:${address.port}/metrics`;
      assert.ok((await scrape(metricsUrl)).exposition.families.has('ccm_certificates_issued_total'));
      await ccm.close();
      await assert.rejects(fetch(metricsUrl), 'the listener is closed with the application');
    } finally {
      await installation.destroy();
    }
  });

  test('without CCM_METRICS_PORT there is no metrics listener', async () => {
    const installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' });
    try {
      const ccm = await installation.start();
      assert.equal(ccm.app.get(MetricsModule).listenerAddress(), null);
      await ccm.close();
    } finally {
      await installation.destroy();
    }
  });
});

describe('metrics with two HTTP workers', () => {
  test('the primary serves the workers\' metrics summed, and the outbox gauges not doubled', async () => {
    const metricsPort = await freePort();
    const installation = await TestInstallation.create({ database: 'sqlite', custody: 'local' }, { CCM_WORKERS: '2', CCM_METRICS_PORT: String(metricsPort), CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '0', CCM_LOG_LEVEL: 'log' });
    const ccm = await ServerProcess.ccm(installation.env);
    try {
      await until(async () => ccm.log, (log) => log.includes('with 2 workers'), 'both workers to listen', 60_000);
      assert.match(ccm.log, new RegExp(`ccm metrics at http://127\\.0\\.0\\.1:${metricsPort}/metrics`));
      const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      const post = async (path: string, body: object) => {
        const response = await fetch(`${ccm.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${installation.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        assert.ok(response.status < 300, `${path}: ${response.status}`);
        return (await response.json()) as { id: string };
      };
      const tenant = await post('/v1/tenants', { name: 'workers' });
      await post('/v1/event-subscribers', { name: 'workers' });
      const before = await scrape(metricsUrl);
      const workers = ccm.descendants();
      const cpuBefore = workers.map((pid) => ServerProcess.cpuSecondsOf(pid));
      const issued = await Promise.all(Array.from({ length: 12 }, (_, i) => post(`/v1/tenants/${tenant.id}/certificates`, { commonName: `w-${i}` })));
      await post(`/v1/tenants/${tenant.id}/certificates/${issued[0]!.id}/suspend`, {});
      const after = await scrape(metricsUrl);
      assert.equal(delta(before, after, 'ccm_certificates_issued_total', { tenant: tenant.id, algorithm: 'ecdsa-p256', method: 'keygen' }), 12);
      assert.equal(delta(before, after, 'ccm_issuance_duration_seconds_count', { algorithm: 'ecdsa-p256' }), 12);
      assert.equal(delta(before, after, 'ccm_http_requests_total', { route: '/v1/tenants/:tenantId/certificates', method: 'POST', status: '201' }), 12);
      assert.equal(delta(before, after, 'ccm_certificate_transitions_total', { from: 'inactive', to: 'suspended' }), 1);
      assert.equal(after.exposition.value('ccm_outbox_pending_events'), 1, 'each worker reads the one outbox; the primary takes the larger, not the sum');
      workers.forEach((pid, i) => assert.ok(ServerProcess.cpuSecondsOf(pid) > cpuBefore[i]!, `worker ${pid} took part`));
      ccm.signal('SIGTERM');
      assert.equal(await ccm.exited(), 0);
    } finally {
      await ccm.stop();
      await installation.destroy();
    }
  });
});
