/** The application: configuration, persistence and custody adapters, and the HTTP edge. */
import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigurationModule } from './config/configuration.module.js';
import type { Configuration } from './config/configuration.js';
import { CustodyModule } from './custody/custody.module.js';
import { EventsModule } from './events/events.module.js';
import { HealthModule } from './health/health.module.js';
import { HttpModule } from './http/http.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { PersistenceModule } from './persistence/persistence.module.js';
import type { Clock } from './shared/clock.js';

@Module({})
export class AppModule {
  static forRoot(configuration: Configuration, clock?: Clock): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigurationModule.forRoot(configuration, clock), PersistenceModule, MetricsModule, CustodyModule, EventsModule, HttpModule, HealthModule],
    };
  }
}
