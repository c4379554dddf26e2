/**
 * PrometheusMetrics: what each port call adds to the exposition, two
 * instances counting apart, the outbox gauges read once per scrape (NaN when
 * the reading fails or times out), and label values escaped so that a strict
 * reader of the text format accepts them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutboxBacklog, type OutboxBacklogReading } from '../../src/metrics/outbox-backlog.js';
import { PrometheusMetrics } from '../../src/metrics/prometheus-metrics.js';
import type { Clock } from '../../src/shared/clock.js';
import { Exposition } from '../support/prometheus-exposition.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const clock: Clock = { now: () => new Date(NOW) };

class CountingBacklog extends OutboxBacklog {
  reads = 0;
  timeouts: number[] = [];
  constructor(private readonly answer: () => Promise<OutboxBacklogReading>) {
    super();
  }
  read(timeoutMs: number): Promise<OutboxBacklogReading> {
    this.reads += 1;
    this.timeouts.push(timeoutMs);
    return this.answer();
  }
}

function metricsWith(backlog: OutboxBacklog = new CountingBacklog(async () => ({ pendingEvents: 0, oldestOccurredAt: null }))): PrometheusMetrics {
  return new PrometheusMetrics({ backlog, clock, processMetrics: false });
}

async function scrape(metrics: PrometheusMetrics): Promise<Exposition> {
  return Exposition.parse(await metrics.exposition());
}

describe('PrometheusMetrics', () => {
  it('counts issuance per tenant, algorithm and method, and times it per algorithm only', async () => {
    const metrics = metricsWith();
    metrics.issued('tenant-a', 'ecdsa-p256', 'csr', 0.003);
    metrics.issued('tenant-a', 'ecdsa-p256', 'csr', 0.004);
    metrics.issued('tenant-b', 'ecdsa-p256', 'keygen', 0.02);
    metrics.issued('tenant-b', 'rsa-2048', 'est', 0.2);
    const scraped = await scrape(metrics);
    assert.equal(scraped.value('ccm_certificates_issued_total', { tenant: 'tenant-a', algorithm: 'ecdsa-p256', method: 'csr' }), 2);
    assert.equal(scraped.value('ccm_certificates_issued_total', { tenant: 'tenant-b', algorithm: 'ecdsa-p256', method: 'keygen' }), 1);
    assert.equal(scraped.value('ccm_certificates_issued_total', { tenant: 'tenant-b', algorithm: 'rsa-2048', method: 'est' }), 1);
    assert.equal(scraped.value('ccm_issuance_duration_seconds_count', { algorithm: 'ecdsa-p256' }), 3);
    assert.ok(Math.abs(scraped.value('ccm_issuance_duration_seconds_sum', { algorithm: 'ecdsa-p256' }) - 0.027) < 1e-9);
    assert.equal(scraped.value('ccm_issuance_duration_seconds_bucket', { algorithm: 'ecdsa-p256', le: '0.005' }), 2);
    assert.equal(scraped.value('ccm_issuance_duration_seconds_count', { algorithm: 'rsa-2048' }), 1);
    // Latency series exist from the start for every CA-supported algorithm, at 0, and carry no tenant.
    assert.ok(scraped.family('ccm_issuance_duration_seconds').samples.some((sample) => sample.name.endsWith('_count') && sample.labels.algorithm === 'ed25519' && sample.value === 0));
    assert.ok(scraped.family('ccm_issuance_duration_seconds').samples.every((sample) => !('tenant' in sample.labels)));
    assert.equal(scraped.family('ccm_certificates_issued_total').type, 'counter');
    assert.equal(scraped.family('ccm_issuance_duration_seconds').type, 'histogram');
  });

  it('counts authentication decisions and times them all in one histogram', async () => {
    const metrics = metricsWith();
    metrics.decided('accepted', 0.0004);
    metrics.decided('accepted', 0.0006);
    metrics.decided('certificate-suspended', 0.001);
    metrics.decided('invalid-request', 0.0001);
    const scraped = await scrape(metrics);
    assert.equal(scraped.value('ccm_authentications_total', { decision: 'accepted' }), 2);
    assert.equal(scraped.value('ccm_authentications_total', { decision: 'certificate-suspended' }), 1);
    assert.equal(scraped.value('ccm_authentications_total', { decision: 'invalid-request' }), 1);
    assert.equal(scraped.value('ccm_authentication_duration_seconds_count'), 4);
    assert.equal(scraped.value('ccm_authentication_duration_seconds_bucket', { le: '0.0005' }), 2);
  });

  it('counts transitions by count, ignores empty bulk revocations, and counts published events', async () => {
    const metrics = metricsWith();
    metrics.transitioned('inactive', 'active', 1);
    metrics.transitioned('any', 'revoked', 5);
    metrics.transitioned('any', 'revoked', 0);
    metrics.published(3);
    metrics.published(0);
    const scraped = await scrape(metrics);
    assert.equal(scraped.value('ccm_certificate_transitions_total', { from: 'inactive', to: 'active' }), 1);
    assert.equal(scraped.value('ccm_certificate_transitions_total', { from: 'any', to: 'revoked' }), 5);
    assert.equal(scraped.family('ccm_certificate_transitions_total').samples.length, 2);
    assert.equal(scraped.value('ccm_events_published_total'), 3);
  });

  it('times custody signatures by custody and algorithm and records Transit batch sizes', async () => {
    const metrics = metricsWith();
    metrics.signed('vault', 'ecdsa-p256', 0.004);
    metrics.signed('vault', 'rsa-2048', 0.03);
    metrics.signBatch(1);
    metrics.signBatch(17);
    const scraped = await scrape(metrics);
    assert.equal(scraped.value('ccm_custody_sign_duration_seconds_count', { custody: 'vault', algorithm: 'ecdsa-p256' }), 1);
    assert.equal(scraped.value('ccm_custody_sign_duration_seconds_count', { custody: 'vault', algorithm: 'rsa-2048' }), 1);
    assert.equal(scraped.value('ccm_custody_sign_batch_size_count'), 2);
    assert.equal(scraped.value('ccm_custody_sign_batch_size_sum'), 18);
    assert.equal(scraped.value('ccm_custody_sign_batch_size_bucket', { le: '16' }), 1);
    assert.equal(scraped.value('ccm_custody_sign_batch_size_bucket', { le: '32' }), 2);
  });

  it('counts CRLs by format and OCSP answers by status, with the common series present at 0', async () => {
    const metrics = metricsWith();
    const before = await scrape(metrics);
    for (const status of ['good', 'revoked', 'unknown']) assert.ok(before.family('ccm_ocsp_responses_total').samples.some((s) => s.labels.status === status));
    assert.equal(before.family('ccm_crl_requests_total').samples.length, 2);
    metrics.crlServed('der');
    metrics.crlServed('pem');
    metrics.crlServed('der');
    metrics.ocspAnswered('good');
    metrics.ocspAnswered('malformed');
    const scraped = await scrape(metrics);
    assert.equal(scraped.value('ccm_crl_requests_total', { format: 'der' }), 2);
    assert.equal(scraped.value('ccm_crl_requests_total', { format: 'pem' }), 1);
    assert.equal(scraped.value('ccm_ocsp_responses_total', { status: 'good' }), 1);
    assert.equal(scraped.value('ccm_ocsp_responses_total', { status: 'malformed' }), 1);
  });

  it('labels HTTP requests by route pattern, method and status, escaping what the text format needs escaped', async () => {
    const metrics = metricsWith();
    metrics.requested('/v1/tenants/:tenantId', 'GET', 200, 0.002);
    metrics.requested('/v1/tenants/:tenantId', 'GET', 200, 0.003);
    metrics.requested('/v1/tenants/:tenantId', 'GET', 404, 0.001);
    const odd = 'a "quoted"\\ route\nwith a line feed';
    metrics.requested(odd, 'POST', 500, 0.1);
    const text = await metrics.exposition();
    assert.match(text, /route="a \\"quoted\\"\\\\ route\\nwith a line feed"/);
    const scraped = Exposition.parse(text);
    assert.equal(scraped.value('ccm_http_requests_total', { route: '/v1/tenants/:tenantId', method: 'GET', status: '200' }), 2);
    assert.equal(scraped.value('ccm_http_requests_total', { route: '/v1/tenants/:tenantId', method: 'GET', status: '404' }), 1);
    assert.equal(scraped.value('ccm_http_request_duration_seconds_count', { route: '/v1/tenants/:tenantId', method: 'GET', status: '200' }), 2);
    assert.equal(scraped.value('ccm_http_requests_total', { route: odd, method: 'POST', status: '500' }), 1);
  });

  it('reads the outbox backlog once per scrape for both gauges, with its age by the clock', async () => {
    const backlog = new CountingBacklog(async () => ({ pendingEvents: 7, oldestOccurredAt: new Date(NOW.getTime() - 42_500) }));
    const metrics = metricsWith(backlog);
    const scraped = await scrape(metrics);
    assert.equal(scraped.value('ccm_outbox_pending_events'), 7);
    assert.equal(scraped.value('ccm_outbox_oldest_event_age_seconds'), 42.5);
    assert.equal(backlog.reads, 1, 'one query serves both gauges');
    assert.deepEqual(backlog.timeouts, [1000], 'a scrape waits at most a second for it');
    await scrape(metrics);
    assert.equal(backlog.reads, 2, 'and each scrape reads afresh');
  });

  it('reports an empty backlog as 0 pending, age 0', async () => {
    const scraped = await scrape(metricsWith(new CountingBacklog(async () => ({ pendingEvents: 0, oldestOccurredAt: null }))));
    assert.equal(scraped.value('ccm_outbox_pending_events'), 0);
    assert.equal(scraped.value('ccm_outbox_oldest_event_age_seconds'), 0);
  });

  it('reports NaN for the outbox gauges when the reading fails, and still answers the scrape', async () => {
    let failing = true;
    const backlog = new CountingBacklog(async () => {
      if (failing) throw new Error('the outbox backlog query took longer than 1000 ms');
      return { pendingEvents: 2, oldestOccurredAt: NOW };
    });
    const metrics = metricsWith(backlog);
    metrics.published(1);
    const scraped = await scrape(metrics);
    assert.ok(Number.isNaN(scraped.value('ccm_outbox_pending_events')));
    assert.ok(Number.isNaN(scraped.value('ccm_outbox_oldest_event_age_seconds')));
    assert.equal(scraped.value('ccm_events_published_total'), 1, 'the other metrics are served all the same');
    failing = false;
    assert.equal((await scrape(metrics)).value('ccm_outbox_pending_events'), 2);
  });

  it('keeps two instances apart (one registry each, not the global one)', async () => {
    const first = metricsWith();
    const second = metricsWith();
    first.issued('t', 'ecdsa-p256', 'csr', 0.001);
    assert.equal((await scrape(first)).value('ccm_certificates_issued_total', { tenant: 't', algorithm: 'ecdsa-p256', method: 'csr' }), 1);
    assert.equal((await scrape(second)).value('ccm_certificates_issued_total', { tenant: 't', algorithm: 'ecdsa-p256', method: 'csr' }), 0);
    const { register } = await import('prom-client');
    assert.equal(register.getSingleMetric('ccm_certificates_issued_total'), undefined);
  });

  it('gives every family a HELP text and a conventional name', async () => {
    const scraped = await scrape(metricsWith());
    const ours = [...scraped.families.values()].filter((family) => family.name.startsWith('ccm_'));
    assert.equal(ours.length, 15);
    for (const family of ours) {
      assert.ok(family.help.length > 20, `${family.name} has a HELP text`);
      if (family.type === 'counter') assert.match(family.name, /_total$/);
      if (family.type === 'histogram' || family.type === 'gauge') assert.doesNotMatch(family.name, /_total$/);
    }
  });
});

describe('cell counters and histograms', () => {
  it('write exactly what prom-client\'s own Counter and Histogram write for the same observations', async () => {
    const { Counter, Histogram, Registry } = await import('prom-client');
    const { CellCounter, CellHistogram } = await import('../../src/metrics/cell-metrics.js');
    const theirs = new Registry();
    const ours = new Registry();
    const buckets = [0.001, 0.01, 0.1, 1];
    const observations = [0.0005, 0.001, 0.002, 0.05, 0.5, 3, 0.01];
    const histogram = new Histogram({ name: 'h_seconds', help: 'a "help" \\ text', labelNames: ['a', 'b'], buckets, registers: [theirs] });
    const counter = new Counter({ name: 'c_total', help: 'counts', labelNames: ['a'], registers: [theirs] });
    const cellHistogram = new CellHistogram({ name: 'h_seconds', help: 'a "help" \\ text', labelNames: ['a', 'b'], buckets, registers: [ours] });
    const cellCounter = new CellCounter({ name: 'c_total', help: 'counts', labelNames: ['a'], registers: [ours] });
    for (const [i, value] of observations.entries()) {
      const labels = { a: i % 2 ? 'odd "one"' : 'even\none', b: 'x\\y' };
      histogram.observe(labels, value);
      cellHistogram.cell(labels.a, labels.b).observe(value);
      counter.inc({ a: labels.a }, i);
      cellCounter.cell(labels.a).inc(i);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    // What the cluster primary serves: two workers' JSON, aggregated.
    const { AggregatorRegistry } = await import('prom-client');
    const aggregated = async (registry: InstanceType<typeof Registry>) => AggregatorRegistry.aggregate([await registry.getMetricsAsJSON(), await registry.getMetricsAsJSON()]).metrics();
    assert.equal(await aggregated(ours), await aggregated(theirs));
    assert.match(await aggregated(ours), /h_seconds_count\{a="even\\none",b="x\\\\y"\} 8\n/, 'summed over the workers');
    Exposition.parse(await ours.metrics());
  });
});
