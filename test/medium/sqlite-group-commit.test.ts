/**
 * Group commit on SQLite: the units of work submitted in one event-loop turn
 * share one transaction and one commit, each in a savepoint, so a failing
 * unit leaves nothing behind and fails alone.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { openDatabase } from '../../src/persistence/data-source.js';
import { DatabaseTransactions } from '../../src/persistence/transactions.js';

describe('DatabaseTransactions on SQLite', () => {
  let directory: string;
  let dataSource: DataSource;
  let transactions: DatabaseTransactions;
  let commits = 0;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'ccm-group-commit-'));
    dataSource = await openDatabase({ kind: 'sqlite', path: join(directory, 'ccm.sqlite') });
    transactions = new DatabaseTransactions(dataSource);
    // SQLite has one query runner, shared by every unit: count the commits it makes.
    const runner = dataSource.createQueryRunner();
    const commit = runner.commitTransaction.bind(runner);
    runner.commitTransaction = async () => {
      commits += 1;
      await commit();
    };
  });

  after(async () => {
    await dataSource.destroy();
    await rm(directory, { recursive: true, force: true });
  });

  const insertTenant = (name: string) => (manager: Parameters<Parameters<DatabaseTransactions['run']>[0]>[0]) =>
    manager.query("INSERT INTO tenants (id, name, max_ttl_seconds, created_at) VALUES (?, ?, NULL, '2026-11-23T00:00:00.000Z')", [`id-${name}`, name]);

  it('commits the units of one turn once, fails only the unit that failed, and keeps none of its writes', async () => {
    const commitsBefore = commits;
    const outcomes = await Promise.allSettled([
      transactions.run(insertTenant('a')),
      transactions.run(async (manager) => {
        await insertTenant('half-done')(manager);
        throw new Error('refused half-way');
      }),
      transactions.run(insertTenant('a')), // duplicate name and id: a unique violation
      ...Array.from({ length: 40 }, (_, i) => transactions.run(insertTenant(`n${i}`))),
    ]);
    assert.equal(commits - commitsBefore, 1, 'one commit for the whole turn');
    assert.equal(outcomes[0]!.status, 'fulfilled');
    assert.equal(outcomes[1]!.status, 'rejected');
    assert.equal((outcomes[1] as PromiseRejectedResult).reason.message, 'refused half-way');
    assert.equal(outcomes[2]!.status, 'rejected');
    assert.ok(outcomes.slice(3).every((outcome) => outcome.status === 'fulfilled'));
    const names = ((await dataSource.query('SELECT name FROM tenants ORDER BY name')) as { name: string }[]).map((row) => row.name);
    assert.ok(!names.includes('half-done'), 'the failed unit left nothing behind');
    assert.equal(names.length, 41);
  });

  it('runs a lone unit in a transaction of its own and rolls it back whole when it fails', async () => {
    await assert.rejects(
      transactions.run(async (manager) => {
        await insertTenant('lonely')(manager);
        throw new Error('no');
      }),
      /no/,
    );
    assert.deepEqual(await dataSource.query("SELECT name FROM tenants WHERE name = 'lonely'"), []);
    await transactions.run(insertTenant('lonely'));
    assert.equal(((await dataSource.query("SELECT name FROM tenants WHERE name = 'lonely'")) as unknown[]).length, 1);
  });

  it('runs turns one after another: a unit submitted while a group commits goes in the next', async () => {
    const order: string[] = [];
    const first = transactions.run(async (manager) => {
      order.push('first started');
      await insertTenant('t1')(manager);
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('first done');
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = transactions.run(async () => void order.push('second started'));
    await Promise.all([first, second]);
    assert.deepEqual(order, ['first started', 'first done', 'second started']);
  });
});
