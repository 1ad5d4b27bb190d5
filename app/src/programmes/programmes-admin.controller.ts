import { Body, Controller, Inject, Param, Put, UseGuards, UseInterceptors } from '@nestjs/common';
import { AdminGuard } from '../auth/admin.guard.js';
import { Audited, AuditInterceptor } from '../auth/audit.interceptor.js';
import { slugParamsSchema } from '../channels/channel.schemas.js';
import { ZodPipe } from '../http/errors.js';
import { importProgrammesSchema, type ImportProgrammes } from './programme.schemas.js';
import { ProgrammesService } from './programmes.service.js';

@Controller('v2/admin')
@UseGuards(AdminGuard)
@UseInterceptors(AuditInterceptor)
export class ProgrammesAdminController {
  constructor(@Inject(ProgrammesService) private readonly programmes: ProgrammesService) {}

  /** Bulk import: replaces the channel's programmes overlapping the imported span, in one transaction. */
  @Put('channels/:slug/programmes')
  @Audited('programmes.import')
  async importProgrammes(
    @Param(new ZodPipe(slugParamsSchema)) params: { slug: string },
    @Body(new ZodPipe(importProgrammesSchema)) body: ImportProgrammes,
  ): Promise<{ data: { imported: number; replaced: number; from: string; to: string } }> {
    return { data: await this.programmes.import(params.slug, body) };
  }
}
