import { Controller, Get, Inject, Param, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { CacheLookup } from '../cache/cache.service.js';
import { ZodPipe } from '../http/errors.js';
import { ProgrammesService } from '../programmes/programmes.service.js';
import { nowNextQuerySchema, scheduleQuerySchema, type NowNextQuery } from '../programmes/programme.schemas.js';
import { listChannelsQuerySchema, slugParamsSchema, type ListChannelsQuery } from './channel.schemas.js';
import { ChannelsService } from './channels.service.js';

/** Sends a cached (or freshly built) JSON body as is, saying whether it came from the cache. */
export function sendCached(reply: FastifyReply, lookup: CacheLookup): string {
  void reply.header('content-type', 'application/json; charset=utf-8');
  void reply.header('x-cache', lookup.hit ? 'hit' : 'miss');
  return lookup.body;
}

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
  ): Promise<string> {
    return sendCached(reply, await this.channels.list(query));
  }

  @Get('channels/:slug')
  async get(
    @Param(new ZodPipe(slugParamsSchema)) params: { slug: string },
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    return sendCached(reply, await this.channels.get(params.slug));
  }

  @Get('channels/:slug/programmes')
  async schedule(
    @Param(new ZodPipe(slugParamsSchema)) params: { slug: string },
    @Query(new ZodPipe(scheduleQuerySchema)) window: { from: Date; to: Date },
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    return sendCached(reply, await this.programmes.schedule(params.slug, window.from, window.to));
  }

  @Get('channels/:slug/now-next')
  async channelNowNext(
    @Param(new ZodPipe(slugParamsSchema)) params: { slug: string },
    @Query(new ZodPipe(nowNextQuerySchema)) query: NowNextQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    return sendCached(reply, await this.programmes.nowNext(query, params.slug));
  }

  @Get('now-next')
  async nowNext(
    @Query(new ZodPipe(nowNextQuerySchema)) query: NowNextQuery,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    return sendCached(reply, await this.programmes.nowNext(query));
  }
}
