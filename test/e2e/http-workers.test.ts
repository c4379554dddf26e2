/**
 * CCM_WORKERS: several worker processes serve one port, each a full replica
 * on the shared database. Issuance through all of them hands out distinct
 * serials, records every certificate and creates one platform CA; a worker
 * that dies is replaced; SIGTERM stops them all and exits 0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestInstallation } from '../support/ccm-under-test.js';
import { ServerProcess } from '../support/server-process.js';

async function postJson(url: string, body: object, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (const database of ['sqlite', 'postgres'] as const) {
  describe(`two HTTP workers on ${database}`, () => {
    it('share the load, issue distinct recorded serials under one platform CA, replace a dead worker and stop on SIGTERM', async () => {
      const installation = await TestInstallation.create({ database, custody: 'local' }, { CCM_WORKERS: '2', CCM_RATE_LIMIT_ISSUANCE_PER_SECOND: '0' });
      const ccm = await ServerProcess.ccm(installation.env);
      const startedAt = Date.now();
      try {
        await until(() => ccm.descendants().length === 2, 'two workers');
        const workers = ccm.descendants();
        const tenant = await postJson(`${ccm.url}/v1/tenants`, { name: 'workers' }, installation.adminKey);
        assert.equal(tenant.status, 201);

        const cpuBefore = workers.map((pid) => ServerProcess.cpuSecondsOf(pid));
        const issued = await Promise.all(
          Array.from({ length: 120 }, (_, i) => postJson(`${ccm.url}/v1/tenants/${tenant.body.id}/certificates`, { commonName: `device-${i}` }, installation.adminKey)),
        );
        assert.deepEqual([...new Set(issued.map((r) => r.status))], [201]);
        assert.equal(new Set(issued.map((r) => r.body.serialNumber)).size, 120);
        const cpuAfter = workers.map((pid) => ServerProcess.cpuSecondsOf(pid));
        cpuAfter.forEach((seconds, i) => assert.ok(seconds > cpuBefore[i]!, `worker ${workers[i]} took part in the load`));

        const [{ count }] = await installation.database.query<{ count: string | number }>("SELECT COUNT(*) AS count FROM certificates WHERE state = 'inactive'");
        assert.equal(Number(count), 120, 'every certificate handed out is recorded as issued');
        const [{ platforms }] = await installation.database.query<{ platforms: string | number }>("SELECT COUNT(*) AS platforms FROM authorities WHERE kind = 'platform'");
        assert.equal(Number(platforms), 1);

        // A worker that dies after start-up is replaced (one dying at once is a failed start, and stops the service instead).
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + 10_500 - Date.now())));
        process.kill(workers[0]!, 'SIGKILL');
        await until(() => ccm.descendants().length === 2 && !ccm.descendants().includes(workers[0]!), 'a replacement worker');
        // Keep-alive connections the dead worker held fail once ("other side closed"), as behind any load balancer; new ones reach a live worker.
        await Promise.all(Array.from({ length: 10 }, () => fetch(`${ccm.url}/v1/platform-ca`).catch(() => undefined)));
        let answered = 0;
        for (let i = 0; i < 20; i++) {
          const response = await postJson(`${ccm.url}/v1/tenants/${tenant.body.id}/certificates`, { commonName: `after-${i}` }, installation.adminKey);
          if (response.status === 201) answered++;
        }
        assert.equal(answered, 20, 'the service answers while and after a worker is replaced');

        const remaining = ccm.descendants();
        ccm.signal('SIGTERM');
        assert.equal(await ccm.exited(), 0);
        for (const pid of remaining) assert.throws(() => process.kill(pid, 0), 'no worker outlives the primary');
      } finally {
        await ccm.stop();
        await installation.destroy();
      }
    });
  });
}
