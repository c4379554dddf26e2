/**
 * Wiring: the real adapters behind MosquittoAdapter's ports, from the parsed
 * settings and the core's AdapterContext (its log, and its CcmApi, so the
 * adapter's requests to ccm are counted with the core's). Also the
 * `--once` command: install the CRLs and stop (before Mosquitto first
 * starts: it refuses to start without its crlfile).
 */
import type { AdapterContext } from '@ccm/broker-agent';
import { CcmCrlSource } from './ccm-crl-source.js';
import type { MosquittoSettings } from './configuration.js';
import { AtomicCrlFile } from './crl-file.js';
import { DynsecBrokerControl } from './dynsec-control.js';
import { MosquittoAdapter, type MosquittoAdapterPorts } from './mosquitto-adapter.js';
import { SystemAdapterClock } from './ports.js';
import { SighupReloader } from './process-signaller.js';

export function createMosquittoAdapter(settings: MosquittoSettings, context: AdapterContext, overrides: Partial<MosquittoAdapterPorts> = {}): MosquittoAdapter {
  const ports: MosquittoAdapterPorts = {
    crls: new CcmCrlSource(context.ccm),
    crlFile: new AtomicCrlFile(settings.crlFile),
    reloader: new SighupReloader(settings.mosquittoPid),
    connectControl: () =>
      DynsecBrokerControl.connect({
        url: settings.mqtt.url,
        username: settings.mqtt.username,
        password: settings.mqtt.password,
        timeoutMs: settings.mqtt.controlTimeoutMs,
        onConnectionError: (error) => context.log.warn('Mosquitto admin connection trouble', { error: error.message }),
      }),
    clock: new SystemAdapterClock(),
    log: context.log,
    ...overrides,
  };
  return new MosquittoAdapter(ports, {
    tenantIds: context.tenantIds,
    rekickDelaysMs: settings.rekickDelaysMs,
    crlMinimumValidityMs: settings.crlMinimumValidityMs,
    crlRefreshMs: settings.crlRefreshMs,
  });
}

/** `ccm-mosquitto-agent --once`: every tenant's CRL into the crlfile (and a reload if Mosquitto runs), then stop. */
export async function installCrlsOnce(settings: MosquittoSettings, context: AdapterContext): Promise<void> {
  const adapter = createMosquittoAdapter(settings, context);
  try {
    await adapter.installCrlsOnce();
  } finally {
    await adapter.close();
  }
}
