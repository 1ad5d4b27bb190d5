import { Module } from '@nestjs/common';
import { StorageService } from './storage.service.js';

/** The R2 (S3-compatible) object store for channel logos (StorageService). */
@Module({
  providers: [StorageService],
  exports: [StorageService],
})
export class StorageModule {}
