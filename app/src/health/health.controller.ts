import { Controller, Get, HttpCode, Inject, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { CacheService } from '../cache/cache.service.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { DatabaseService } from '../db/database.service.js';
import { LIFECYCLE, type Lifecycle } from '../shutdown/lifecycle.js';

/**
 * Liveness says the process works (never depends on backends, so a PostgreSQL outage does not
 * restart every replica). Readiness says it should receive traffic: PostgreSQL must answer;
 * Redis only degrades it (the API serves from PostgreSQL); a SIGTERM turns it 503 at once.
 */
@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(HealthIndicatorService) private readonly indicator: HealthIndicatorService,
    @Inject(DatabaseService) private readonly db: DatabaseService,
    @Inject(CacheService) private readonly cache: CacheService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LIFECYCLE) private readonly lifecycle: Lifecycle,
  ) {}

  @Get('live')
  @HttpCode(200)
  live(): { status: string } {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<unknown> {
    const timeoutMs = this.config.health.timeoutMs;
    void reply.header('cache-control', 'no-store');
    try {
      return await this.health.check([
        () => {
          const lifecycle = this.indicator.check('lifecycle');
          return this.lifecycle.shuttingDown ? lifecycle.down({ message: 'shutting down' }) : lifecycle.up();
        },
        () =>
          this.indicator
            .check('postgres')
            .attempt(() => this.db.ping(timeoutMs))
            .withTimeout(timeoutMs),
        async () => {
          const redis = this.indicator.check('redis');
          try {
            await this.cache.ping(timeoutMs);
            return redis.up();
          } catch (err) {
            return redis.degraded({ message: `cache disabled: ${(err as Error).message}` });
          }
        },
      ]);
    } catch (err) {
      if (err instanceof ServiceUnavailableException) {
        void reply.code(503);
        return err.getResponse();
      }
      throw err;
    }
  }
}
