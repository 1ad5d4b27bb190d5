import { Module } from '@nestjs/common';
import { CacheModule } from '../cache/cache.module.js';
import { ChannelsModule } from '../channels/channels.module.js';
import { DatabaseModule } from '../db/database.module.js';
import { ProgrammesAdminController } from './programmes-admin.controller.js';
import { ProgrammesController } from './programmes.controller.js';
import { ProgrammesService } from './programmes.service.js';

/**
 * Programmes (the EPG): schedules and now/next per channel, and the bulk import. Depends on
 * ChannelsModule (a programme belongs to a channel); ChannelsModule does not depend on it.
 */
@Module({
  imports: [DatabaseModule, CacheModule, ChannelsModule],
  controllers: [ProgrammesController, ProgrammesAdminController],
  providers: [ProgrammesService],
  exports: [ProgrammesService],
})
export class ProgrammesModule {}
