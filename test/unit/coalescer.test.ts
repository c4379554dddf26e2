import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer } from '../../src/shared/coalescer.js';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('Coalescer', () => {
  it('sends a lone item at once, then batches what arrives while a batch is out, within maxBatch', async () => {
    const batches: number[][] = [];
    const gates: ReturnType<typeof deferred<void>>[] = [];
    const coalescer = new Coalescer<number, number>({
      maxBatch: 3,
      maxInFlight: 1,
      run: async (items) => {
        batches.push([...items]);
        const gate = deferred<void>();
        gates.push(gate);
        await gate.promise;
        return items.map((item) => item * 10);
      },
    });
    const results = [1, 2, 3, 4, 5, 6].map((item) => coalescer.submit(item));
    await Promise.resolve();
    assert.deepEqual(batches, [[1]]);
    gates[0]!.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(batches, [[1], [2, 3, 4]]);
    gates[1]!.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    gates[2]!.resolve();
    assert.deepEqual(await Promise.all(results), [10, 20, 30, 40, 50, 60]);
    assert.deepEqual(batches, [[1], [2, 3, 4], [5, 6]]);
    await coalescer.drained();
    assert.deepEqual(coalescer.pending, { queued: 0, inFlight: 0 });
  });

  it('fails one item alone when its outcome is an Error, and every item when the batch rejects', async () => {
    let call = 0;
    const coalescer = new Coalescer<string, string>({
      maxBatch: 10,
      maxInFlight: 1,
      lingerMs: 5,
      run: async (items) => {
        call += 1;
        if (call === 2) throw new Error('store down');
        return items.map((item) => (item === 'bad' ? new Error(`refused ${item}`) : item.toUpperCase()));
      },
    });
    const outcomes = await Promise.allSettled(['a', 'bad', 'c'].map((item) => coalescer.submit(item)));
    assert.deepEqual(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message)), ['A', 'refused bad', 'C']);
    assert.equal(call, 1, 'the linger gathered all three into one batch');
    const failed = await Promise.allSettled(['x', 'y'].map((item) => coalescer.submit(item)));
    assert.deepEqual(failed.map((o) => o.status === 'rejected' && (o.reason as Error).message), ['store down', 'store down']);
    assert.equal(await coalescer.submit('z'), 'Z');
  });

  it('drained() waits for everything out and queued', async () => {
    const gate = deferred<void>();
    const coalescer = new Coalescer<number, number>({ maxBatch: 2, maxInFlight: 1, run: async (items) => (await gate.promise, [...items]) });
    const all = Promise.all([1, 2, 3].map((item) => coalescer.submit(item)));
    let drained = false;
    const waiting = coalescer.drained().then(() => (drained = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(drained, false);
    gate.resolve();
    await waiting;
    assert.deepEqual(await all, [1, 2, 3]);
  });
});

describe('Coalescer gathering a turn', () => {
  it('sends what is submitted within one event-loop turn as one batch', async () => {
    const batches: number[][] = [];
    const coalescer = new Coalescer<number, number>({ maxBatch: 10, maxInFlight: 1, gatherTurn: true, run: async (items) => (batches.push([...items]), [...items]) });
    const first = [1, 2, 3].map((item) => coalescer.submit(item));
    assert.deepEqual(batches, [], 'nothing leaves before the turn ends');
    assert.deepEqual(await Promise.all(first), [1, 2, 3]);
    await new Promise((resolve) => setImmediate(resolve));
    const second = [4, 5].map((item) => coalescer.submit(item));
    assert.deepEqual(await Promise.all(second), [4, 5]);
    assert.deepEqual(batches, [[1, 2, 3], [4, 5]]);
  });
});
