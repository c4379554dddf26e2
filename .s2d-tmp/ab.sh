#!/bin/sh
# One before run and one after run (snapshots), each under the bench lock: /tmp/s2d/ab-<side>-<n>.txt.
n=$1
for side in before after; do
  cd /tmp/ccm-$side
  DEVICE_DUMP=/tmp/s2d/ab-$side-$n.json flock /tmp/ccm-bench.lock sh -c "uptime; node .s2d-tmp/s2d.mjs --devices=1000 --suspend=100 --agent-log=/tmp/s2d/ab-$side-$n.jsonl; echo exit=\$?" > /tmp/s2d/ab-$side-$n.txt 2>&1
done
