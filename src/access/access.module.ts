/** Access: API credentials and the bootstrap administrator key; turns a bearer key into an Actor; per-credential rate limits. */
import { Module } from '@nestjs/common';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { ApiCredentials } from './api-credentials.js';
import { BootstrapAdministratorKey } from './bootstrap-administrator-key.js';
import { InMemoryRateLimiter, RateLimiter } from './rate-limits.js';

@Module({
  providers: [
    ApiCredentials,
    { provide: BootstrapAdministratorKey, inject: [CONFIGURATION], useFactory: (config: Configuration) => BootstrapAdministratorKey.load(config.access) },
    { provide: RateLimiter, useClass: InMemoryRateLimiter },
  ],
  exports: [ApiCredentials, RateLimiter],
})
export class AccessModule {}
