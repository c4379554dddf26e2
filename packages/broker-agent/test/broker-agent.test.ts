import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CcmEvent } from '@ccm/event-consumer';
import { BrokerAgent } from '../src/broker-agent.js';
import { parseAgentConfiguration, type AgentConfiguration } from '../src/configuration.js';
import { certificate, FakeBroker, FakeDirectory, OTHER_TENANT, RecordingAgentLog, ROOT_CA, TENANT } from './fakes.js';
import type { CertificateStatus } from '../src/broker-port.js';

let scratch: string;
let feed: Server;
let feedUrl: string;
/** What the fake ccm's GET /v1/events serves. */
let feedItems: Array<Record<string, unknown>> = [];

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ccm-broker-agent-'));
  feed = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    if (url.pathname !== '/v1/events') return void response.writeHead(404).end();
    const after = Number(url.searchParams.get('after') ?? 0);
    const items = feedItems.filter((item) => Number(item['position']) > after);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items, nextCursor: null }));
  });
  await new Promise<void>((resolve) => feed.listen(0, '127.0.0.1', resolve));
  feedUrl = `http://127.0.0.1:${(feed.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((resolve) => feed.close(resolve));
  await rm(scratch, { recursive: true, force: true });
});

let cursorFiles = 0;
function configuration(overrides: Record<string, string> = {}): AgentConfiguration {
  return parseAgentConfiguration(
    {
      CCM_AGENT_CCM_URL: feedUrl,
      CCM_AGENT_TENANT_IDS: TENANT,
      CCM_AGENT_CURSOR_FILE: join(scratch, `cursor-${cursorFiles++}`),
      CCM_AGENT_POLL_INTERVAL_MS: '50',
      CCM_AGENT_BROKER_RETRY_MS: '5,5',
      CCM_AGENT_HEALTH_LISTEN: '127.0.0.1:0',
      ...overrides,
    },
    () => null,
  ).configuration;
}

function event(type: CcmEvent['type'], c: CertificateStatus, overrides: Partial<CcmEvent> = {}): CcmEvent {
  const state = type === 'certificate.suspended' ? 'suspended' : type === 'certificate.revoked' || type === 'authority.revoked' ? 'revoked' : 'active';
  return {
    schemaVersion: 1,
    id: `0190b000-0000-7000-8000-${String(Math.floor(Math.random() * 1e12)).padStart(12, '0')}`,
    type,
    time: new Date().toISOString(),
    tenantId: c.tenantId,
    authorityId: c.authorityId,
    certificateId: type.startsWith('authority.') ? null : c.id,
    serialNumber: c.serialNumber,
    fingerprintSha256: 'ab'.repeat(32),
    commonName: c.commonName,
    issuer: 'CN=tenant root CA',
    reason: type === 'certificate.suspended' ? 'certificateHold' : type === 'certificate.reactivated' ? null : 'keyCompromise',
    state,
    ...overrides,
  };
}

async function started(directory: FakeDirectory, broker: FakeBroker, overrides: Record<string, string> = {}): Promise<{ agent: BrokerAgent; log: RecordingAgentLog }> {
  const log = new RecordingAgentLog();
  const agent = new BrokerAgent(configuration(overrides), broker, { log, directory });
  await agent.start();
  return { agent, log };
}

/** Starts an agent on `directory` and `broker`, runs `body` with it, and closes it however `body` ends. */
async function withAgent(directory: FakeDirectory, broker: FakeBroker, body: (agent: BrokerAgent) => Promise<void>, overrides: Record<string, string> = {}): Promise<void> {
  const { agent } = await started(directory, broker, overrides);
  try {
    await body(agent);
  } finally {
    await agent.close();
  }
}

async function until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('BrokerAgent', () => {
  it('reconciles at start: in force let in, suspended shut out, revoked ended; /readyz and /metrics say so', async () => {
    const directory = new FakeDirectory();
    directory.put(certificate('in-force', 'active'), certificate('new', 'inactive'), certificate('held', 'suspended'), certificate('gone', 'revoked'));
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      assert.deepEqual(broker.identitiesIn('allowed'), ['in-force', 'new']);
      assert.deepEqual(broker.identitiesIn('out'), ['held']);
      assert.deepEqual(broker.identitiesIn('ended'), ['gone']);
      const base = `http://127.0.0.1:${agent.healthPort}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /ccm_agent_devices\{verdict="let-in",broker="fake"\} 2/);
      assert.match(metrics, /ccm_agent_reconciliations_total\{outcome="ok",broker="fake"\} 1/);
    });
  });

  it('a restart against a broker already right changes nothing, and leaves live sessions alone', async () => {
    const directory = new FakeDirectory();
    directory.put(certificate('bystander', 'active'), certificate('held', 'suspended'), certificate('gone', 'revoked'));
    const broker = new FakeBroker();
    const first = await started(directory, broker);
    await first.agent.close();
    const changes = broker.changes.length;
    broker.live.add('bystander');
    const second = await started(directory, broker);
    try {
      assert.equal(broker.changes.length, changes);
      assert.deepEqual([...broker.live], ['bystander']);
    } finally {
      await second.agent.close();
    }
  });

  it('catches up after being down: devices suspended meanwhile are shut out and their live sessions ended', async () => {
    const directory = new FakeDirectory();
    const devices = Array.from({ length: 20 }, (_, i) => certificate(`d${i}`, 'active'));
    directory.put(...devices);
    const broker = new FakeBroker();
    const first = await started(directory, broker);
    await first.agent.close();
    for (const d of devices) broker.live.add(d.commonName);
    for (const d of devices.slice(0, 10)) directory.setState(d.id, 'suspended');
    const second = await started(directory, broker);
    try {
      assert.deepEqual(broker.identitiesIn('out'), devices.slice(0, 10).map((d) => d.commonName).sort());
      assert.deepEqual([...broker.live].sort(), devices.slice(10).map((d) => d.commonName).sort());
    } finally {
      await second.agent.close();
    }
  });

  it('ends a live session the broker still has for a device that must be out (one that got back in before the broker applied the shut-out)', async () => {
    const directory = new FakeDirectory();
    directory.put(certificate('held', 'suspended'), certificate('bystander', 'active'));
    const broker = new FakeBroker();
    broker.live.add('held');
    broker.live.add('bystander');
    broker.reconnectOnce.add('held');
    await withAgent(directory, broker, async (agent) => {
      assert.deepEqual([...broker.live], ['bystander']);
      assert.equal(broker.calls.filter((call) => call.operation === 'shutOut').length, 2);
      assert.match(await agent.metrics.registry.metrics(), /ccm_agent_sessions_out_of_place_total\{broker="fake"\} 1/);
    });
  });

  it('acts on the certificate\'s current state, whatever order its events arrive in', async () => {
    const directory = new FakeDirectory();
    const c = certificate('sensor', 'active');
    directory.put(c);
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      // Suspended, then reactivated; the reactivation's event is delivered first, the suspension's last (a retry).
      directory.setState(c.id, 'active');
      await agent.handle(event('certificate.reactivated', c));
      await agent.handle(event('certificate.suspended', c));
      assert.equal(broker.state.get('sensor'), 'allowed', 'the stale suspension does not keep the device out');
      directory.setState(c.id, 'suspended');
      await agent.handle(event('certificate.reactivated', c));
      assert.equal(broker.state.get('sensor'), 'out', 'a stale reactivation does not let it in');
    });
  });

  it('from the feed, a keep-out in commit order needs no read from ccm; a retry older than what was handled since reads the state', async () => {
    const directory = new FakeDirectory();
    const c = certificate('sensor', 'active');
    const other = certificate('other', 'active');
    directory.put(c, other);
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      const reads = directory.reads;
      directory.setState(c.id, 'suspended');
      await agent.handle(event('certificate.suspended', c), '10');
      assert.equal(broker.state.get('sensor'), 'out');
      assert.equal(directory.reads, reads, 'no read for an in-order keep-out');
      // Reactivated at 11 (let-in reads ccm), then the suspension of 10 handled again (a retry): older, so ccm decides.
      directory.setState(c.id, 'active');
      await agent.handle(event('certificate.reactivated', c), '11');
      assert.equal(broker.state.get('sensor'), 'allowed');
      assert.equal(directory.reads, reads + 1, 'a let-in reads ccm');
      await agent.handle(event('certificate.suspended', c), '10');
      assert.equal(broker.state.get('sensor'), 'allowed', 'the stale suspension does not keep the device out');
      assert.equal(directory.reads, reads + 2, 'an event older than one handled reads ccm');
      // Another certificate's positions are its own.
      directory.setState(other.id, 'revoked');
      await agent.handle(event('certificate.revoked', other), '5');
      assert.equal(broker.state.get('other'), 'ended');
      assert.equal(directory.reads, reads + 2);
    });
  });

  it('keeps a device out before ccm answers the read, and lets one in only once ccm has answered', async () => {
    const directory = new FakeDirectory();
    const c = certificate('sensor', 'active');
    directory.put(c);
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      directory.setState(c.id, 'suspended');
      let release!: () => void;
      directory.gate = new Promise((resolve) => (release = resolve));
      const suspension = agent.handle(event('certificate.suspended', c));
      await until(() => broker.state.get('sensor') === 'out', 'the device to be kept out on the event alone');
      directory.setState(c.id, 'active');
      const reactivation = agent.handle(event('certificate.reactivated', c));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(broker.state.get('sensor'), 'out', 'a reactivation waits for ccm');
      release();
      directory.gate = null;
      await Promise.all([suspension, reactivation]);
      assert.equal(broker.state.get('sensor'), 'allowed');
    });
  });

  it('a suspension ccm confirms costs one shutOut call, not one for the event and one for the answer', async () => {
    const directory = new FakeDirectory();
    const c = certificate('sensor', 'active');
    directory.put(c);
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      directory.setState(c.id, 'suspended');
      await agent.handle(event('certificate.suspended', c));
      assert.deepEqual(broker.calls.filter((call) => call.operation === 'shutOut').map((call) => call.identities), [['sensor']]);
      assert.equal(broker.state.get('sensor'), 'out');
    });
  });

  it('ignores (and counts) events of tenants it does not serve', async () => {
    const directory = new FakeDirectory();
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      await agent.handle(event('certificate.suspended', certificate('elsewhere', 'suspended', { tenantId: OTHER_TENANT })));
      assert.equal(broker.calls.length, 0);
      assert.match(await agent.metrics.registry.metrics(), /ccm_agent_events_total\{type="certificate.suspended",outcome="ignored",broker="fake"\} 1/);
    });
  });

  it('a revoked CA ends every device it issued for, and only those', async () => {
    const directory = new FakeDirectory();
    const issued = [certificate('a', 'active', { authorityId: 'ca-own' }), certificate('b', 'suspended', { authorityId: 'ca-own' })];
    const bystander = certificate('c', 'active');
    directory.put(...issued, bystander);
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      for (const c of issued) directory.setState(c.id, 'revoked');
      await agent.handle(event('authority.revoked', { ...issued[0]!, commonName: 'tenant CA' }, { authorityId: 'ca-own' }));
      assert.deepEqual(broker.identitiesIn('ended'), ['a', 'b']);
      assert.equal(broker.state.get('c'), 'allowed');
    });
  });

  it('a rollover changes no verdict; a retired root\'s devices are kept out, and only those', async () => {
    const directory = new FakeDirectory();
    const old = [certificate('old-a', 'active', { authorityId: 'ca-old' }), certificate('old-b', 'inactive', { authorityId: 'ca-old' })];
    const fresh = certificate('new', 'active', { authorityId: 'ca-new' });
    directory.put(...old, fresh);
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      const callsBefore = broker.calls.length;
      const rolledOver = event('authority.rolled-over', { ...fresh, commonName: 'tenant root CA G2' }, { authorityId: 'ca-new', certificateId: null, reason: null, state: 'active', previousAuthorityId: 'ca-old' });
      // The adapter's trust material must follow before the event counts as handled: a failure there fails the event, for a retry.
      broker.failTrustChange = 1;
      await assert.rejects(agent.handle(rolledOver), /ccm unreachable/);
      await agent.handle(rolledOver);
      assert.deepEqual(broker.trustChanges, [fresh.tenantId, fresh.tenantId]);
      // A staged rollover's publication asks for the same, before any device holds a certificate of the new root.
      await agent.handle(event('authority.published', { ...fresh, commonName: 'tenant root CA G3' }, { authorityId: 'ca-next', certificateId: null, reason: null, state: 'published' }));
      assert.deepEqual(broker.trustChanges, [fresh.tenantId, fresh.tenantId, fresh.tenantId]);
      assert.equal(broker.calls.length, callsBefore, 'no verdict changes: both roots are in force');
      await agent.handle(event('authority.retired', { ...old[0]!, commonName: 'tenant root CA' }, { authorityId: 'ca-old', certificateId: null, reason: null, state: 'retired' }));
      assert.equal(broker.trustChanges.length, 4);
      assert.deepEqual(broker.identitiesIn('ended'), ['old-a', 'old-b']);
      assert.equal(broker.state.get('new'), 'allowed');
      const metrics = await agent.metrics.registry.metrics();
      assert.match(metrics, /ccm_agent_events_total\{type="authority.rolled-over",outcome="failed",broker="fake"\} 1/);
      assert.match(metrics, /ccm_agent_events_total\{type="authority.rolled-over",outcome="enforced",broker="fake"\} 1/);
      assert.match(metrics, /ccm_agent_events_total\{type="authority.retired",outcome="enforced",broker="fake"\} 1/);
    });
  });

  it('a broker that keeps failing fails the event (for the queue to retry) and never lets the device in', async () => {
    const directory = new FakeDirectory();
    const c = certificate('sensor', 'active');
    directory.put(c);
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      directory.setState(c.id, 'suspended');
      broker.failNext = 10;
      await assert.rejects(agent.handle(event('certificate.suspended', c)), /500/);
      assert.equal(broker.state.get('sensor'), 'allowed', 'nothing was done, and nothing claims it was');
      broker.failNext = 0;
      await agent.handle(event('certificate.suspended', c));
      assert.equal(broker.state.get('sensor'), 'out');
    });
  });

  it('ccm unreachable for an event: the event fails and the state is unchanged', async () => {
    const directory = new FakeDirectory();
    const c = certificate('sensor', 'active');
    directory.put(c);
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      directory.failing = true;
      await assert.rejects(agent.handle(event('certificate.reactivated', c)), /ccm is down/);
      assert.equal(broker.calls.filter((call) => call.operation !== 'letBackIn').length, 0);
    });
  });

  it('discovers certificates issued after it started and lets their devices in', async () => {
    const directory = new FakeDirectory();
    directory.put(certificate('first', 'active'));
    const broker = new FakeBroker();
    await withAgent(directory, broker, async (agent) => {
      directory.put(certificate('later', 'inactive'));
      await until(() => broker.state.get('later') === 'allowed', 'the new device to be let in');
    }, { CCM_AGENT_DISCOVERY_SECONDS: '1' });
  });

  it('reads the HTTP feed: skips (and counts) an item that is not a ccm event, enforces the next', async () => {
    const directory = new FakeDirectory();
    const c = certificate('sensor', 'active');
    directory.put(c);
    const broker = new FakeBroker();
    feedItems = [];
    const { agent } = await started(directory, broker);
    try {
      directory.setState(c.id, 'suspended');
      feedItems = [
        { position: 1, schemaVersion: 1, id: 'not-a-uuid', type: 'certificate.exploded' },
        { position: 2, ...event('certificate.suspended', c) },
      ];
      await until(() => broker.state.get('sensor') === 'out', 'the suspension from the feed');
      assert.match(await agent.metrics.registry.metrics(), /ccm_agent_events_rejected_total\{broker="fake"\} 1/);
    } finally {
      feedItems = [];
      await agent.close();
    }
  });
});

describe('parseAgentConfiguration', () => {
  it('names every bad variable at once, the adapter\'s too', () => {
    assert.throws(
      () =>
        parseAgentConfiguration({ CCM_AGENT_TENANT_IDS: 'nope', CCM_AGENT_HEALTH_LISTEN: 'nowhere' }, (read) => {
          read.required('CCM_FAKE_BROKER_URL');
          return null;
        }),
      (error: Error) => ['CCM_AGENT_CCM_URL', 'CCM_AGENT_TENANT_IDS', 'CCM_AGENT_CURSOR_FILE', 'CCM_AGENT_HEALTH_LISTEN', 'CCM_FAKE_BROKER_URL'].every((name) => error.message.includes(name)),
    );
  });
  it('reads the Redis event source when CCM_AGENT_REDIS_URL is set', () => {
    const { configuration } = parseAgentConfiguration({ CCM_AGENT_CCM_URL: 'http://ccm:8080/', CCM_AGENT_TENANT_IDS: TENANT, CCM_AGENT_REDIS_URL: 'redis://r:6379', CCM_AGENT_SUBSCRIBER_ID: ROOT_CA }, () => null);
    assert.deepEqual(configuration.events, { kind: 'redis', redisUrl: 'redis://r:6379', subscriberId: ROOT_CA, readAhead: 256 });
    assert.equal(configuration.ccm.url, 'http://ccm:8080');
    assert.deepEqual(configuration.health, { host: '127.0.0.1', port: 9464 });
  });
});
