# Per device: sent, answered, queued (relay), received by agent, kicked, closed; all relative to the device's answer.
import json, sys
from datetime import datetime
devs = json.load(open(sys.argv[1])); lines = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ts = lambda l: datetime.fromisoformat(l['time'].replace('Z', '+00:00')).timestamp() * 1000
queued = {l['eventId']: ts(l) - l['queueWaitMs'] for l in lines if l['msg'] == 'event delivered'}
eventTime = {}
recv = {}
for l in lines:
    if l['msg'] == 'event received' and l.get('certificateId'):
        recv[l['certificateId']] = (l['eventId'], ts(l), ts(l) - l['eventLagMs'])
kicked = {l['eventId']: ts(l) for l in lines if l['msg'] == 'device kicked'}
rows = []
for d in devs:
    e = recv.get(d['id'])
    if not e: continue
    eid, r, t = e
    rows.append(dict(commit_to_answer=d['answered'] - t, answer_to_queued=queued[eid] - d['answered'], queued_to_recv=r - queued[eid], recv_to_kick=kicked.get(eid, float('nan')) - r, kick_to_close=(d['closed'] or float('nan')) - kicked.get(eid, float('nan')), answer_to_close=(d['closed'] or float('nan')) - d['answered']))
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]
for k in rows[0]:
    v = [r[k] for r in rows]
    print(f"{k:18s} p50 {pct(v,50):8.1f} p90 {pct(v,90):8.1f} p99 {pct(v,99):8.1f} min {min(v):8.1f}")
