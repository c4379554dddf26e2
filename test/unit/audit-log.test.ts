/**
 * AuditLog's writer against a fake trail whose writes finish when the test
 * says so: recording does not wait for the write, what arrives meanwhile
 * leaves together in order, flushed() and the shutdown drain wait for every
 * entry, a failed batch is logged without failing its callers, and past
 * MAXIMUM_PENDING entries a caller waits for its own entry instead of any
 * being dropped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { AuditLog, MAXIMUM_PENDING, type AuditFact } from '../../src/audit/audit-log.js';
import { AuditTrail, type AuditEntry, type StoredAuditEntry } from '../../src/audit/audit-trail.js';
import { FixedClock } from '../../src/shared/clock.js';

/** Appends wait for release() (one each, given before or after they arrive); `fail` makes the next append reject. */
class GatedTrail extends AuditTrail {
  readonly batches: AuditEntry[][] = [];
  private gates: (() => void)[] = [];
  private credit = 0;
  fail = false;

  append(entries: readonly AuditEntry[]): Promise<void> {
    this.batches.push([...entries]);
    const failing = this.fail;
    this.fail = false;
    return new Promise((resolve, reject) => {
      const finish = () => (failing ? reject(new Error('database down')) : resolve());
      if (this.credit > 0) {
        this.credit -= 1;
        finish();
      } else {
        this.gates.push(finish);
      }
    });
  }

  /** Lets the oldest waiting append finish, or the next one to arrive. */
  release(): void {
    const gate = this.gates.shift();
    if (gate) gate();
    else this.credit += 1;
  }

  /** Resolves once `count` batches have been handed to the trail (entries wait a moment for company first). */
  async batchesReach(count: number): Promise<void> {
    while (this.batches.length < count) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  list(): Promise<StoredAuditEntry[]> {
    return Promise.resolve([]);
  }
}

const fact = (n: number): AuditFact => ({ tenantId: null, actor: 'broker:test', action: 'device.authenticate', targetType: 'certificate', targetId: null, outcome: 'succeeded', reason: null, details: { n } });
const settle = () => new Promise((resolve) => setImmediate(resolve));
const numbers = (batch: AuditEntry[]) => batch.map((entry) => entry.details?.['n']);

describe('AuditLog writing', () => {
  const logged: string[] = [];

  before(() => {
    Logger.overrideLogger({ error: (message: unknown) => logged.push(String(message)), log: () => undefined, warn: () => undefined, debug: () => undefined, verbose: () => undefined, fatal: () => undefined });
  });

  after(() => {
    Logger.overrideLogger(false);
  });

  it('returns before the entry is written; entries recorded together, or while a batch is out, leave together and in order', async () => {
    const trail = new GatedTrail();
    const log = new AuditLog(trail, new FixedClock(new Date()));
    for (let n = 1; n <= 3; n++) await log.record(fact(n));
    await trail.batchesReach(1);
    for (let n = 4; n <= 6; n++) await log.record(fact(n));
    await settle();
    assert.deepEqual(trail.batches.map(numbers), [[1, 2, 3]], 'one batch out at a time');
    trail.release();
    await trail.batchesReach(2);
    trail.release();
    await log.flushed();
    assert.deepEqual(trail.batches.map(numbers), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(log.writes, { entries: 6, batches: 2, lost: 0 });
  });

  it('flushed() and the shutdown drain resolve only once every entry recorded before them is written', async () => {
    const trail = new GatedTrail();
    const log = new AuditLog(trail, new FixedClock(new Date()));
    await log.record(fact(1));
    await trail.batchesReach(1);
    await log.record(fact(2));
    let flushed = false;
    let drained = false;
    void log.flushed().then(() => (flushed = true));
    void log.onApplicationShutdown().then(() => (drained = true));
    trail.release();
    await trail.batchesReach(2);
    await settle();
    assert.equal(flushed, false, 'the second batch is still out');
    assert.equal(drained, false);
    trail.release();
    await settle();
    assert.equal(flushed, true);
    assert.equal(drained, true);
  });

  it('a batch that fails is logged with what it held, and its callers are not failed with it', async () => {
    const trail = new GatedTrail();
    const log = new AuditLog(trail, new FixedClock(new Date()));
    trail.fail = true;
    const entry = await log.record(fact(1));
    trail.release();
    await log.flushed();
    assert.deepEqual(log.writes, { entries: 0, batches: 0, lost: 1 });
    assert.ok(logged.some((message) => message.includes('could not write 1 audit entries') && message.includes(entry.id)), logged.join('\n'));
    // The writer goes on with the next entries.
    await log.record(fact(2));
    trail.release();
    await log.flushed();
    assert.deepEqual(log.writes, { entries: 1, batches: 1, lost: 1 });
  });

  it(`past ${MAXIMUM_PENDING} entries waiting, record() waits for its own entry to be written; none is dropped`, async () => {
    const trail = new GatedTrail();
    const log = new AuditLog(trail, new FixedClock(new Date()));
    for (let n = 1; n <= MAXIMUM_PENDING; n++) await log.record(fact(n));
    let returned = false;
    const overflowing = log.record(fact(MAXIMUM_PENDING + 1)).then(() => (returned = true));
    await settle();
    assert.equal(returned, false, 'the caller waits while the buffer is full');
    while (!returned) {
      trail.release();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await overflowing;
    trail.release();
    await log.flushed();
    assert.equal(trail.batches.flat().length, MAXIMUM_PENDING + 1);
    assert.deepEqual(log.writes.lost, 0);
  });
});
