import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AdminGuard } from './auth/admin.guard.js';
import { AuditInterceptor } from './auth/audit.interceptor.js';
import { CacheService } from './cache/cache.service.js';
import { AdminController } from './channels/admin.controller.js';
import { ChannelsController } from './channels/channels.controller.js';
import { ChannelsService } from './channels/channels.service.js';
import { APP_CONFIG, type AppConfig } from './config/config.js';
import { DatabaseService } from './db/database.service.js';
import { HealthController } from './health/health.controller.js';
import { APP_LOGGER, type AppLogger } from './logging/logger.js';
import { APP_METRICS, type AppMetrics } from './metrics/metrics.js';
import { ProgrammesService } from './programmes/programmes.service.js';
import { LIFECYCLE, type Lifecycle } from './shutdown/lifecycle.js';
import { StorageService } from './storage/storage.service.js';

export interface AppModuleDeps {
  config: AppConfig;
  logger: AppLogger;
  metrics: AppMetrics;
  lifecycle: Lifecycle;
}

/**
 * One module for a small service. Process-wide objects (config, logger, metrics, lifecycle) are
 * created before Nest and handed in as values, so nothing depends on import order.
 */
@Module({})
export class AppModule {
  static forRoot(deps: AppModuleDeps): DynamicModule {
    return {
      module: AppModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [ChannelsController, AdminController, HealthController],
      providers: [
        { provide: APP_CONFIG, useValue: deps.config },
        { provide: APP_LOGGER, useValue: deps.logger },
        { provide: APP_METRICS, useValue: deps.metrics },
        { provide: LIFECYCLE, useValue: deps.lifecycle },
        DatabaseService,
        CacheService,
        StorageService,
        ChannelsService,
        ProgrammesService,
        AdminGuard,
        AuditInterceptor,
      ],
    };
  }
}
