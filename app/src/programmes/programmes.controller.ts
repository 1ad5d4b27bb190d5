import { Controller, Get, Inject, Param, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { slugParamsSchema } from '../channels/channel.schemas.js';
import { CACHE_POLICIES, sendCached } from '../http/cached-reply.js';
import { ZodPipe } from '../http/errors.js';
import { nowNextQuerySchema, scheduleQuerySchema, type NowNextQuery } from './programme.schemas.js';
import { ProgrammesService } from './programmes.service.js';

@Controller('v2')
export class ProgrammesController {
  constructor(@Inject(ProgrammesService) private readonly programmes: ProgrammesService) {}

  @Get('channels/:slug/programmes')
  async schedule(
    @Param(new ZodPipe(slugParamsSchema)) params: { slug: string },
    @Query(new ZodPipe(scheduleQuerySchema)) window: { from: Date; to: Date },
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer | string> {
    return sendCached(
      reply,
      await this.programmes.schedule(params.slug, window.from, window.to),
      CACHE_POLICIES.schedule,
    );
  }

  @Get('channels/:slug/now-next')
  async channelNowNext(
    @Param(new ZodPipe(slugParamsSchema)) params: { slug: string },
    @Query(new ZodPipe(nowNextQuerySchema)) query: NowNextQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer | string> {
    return sendCached(reply, await this.programmes.nowNext(query, params.slug), CACHE_POLICIES.nowNext);
  }

  @Get('now-next')
  async nowNext(
    @Query(new ZodPipe(nowNextQuerySchema)) query: NowNextQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer | string> {
    return sendCached(reply, await this.programmes.nowNext(query), CACHE_POLICIES.nowNext);
  }
}
