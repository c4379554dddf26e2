import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SystemAgentClock } from '../src/agent-clock.js';
import { AgentMetrics } from '../src/agent-metrics.js';
import { DeviceIndex } from '../src/device-index.js';
import { Enforcement } from '../src/enforcement.js';
import { certificate, FakeBroker, RecordingAgentLog } from './fakes.js';

/** An adapter that batches calls itself and so asks for more of them at once, as the NATS adapter does. */
class WideFakeBroker extends FakeBroker {
  override readonly roundsAtOnce = 16;
}

function setUp(retryDelaysMs: number[] = [5, 5], broker: FakeBroker = new FakeBroker()) {
  const index = new DeviceIndex((c) => c.commonName);
  const log = new RecordingAgentLog();
  const metrics = new AgentMetrics('fake');
  const enforcement = new Enforcement(broker, index, new SystemAgentClock(), log, metrics, { retryDelaysMs });
  return { broker, index, log, metrics, enforcement };
}

describe('Enforcement', () => {
  it('batches a burst: what is asked in one turn of the event loop (a feed page, a batch of jobs) shares one call, also while another is in flight', async () => {
    const { broker, index, enforcement } = setUp();
    index.upsert(certificate('first', 'suspended'));
    let release!: () => void;
    broker.gate = new Promise((resolve) => (release = resolve));
    const first = enforcement.enforce(['first']);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(broker.calls.length, 1, 'the first round is under way');
    const burst = Array.from({ length: 100 }, (_, i) => {
      index.upsert(certificate(`d${i}`, 'suspended'));
      return enforcement.enforce([`d${i}`]);
    });
    await new Promise((resolve) => setImmediate(resolve));
    release();
    broker.gate = null;
    await Promise.all([first, ...burst]);
    assert.deepEqual(broker.calls.map((call) => call.identities.length), [1, 100]);
    assert.equal(broker.identitiesIn('out').length, 101);
  });

  it('runs as many rounds at once as the adapter asks for (roundsAtOnce), each identity still in one at a time', async () => {
    for (const [broker, expected] of [[new FakeBroker(), 4], [new WideFakeBroker(), 16]] as const) {
      const { index, enforcement } = setUp([5, 5], broker);
      let release!: () => void;
      broker.gate = new Promise((resolve) => (release = resolve));
      // Asked one turn of the event loop after another: each starts a round while fewer than roundsAtOnce run.
      const asked: Promise<void>[] = [];
      for (let i = 0; i < 30; i++) {
        index.upsert(certificate(`d${i}`, 'suspended'));
        asked.push(enforcement.enforce([`d${i}`]));
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(broker.calls.length, expected, `${broker.constructor.name}: calls under way before any returned`);
      release();
      broker.gate = null;
      await Promise.all(asked);
      assert.equal(broker.identitiesIn('out').length, 30);
    }
  });

  it('takes the verdict when the round starts: the latest state wins over the order of requests', async () => {
    const { broker, index, enforcement } = setUp();
    const c = certificate('sensor', 'suspended');
    index.upsert(c);
    let release!: () => void;
    broker.gate = new Promise((resolve) => (release = resolve));
    const blocking = enforcement.enforce(['sensor']);
    await new Promise((resolve) => setImmediate(resolve));
    index.upsert({ ...c, state: 'active' });
    const reactivating = enforcement.enforce(['sensor']);
    release();
    broker.gate = null;
    await Promise.all([blocking, reactivating]);
    assert.deepEqual(broker.calls.map((call) => call.operation), ['shutOut', 'letBackIn']);
    assert.equal(broker.state.get('sensor'), 'allowed');
  });

  it('retries a failed call with backoff and resolves once it succeeded', async () => {
    const { broker, index, enforcement, log } = setUp([5, 5, 5]);
    index.upsert(certificate('sensor', 'suspended'));
    broker.failNext = 2;
    await enforcement.enforce(['sensor']);
    assert.equal(broker.calls.length, 3);
    assert.equal(broker.state.get('sensor'), 'out');
    assert.equal(log.lines.filter((line) => line.message.includes('retrying')).length, 2);
  });

  it('gives up after the configured attempts and rejects, never counting the device as enforced', async () => {
    const { broker, index, enforcement, metrics } = setUp([5]);
    index.upsert(certificate('sensor', 'suspended'));
    broker.failNext = 5;
    await assert.rejects(enforcement.enforce(['sensor']), /broker answered 500/);
    assert.equal(broker.calls.length, 2);
    assert.equal(enforcement.verdictApplied('sensor'), undefined);
    assert.match(await metrics.registry.metrics(), /ccm_agent_broker_calls_total\{operation="shutOut",outcome="failed",broker="fake"\} 2/);
  });

  it('calls shutOut, endForGood and letBackIn each with its own devices', async () => {
    const { broker, index, enforcement } = setUp();
    index.upsert(certificate('s', 'suspended'));
    index.upsert(certificate('r', 'revoked'));
    index.upsert(certificate('a', 'active'));
    await enforcement.enforce(['s', 'r', 'a']);
    assert.deepEqual(Object.fromEntries(broker.calls.map((call) => [call.operation, call.identities])), { shutOut: ['s'], endForGood: ['r'], letBackIn: ['a'] });
    assert.deepEqual(enforcement.counts(), { 'let-in': 1, 'shut-out': 1, ended: 1 });
  });
});
