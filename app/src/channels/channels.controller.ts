import { Controller, Get, Inject, Param, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { CACHE_POLICIES, sendCached } from '../http/cached-reply.js';
import { ZodPipe } from '../http/errors.js';
import { listChannelsQuerySchema, slugParamsSchema, type ListChannelsQuery } from './channel.schemas.js';
import { ChannelsService } from './channels.service.js';

@Controller('v2')
export class ChannelsController {
  constructor(@Inject(ChannelsService) private readonly channels: ChannelsService) {}

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
}
