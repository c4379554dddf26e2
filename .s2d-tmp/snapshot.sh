#!/bin/sh
# Snapshots the working tree twice: /tmp/ccm-after as it is, /tmp/ccm-before with this task's files back at HEAD.
set -e
for side in after before; do
  rm -rf /tmp/ccm-$side && mkdir -p /tmp/ccm-$side
  (cd /work/main && tar --exclude=./dist --exclude=./node_modules --exclude=./.git --exclude=./.s2d-tmp -cf - .) | tar -xf - -C /tmp/ccm-$side
  ln -s /work/main/node_modules /tmp/ccm-$side/node_modules
done
cd /tmp/ccm-before
for f in src/mosquitto-agent/ports.ts src/mosquitto-agent/README.md src/mosquitto-agent/agent.ts src/mosquitto-agent/configuration.ts src/mosquitto-agent/crl.ts src/mosquitto-agent/dynsec-control.ts src/mosquitto-agent/revocation-enforcer.ts src/events/events.module.ts src/events/outbox-relay.ts src/consumer/ccm-event-consumer.ts src/persistence/persistence.module.ts src/persistence/typeorm-life-cycle.store.ts src/persistence/typeorm-outbox.ts test/unit/mosquitto-agent-adapters.test.ts test/unit/mosquitto-agent-enforcer.test.ts test/e2e/mosquitto-agent.test.ts; do git -C /work/main show HEAD:$f > $f; done
rm src/events/event-relay-store.ts src/persistence/typeorm-event-relay-store.ts
for side in after before; do
  cd /tmp/ccm-$side
  node /work/main/node_modules/typescript/bin/tsc -p tsconfig.json | tail -5 || true
  mkdir -p .s2d-tmp
  sed -e "s#'\.\./src/#'../dist/src/#g; s#'\.\./test/#'../dist/test/#g" dist/bench/suspend-to-disconnect.js > .s2d-tmp/s2d.mjs
  python3 - "$side" <<'PY'
import sys
p='/tmp/ccm-%s/.s2d-tmp/s2d.mjs' % sys.argv[1]
s=open(p).read()
s=s.replace("""        const lastClose = Math.max(""","""        if (process.env.DEVICE_DUMP) (await import('node:fs')).writeFileSync(process.env.DEVICE_DUMP, JSON.stringify(targets.map((d) => ({ id: d.id, cn: d.commonName, sent: d.suspendSentAt, answered: d.suspendAnsweredAt, closed: closedAfterSuspension(report, d) }))));
        const lastClose = Math.max(""")
open(p,'w').write(s)
PY
done
