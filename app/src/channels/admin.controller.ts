import {
  Body,
  Controller,
  Delete,
  Headers,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Put,
  UnsupportedMediaTypeException,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { AdminGuard } from '../auth/admin.guard.js';
import { Audited, AuditInterceptor } from '../auth/audit.interceptor.js';
import { ValidationFailed, ZodPipe } from '../http/errors.js';
import { LOGO_CONTENT_TYPES } from '../storage/storage.service.js';
import {
  createChannelSchema,
  slugParamsSchema,
  updateChannelSchema,
  type ChannelView,
  type CreateChannel,
  type UpdateChannel,
} from './channel.schemas.js';
import { ChannelsService } from './channels.service.js';

@Controller('v2/admin')
@UseGuards(AdminGuard)
@UseInterceptors(AuditInterceptor)
export class AdminController {
  constructor(@Inject(ChannelsService) private readonly channels: ChannelsService) {}

  @Post('channels')
  @Audited('channel.create')
  async create(@Body(new ZodPipe(createChannelSchema)) body: CreateChannel): Promise<{ data: ChannelView }> {
    return { data: await this.channels.create(body) };
  }

  @Patch('channels/:slug')
  @Audited('channel.update')
  async update(
    @Param(new ZodPipe(slugParamsSchema)) params: { slug: string },
    @Body(new ZodPipe(updateChannelSchema)) body: UpdateChannel,
  ): Promise<{ data: ChannelView }> {
    return { data: await this.channels.update(params.slug, body) };
  }

  @Delete('channels/:slug')
  @HttpCode(204)
  @Audited('channel.delete')
  async remove(@Param(new ZodPipe(slugParamsSchema)) params: { slug: string }): Promise<void> {
    await this.channels.remove(params.slug);
  }

  /** Raw image body (Content-Type image/png, image/jpeg, image/webp or image/svg+xml). */
  @Put('channels/:slug/logo')
  @Audited('channel.logo')
  async uploadLogo(
    @Param(new ZodPipe(slugParamsSchema)) params: { slug: string },
    @Headers('content-type') contentType: string | undefined,
    @Body() body: unknown,
  ): Promise<{ data: ChannelView }> {
    const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
    if (!(type in LOGO_CONTENT_TYPES)) {
      throw new UnsupportedMediaTypeException(`logo must be one of ${Object.keys(LOGO_CONTENT_TYPES).join(', ')}`);
    }
    if (!Buffer.isBuffer(body) || body.length === 0) {
      throw new ValidationFailed([{ field: 'body', message: 'must be a non-empty image' }]);
    }
    return { data: await this.channels.setLogo(params.slug, body, type) };
  }
}
