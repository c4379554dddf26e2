import { MosquittoUnderTest, ThrowawayPki } from '../dist/test/support/mosquitto.js';
import mqtt from 'mqtt';
const pki = await ThrowawayPki.create();
const broker = await MosquittoUnderTest.start({ clientCaPem: pki.chainPem, crlPem: await pki.crl(), logTypes: ['error'] });
const T = '$CONTROL/dynamic-security/v1';
try {
  for (const [subQos, pubQos] of [[1, 1], [0, 0], [1, 0], [0, 1]]) {
    const c = mqtt.connect(broker.adminUrl, { username: broker.adminUsername, password: broker.adminPassword, protocolVersion: 4 });
    await new Promise((r) => c.once('connect', r));
    await c.subscribeAsync(`${T}/response`, { qos: subQos });
    const waiters = new Map();
    c.on('message', (topic, payload) => { for (const r of JSON.parse(payload).responses) waiters.get(r.correlationData)?.(); });
    let seq = 0;
    const rt = () => new Promise((resolve) => { const id = String(++seq); waiters.set(id, resolve); c.publish(T, JSON.stringify({ commands: [{ command: 'getDefaultACLAccess', correlationData: id }] }), { qos: pubQos }); });
    const times = [];
    for (let i = 0; i < 10; i++) { const t = performance.now(); await rt(); times.push((performance.now() - t).toFixed(1)); }
    const t = performance.now(); await Promise.all([rt(), rt(), rt()]); const par = (performance.now() - t).toFixed(1);
    console.log(`sub qos ${subQos} pub qos ${pubQos}: sequential ${times.join(' ')}; 3 at once ${par}`);
    await c.endAsync();
  }
} finally { await broker.stop(); }
