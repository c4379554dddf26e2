/**
 * Chooses the custody adapter named by the configuration. Everything else
 * depends on the KeyCustody port only.
 */
import { readFileSync } from 'node:fs';
import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { CustodyMetrics } from '../metrics/metrics.js';
import { KeyCustody } from './key-custody.js';
import { LocalKeyCustody } from './local-key-custody.js';
import { MeasuredKeyCustody } from './measured-key-custody.js';
import { VaultTransitCustody } from './vault-transit-custody.js';

export async function openCustody(config: Configuration['custody'], metrics?: CustodyMetrics): Promise<KeyCustody> {
  const logger = new Logger('Custody');
  if (config.kind === 'local') {
    logger.warn(
      `local custody: CA keys are files in ${config.keyDirectory}, encrypted under a key-encryption key from ${config.kek.source === 'env' ? 'CCM_LOCAL_KEK' : config.kek.path}. ` +
        'This is for development only; use CCM_CUSTODY=vault in production.',
    );
    return LocalKeyCustody.open(config.keyDirectory, config.kek);
  }
  logger.log(`vault custody: Transit at ${config.address}/v1/${config.transitMount}, keys prefixed "${config.keyPrefix}", ${config.auth.method} auth`);
  const custody = new VaultTransitCustody({
    address: config.address,
    mountPath: config.transitMount,
    keyPrefix: config.keyPrefix,
    auth: config.auth,
    requestTimeoutMs: config.requestTimeoutMs,
    signBatchSize: config.signBatchSize,
    signBatchWaitMs: config.signBatchWaitMs,
    ...(metrics ? { onSignBatch: (size: number) => metrics.signBatch(size) } : {}),
    ...(config.caCertPath ? { caCertPem: readFileSync(config.caCertPath, 'utf8') } : {}),
  });
  custody.start();
  return custody;
}

@Global()
@Module({
  providers: [
    {
      provide: KeyCustody,
      inject: [CONFIGURATION, CustodyMetrics],
      useFactory: async (config: Configuration, metrics: CustodyMetrics) => new MeasuredKeyCustody(await openCustody(config.custody, metrics), metrics),
    },
  ],
  exports: [KeyCustody],
})
export class CustodyModule implements OnApplicationShutdown {
  constructor(@Inject(KeyCustody) private readonly custody: KeyCustody) {}

  /** The Vault token's renewal timer and kept-alive connections end with the application. */
  onApplicationShutdown(): void {
    this.custody.close();
  }
}
