import { type DynamicModule, Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { APP_LOGGER, type AppLogger } from '../logging/logger.js';
import { LIFECYCLE, type Lifecycle } from '../shutdown/lifecycle.js';

export interface CoreDeps {
  config: AppConfig;
  logger: AppLogger;
  lifecycle: Lifecycle;
}

/**
 * The process-wide objects every module may inject: the validated configuration (APP_CONFIG),
 * the logger (APP_LOGGER) and the shutdown state (LIFECYCLE). They are created before Nest and
 * handed in as values, so nothing depends on import order.
 */
@Global()
@Module({})
export class CoreModule {
  static forRoot(deps: CoreDeps): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: APP_CONFIG, useValue: deps.config },
        { provide: APP_LOGGER, useValue: deps.logger },
        { provide: LIFECYCLE, useValue: deps.lifecycle },
      ],
      exports: [APP_CONFIG, APP_LOGGER, LIFECYCLE],
    };
  }
}
