import { Module } from '@nestjs/common';
import { CacheService } from './cache.service.js';

/** The Redis read cache (CacheService); the API keeps serving from PostgreSQL without it. */
@Module({
  providers: [CacheService],
  exports: [CacheService],
})
export class CacheModule {}
