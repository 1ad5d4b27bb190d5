import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { CacheModule } from '../cache/cache.module.js';
import { DatabaseModule } from '../db/database.module.js';
import { HealthController } from './health.controller.js';

/** /health/live and /health/ready (readiness checks PostgreSQL and Redis). */
@Module({
  imports: [TerminusModule.forRoot({ logger: false }), DatabaseModule, CacheModule],
  controllers: [HealthController],
})
export class HealthModule {}
