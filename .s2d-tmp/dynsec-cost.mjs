import { MosquittoUnderTest, ThrowawayPki } from '../dist/test/support/mosquitto.js';
import { DynsecBrokerControl } from '../dist/src/mosquitto-agent/dynsec-control.js';
const pki = await ThrowawayPki.create();
const broker = await MosquittoUnderTest.start({ clientCaPem: pki.chainPem, crlPem: await pki.crl(), logTypes: ['error'] });
const control = await DynsecBrokerControl.connect({ url: broker.adminUrl, username: broker.adminUsername, password: broker.adminPassword });
const time = async (label, f) => { const t = performance.now(); await f(); console.log(label, (performance.now() - t).toFixed(1), 'ms'); };
try {
  for (const [n, offset] of [[100, 0], [100, 0], [100, 100], [1000, 200], [100, 1200], [100, 1200]]) {
    const names = Array.from({ length: n }, (_, i) => `dev-${offset + i}`);
    await time(`disableClients(${n}) from ${offset}`, () => control.disableClients(names));
  }
  const names = Array.from({ length: 100 }, (_, i) => `dev-${i}`);
  await time('enableClients(100)', () => control.enableClients(names));
  await time('roundTrip', () => control.roundTrip());
} finally { await control.close(); await broker.stop(); }
