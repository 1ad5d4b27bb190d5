import {
  type CallHandler,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  type NestInterceptor,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { type Observable, tap } from 'rxjs';
import { APP_LOGGER, type AppLogger } from '../logging/logger.js';

const AUDIT_ACTION = 'mytv:audit-action';

/** Marks an admin handler: its outcome is written as an audit record (log_type "audit"). */
export const Audited = (action: string) => SetMetadata(AUDIT_ACTION, action);

@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(APP_LOGGER) private readonly logger: AppLogger,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const action = this.reflector.get<string | undefined>(AUDIT_ACTION, context.getHandler());
    if (!action) return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const params = (request.params ?? {}) as Record<string, string>;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const target = params.slug ?? (typeof body.slug === 'string' ? body.slug : undefined);
    const record = (outcome: 'success' | 'failure', status?: number) =>
      this.logger.info('audit', {
        log_type: 'audit',
        actor: request.admin?.sub ?? 'unknown',
        actor_key: request.admin?.secret,
        action,
        target,
        outcome,
        status,
        request_id: String(request.id),
      });
    return next.handle().pipe(
      tap({
        next: () => record('success'),
        error: (err: unknown) => record('failure', err instanceof HttpException ? err.getStatus() : 500),
      }),
    );
  }
}
