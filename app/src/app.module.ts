import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ChannelsModule } from './channels/channels.module.js';
import type { AppConfig } from './config/config.js';
import { CoreModule } from './core/core.module.js';
import { HealthModule } from './health/health.module.js';
import { ApiExceptionFilter } from './http/errors.js';
import type { AppLogger } from './logging/logger.js';
import type { AppMetrics } from './metrics/metrics.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ProgrammesModule } from './programmes/programmes.module.js';
import type { Lifecycle } from './shutdown/lifecycle.js';

export interface AppModuleDeps {
  config: AppConfig;
  logger: AppLogger;
  metrics: AppMetrics;
  lifecycle: Lifecycle;
}

/**
 * The API: one feature module per resource (channels, programmes), health and metrics, on top of
 * CoreModule's process-wide objects; DatabaseModule, CacheModule and StorageModule are imported by
 * the features that use them. Every error leaves through ApiExceptionFilter (APP_FILTER).
 */
@Module({})
export class AppModule {
  static forRoot(deps: AppModuleDeps): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(deps),
        MetricsModule.forRoot(deps.metrics),
        HealthModule,
        ChannelsModule,
        ProgrammesModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: ApiExceptionFilter }],
    };
  }
}
