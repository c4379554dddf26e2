/** The application: configuration, persistence and custody adapters, and the HTTP edge. */
import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ConfigurationModule } from './config/configuration.module.js';
import type { Configuration } from './config/configuration.js';
import { CaModule } from './ca/ca.module.js';
import { CustodyModule } from './custody/custody.module.js';
import { EventsModule } from './events/events.module.js';
import { HealthModule } from './health/health.module.js';
import { HttpModule } from './http/http.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { PersistenceModule } from './persistence/persistence.module.js';
import { RevocationModule } from './revocation/revocation.module.js';
import type { Clock } from './shared/clock.js';

/**
 * Ports one domain module declares and another implements, made reachable
 * everywhere so that neither imports the other's module: the life cycle asks
 * for CRL refreshes (RevocationListRefresher), revocation builds the CRLs.
 */
@Global()
@Module({ imports: [RevocationModule], exports: [RevocationModule] })
class DomainPortsModule {}

@Module({})
export class AppModule {
  static forRoot(configuration: Configuration, clock?: Clock): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigurationModule.forRoot(configuration, clock), PersistenceModule, MetricsModule, CustodyModule, CaModule, EventsModule, DomainPortsModule, HttpModule, HealthModule],
    };
  }
}
