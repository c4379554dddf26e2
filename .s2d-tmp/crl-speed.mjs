import { ThrowawayPki } from '../dist/test/support/mosquitto.js';
import { quicklyVerifiedTenantCrl, thoroughlyVerifiedTenantCrl } from '../dist/src/mosquitto-agent/crl.js';
const pki = await ThrowawayPki.create(); const ca = pki.tenantCa.toString('pem');
for (const n of [0, 100, 900]) {
  const pem = (await pki.crl({ entries: Array.from({ length: n }, (_, i) => ({ serialNumber: (0x10000000 + i).toString(16), reason: 6 })) })).trim();
  for (let i = 0; i < 3; i++) { quicklyVerifiedTenantCrl('t', pem, ca); await thoroughlyVerifiedTenantCrl('t', pem, ca); }
  let t = performance.now(); for (let i = 0; i < 20; i++) quicklyVerifiedTenantCrl('t', pem, ca); const q = (performance.now() - t) / 20;
  t = performance.now(); for (let i = 0; i < 20; i++) await thoroughlyVerifiedTenantCrl('t', pem, ca); const th = (performance.now() - t) / 20;
  console.log(`${n} entries: quick ${q.toFixed(2)} ms, thorough ${th.toFixed(2)} ms`);
}
