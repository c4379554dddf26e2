/** Makes the parsed configuration and the clock injectable everywhere. */
import { Global, Module, type DynamicModule } from '@nestjs/common';
import { Clock, SystemClock } from '../shared/clock.js';
import type { Configuration } from './configuration.js';

export const CONFIGURATION = Symbol('Configuration');

@Global()
@Module({})
export class ConfigurationModule {
  static forRoot(configuration: Configuration, clock: Clock = new SystemClock()): DynamicModule {
    return {
      module: ConfigurationModule,
      providers: [
        { provide: CONFIGURATION, useValue: configuration },
        { provide: Clock, useValue: clock },
      ],
      exports: [CONFIGURATION, Clock],
    };
  }
}
