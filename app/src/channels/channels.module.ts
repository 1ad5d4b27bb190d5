import { Module } from '@nestjs/common';
import { CacheModule } from '../cache/cache.module.js';
import { DatabaseModule } from '../db/database.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { AdminController } from './admin.controller.js';
import { ChannelsController } from './channels.controller.js';
import { ChannelsService } from './channels.service.js';

/** Channels: the public reads (/v2/channels…) and the admin writes (/v2/admin/channels…, logos). */
@Module({
  imports: [DatabaseModule, CacheModule, StorageModule],
  controllers: [ChannelsController, AdminController],
  providers: [ChannelsService],
  exports: [ChannelsService],
})
export class ChannelsModule {}
