#!/bin/sh
# Copies the compiled bench with instrumentation: pool samples and a per-device timing dump.
cd /work/main
sed -e "s#'\.\./src/#'../dist/src/#g; s#'\.\./test/#'../dist/test/#g" dist/bench/suspend-to-disconnect.js > .s2d-tmp/s2d-pool.mjs
python3 - <<'PY'
p='/work/main/.s2d-tmp/s2d-pool.mjs'
s=open(p).read()
s=s.replace("""        const burstStart = epochNow();""","""        const { DataSource } = await import('typeorm');
        const ds = ccm.app.get(DataSource);
        const pgPool = ds.driver.master;
        const samples = [];
        const sampler = setInterval(() => samples.push([Math.round(epochNow() - burstStart), pgPool.waitingCount, pgPool.totalCount - pgPool.idleCount]), 100);
        const burstStart = epochNow();""")
s=s.replace("""        await sleep(Math.max(3000, options.reconnectMs * 5));""","""        clearInterval(sampler);
        console.log('pool (ms, waiting, busy): ' + samples.map((x) => x.join('/')).join(' '));
        await sleep(Math.max(3000, options.reconnectMs * 5));""")
s=s.replace("""        const lastClose = Math.max(""","""        if (process.env.DEVICE_DUMP) (await import('node:fs')).writeFileSync(process.env.DEVICE_DUMP, JSON.stringify(targets.map((d) => ({ id: d.id, cn: d.commonName, sent: d.suspendSentAt, answered: d.suspendAnsweredAt, closed: closedAfterSuspension(report, d) }))));
        const lastClose = Math.max(""")
open(p,'w').write(s)
PY
