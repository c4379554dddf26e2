/**
 * The ccm side of the broker agents' end-to-end tests
 * (test/e2e/{mosquitto,rabbitmq,nats}-agent.test.ts): a ccm installation
 * (PostgreSQL, local key custody, the Redis relay) with one tenant, its
 * device certificates issued through the API (by common name or from a
 * CSR), the event subscriber the agent reads, the agent's CCM_AGENT_*
 * variables with a broker API key, and the clean-up of all of it (the
 * subscriber's queue in Redis included). The broker and its agent are each
 * test's own.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { subscriberQueueName } from '@ccm/event-consumer/contract';
import { TestInstallation, type CcmUnderTest } from './ccm-under-test.js';
import type { Clock } from '../../src/shared/clock.js';
import { openssl } from './openssl.js';

export const REDIS_URL = process.env['CCM_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** A certificate ccm issued, with the device's key. */
export interface IssuedDevice {
  readonly id: string;
  readonly serialNumber: string;
  /** The subject as ccm prints it. */
  readonly subject: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

export interface ApiAnswer<T> {
  readonly status: number;
  readonly body: T;
  /** performance.now() when the response's headers arrived: when ccm answered. */
  readonly at: number;
}

/** A request to ccm's API as its operator; JSON bodies parsed, text bodies (PEM) as they are. */
export async function api<T>(ccm: CcmUnderTest, method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  const headers = { ...ccm.authorization(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  const response = await fetch(`${ccm.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const at = performance.now();
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // PEM and other text bodies
  }
  return { status: response.status, body: parsed as T, at };
}

type IssuedBody = { id: string; serialNumber: string; subject: string; certificatePem: string; chainPem: string; privateKeyPem: string | null };

/** A device certificate with subject CN=<commonName>, its key made by ccm. */
export async function issueDevice(ccm: CcmUnderTest, tenantId: string, commonName: string): Promise<IssuedDevice & { readonly commonName: string; readonly chainPem: string }> {
  const res = await api<IssuedBody>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates`, { commonName, ttlSeconds: 3600 });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, commonName, serialNumber: res.body.serialNumber, subject: res.body.subject, certificatePem: res.body.certificatePem, chainPem: res.body.chainPem, privateKeyPem: res.body.privateKeyPem! };
}

/** A device that sends a CSR (openssl -subj form, `subj`), so its subject has more than a CN; its key is written to `directory`. */
export async function issueFromCsr(ccm: CcmUnderTest, tenantId: string, subj: string, directory: string): Promise<IssuedDevice> {
  const key = join(directory, `${randomUUID()}.key`);
  assert.equal((await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key])).code, 0);
  const csr = await openssl(['req', '-new', '-utf8', '-key', key, '-subj', subj]);
  assert.equal(csr.code, 0, csr.stderr);
  const res = await api<IssuedBody>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates`, { csr: csr.stdout, ttlSeconds: 3600 });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id, serialNumber: res.body.serialNumber, subject: res.body.subject, certificatePem: res.body.certificatePem, privateKeyPem: await readFile(key, 'utf8') };
}

/** POST /v1/tenants/{tenantId}/certificates/{id}/<action> (a revocation's reason in `body`), answered 200. */
export async function certificateAction(ccm: CcmUnderTest, tenantId: string, device: Pick<IssuedDevice, 'id'>, action: 'suspend' | 'reactivate' | 'revoke', body: unknown = {}): Promise<ApiAnswer<{ state: string }>> {
  const answer = await api<{ state: string }>(ccm, 'POST', `/v1/tenants/${tenantId}/certificates/${device.id}/${action}`, body);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until the attempt gives `wanted`; resolves the ms it took. */
export async function eventually(attempt: () => Promise<string>, wanted: string, timeoutMs = 20_000): Promise<number> {
  const start = performance.now();
  for (;;) {
    const outcome = await attempt();
    if (outcome === wanted) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`still ${outcome}, never ${wanted}, after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** ccm with one tenant for a broker agent's e2e test; close() removes everything start() and subscribe() made. */
export class BrokerE2e {
  private subscriber: { readonly id: string; readonly queue: string } | null = null;

  private constructor(
    readonly installation: TestInstallation,
    readonly ccm: CcmUnderTest,
    readonly tenantId: string,
    /** A temp directory of the test's own (keys, password files, cursors). */
    readonly workDirectory: string,
  ) {}

  static async start(tenantName: string, options: { readonly clock?: Clock } = {}): Promise<BrokerE2e> {
    const installation = await TestInstallation.create({ database: 'postgres', custody: 'local' }, { CCM_REDIS_URL: REDIS_URL });
    let ccm: CcmUnderTest | null = null;
    let workDirectory: string | null = null;
    try {
      ccm = await installation.start(options.clock ? { clock: options.clock } : {});
      workDirectory = await mkdtemp(join(tmpdir(), 'ccm-broker-e2e-'));
      const tenant = await api<{ id: string }>(ccm, 'POST', '/v1/tenants', { name: tenantName });
      assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
      return new BrokerE2e(installation, ccm, tenant.body.id, workDirectory);
    } catch (error) {
      await ccm?.close();
      await installation.destroy();
      if (workDirectory) await rm(workDirectory, { recursive: true, force: true });
      throw error;
    }
  }

  /** The event subscriber of the tenant, for the agent's CCM_AGENT_SUBSCRIBER_ID (events from now on reach its queue). */
  async subscribe(name: string): Promise<{ readonly id: string; readonly queue: string }> {
    const subscriber = await api<{ id: string; queue: string }>(this.ccm, 'POST', '/v1/event-subscribers', { name, tenantIds: [this.tenantId] });
    assert.equal(subscriber.status, 201, JSON.stringify(subscriber.body));
    this.subscriber = { id: subscriber.body.id, queue: subscriber.body.queue };
    return this.subscriber;
  }

  /** The tenant's GET /v1/tenants/{id}/ca-chain: what the broker trusts device certificates by. */
  async caChain(): Promise<string> {
    const chain = await api<string>(this.ccm, 'GET', `/v1/tenants/${this.tenantId}/ca-chain`);
    assert.equal(chain.status, 200);
    return chain.body;
  }

  /** The variables that point an agent at ccm and the tenant, with a new broker API key (the least the agent needs). */
  async ccmEnvironment(): Promise<Record<string, string>> {
    return { CCM_AGENT_CCM_URL: this.ccm.url, CCM_AGENT_CCM_AUTHORIZATION: `Bearer ${await this.ccm.createApiKey('broker')}`, CCM_AGENT_TENANT_IDS: this.tenantId };
  }

  /** ccmEnvironment() and the subscriber's queue in Redis, logging at debug. */
  async agentEnvironment(): Promise<Record<string, string>> {
    if (!this.subscriber) throw new Error('subscribe() before agentEnvironment(): the agent reads the subscriber\'s queue');
    return { ...(await this.ccmEnvironment()), CCM_AGENT_REDIS_URL: REDIS_URL, CCM_AGENT_SUBSCRIBER_ID: this.subscriber.id, CCM_AGENT_LOG_LEVEL: 'debug' };
  }

  /** Writes a secret (a broker password) into the work directory, owner-only; resolves its path. */
  async secretFile(name: string, content: string): Promise<string> {
    const path = join(this.workDirectory, name);
    await writeFile(path, `${content}\n`, { mode: 0o600 });
    return path;
  }

  async close(): Promise<void> {
    await this.ccm.close();
    await this.installation.destroy();
    if (this.subscriber) {
      const queue = new Queue(subscriberQueueName(this.subscriber.id), { connection: { url: REDIS_URL } });
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
    await rm(this.workDirectory, { recursive: true, force: true });
  }
}
