import { type DynamicModule, Global, Module } from '@nestjs/common';
import { APP_METRICS, type AppMetrics } from './metrics.js';

/**
 * The registry (APP_METRICS) the HTTP hooks, the database pool and the cache record into; global
 * because those live in other modules. The registry is created before Nest (the HTTP hooks need
 * it first) and handed in. It is served on its own port by metrics.server.ts, never by the API.
 */
@Global()
@Module({})
export class MetricsModule {
  static forRoot(metrics: AppMetrics): DynamicModule {
    return {
      module: MetricsModule,
      providers: [{ provide: APP_METRICS, useValue: metrics }],
      exports: [APP_METRICS],
    };
  }
}
