// Redis 7 from the Debian binary: loopback only, its own dir; persistence only when asked.
import { requireTool } from '../tools.js';
import { tcpProbe } from './probes.js';
import type { ServiceSpec } from './types.js';

export interface RedisInfo extends Record<string, unknown> {
  host: string;
  port: number;
  url: string;
}

export const redisService: ServiceSpec<RedisInfo> = {
  kind: 'redis',
  tools: ['redis-server'],
  readyTimeoutMs: 10_000,

  command(ctx) {
    const persist = Boolean(ctx.options.persist);
    return {
      bin: requireTool('redis-server'),
      args: [
        '--bind',
        ctx.host,
        '--port',
        String(ctx.port),
        '--dir',
        ctx.dir,
        '--daemonize',
        'no',
        '--protected-mode',
        'yes',
        '--logfile',
        '',
        '--save',
        persist ? '60 1' : '',
        '--appendonly',
        persist ? 'yes' : 'no',
        '--maxmemory',
        (ctx.options.maxmemory as string | undefined) ?? '256mb',
        '--maxmemory-policy',
        'allkeys-lru',
      ],
    };
  },

  ready(ctx) {
    return tcpProbe(ctx.host, ctx.port, 'PING\r\n', '+PONG');
  },

  info(ctx) {
    return { host: ctx.host, port: ctx.port, url: `redis://${ctx.host}:${ctx.port}` };
  },
};
