import { Controller, Get, Inject, Param, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { CACHE_POLICIES, sendCached } from '../http/cached-reply.js';
import { ZodPipe } from '../http/errors.js';
import { ProgrammesService } from '../programmes/programmes.service.js';
import { nowNextQuerySchema, scheduleQuerySchema, type NowNextQuery } from '../programmes/programme.schemas.js';
import { listChannelsQuerySchema, slugParamsSchema, type ListChannelsQuery } from './channel.schemas.js';
import { ChannelsService } from './channels.service.js';

@Controller('v2')
export class ChannelsController {
  constructor(
    @Inject(ChannelsService) private readonly channels: ChannelsService,
    @Inject(ProgrammesService) private readonly programmes: ProgrammesService,
  ) {}

  @Get('channels')
  async list(
    @Query(new ZodPipe(listChannelsQuerySchema)) query: ListChannelsQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer | string> {
    return sendCached(reply, await this.channels.list(query), CACHE_POLICIES.channels);
  }

  @Get('channels/:slug')
  async get(
    @Param(new ZodPipe(slugParamsSchema)) params: { slug: string },
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Buffer | string> {
    return sendCached(reply, await this.channels.get(params.slug), CACHE_POLICIES.channels);
  }

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
