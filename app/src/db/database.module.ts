import { Module } from '@nestjs/common';
import { DatabaseService } from './database.service.js';

/** The PostgreSQL pool (DatabaseService), closed when the application closes. */
@Module({
  providers: [DatabaseService],
  exports: [DatabaseService],
})
export class DatabaseModule {}
