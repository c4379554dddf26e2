/** Access: API credentials and the bootstrap administrator key; turns a bearer key into an Actor. */
import { Module } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { ApiCredentials } from './api-credentials.js';
import { BootstrapAdministratorKey } from './bootstrap-administrator-key.js';

@Module({
  providers: [ApiCredentials, { provide: BootstrapAdministratorKey, inject: [CONFIGURATION], useFactory: (config: Configuration) => BootstrapAdministratorKey.load(config.access) }],
  exports: [ApiCredentials],
})
export class AccessModule {}
