import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { verifyJwt } from './jwt.js';

export interface AdminIdentity {
  sub: string;
  secret: 'current' | 'previous';
}

declare module 'fastify' {
  interface FastifyRequest {
    admin?: AdminIdentity;
  }
}

/**
 * Admin writes require `Authorization: Bearer <HS256 JWT>` with `role: "admin"`. Any token problem
 * is a 401 with a short reason (verifyJwt never throws for token text).
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) {
      throw new UnauthorizedException('a bearer token is required');
    }
    const result = await verifyJwt(match[1], {
      current: this.config.jwt.secret,
      previous: this.config.jwt.previousSecret,
    });
    if (!result.ok) throw new UnauthorizedException(`invalid token: ${result.reason}`);
    if (result.claims.role !== 'admin') throw new ForbiddenException('the admin role is required');
    request.admin = { sub: result.claims.sub, secret: result.secret };
    return true;
  }
}
