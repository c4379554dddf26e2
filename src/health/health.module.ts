/**
 * Health: liveness and readiness probes (@nestjs/terminus). Owns the
 * readiness checks and the Redis connection they PING; the probe routes are
 * a controller of the HTTP edge (src/http/health.controller.ts), which takes
 * terminus' services from here. The database is probed through the
 * DatabaseProbe port (PersistenceModule) and custody through
 * KeyCustody.readiness().
 */
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AuthoritiesModule } from '../authorities/authorities.module.js';
import { CONFIGURATION } from '../config/configuration.module.js';
import type { Configuration } from '../config/configuration.js';
import { ReadinessChecks } from './readiness-checks.js';
import { RedisProbe } from './redis-probe.js';

@Module({
  // Readiness logs its own changes (ReadinessChecks.noteOutcome) instead of terminus logging every failing probe.
  imports: [TerminusModule.forRoot({ logger: false }), AuthoritiesModule],
  providers: [
    ReadinessChecks,
    { provide: RedisProbe, inject: [CONFIGURATION], useFactory: (config: Configuration) => (config.events.redisUrl ? new RedisProbe(config.events.redisUrl) : null) },
  ],
  exports: [TerminusModule, ReadinessChecks],
})
export class HealthModule {}
