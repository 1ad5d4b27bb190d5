// The API as a process: the built app (node app/dist/main.js), configured like its container —
// through the environment only (12-factor), from the stack's PostgreSQL and Redis (peers). Its
// JWT secret is generated once and kept beside its state (mode 600), never on a command line.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { appEntry } from '../app-build.js';
import { fromRoot } from '../paths.js';
import { registerSecret } from '../secrets.js';
import { httpProbe } from './probes.js';
import type { ServiceContext, ServiceSpec } from './types.js';

export interface ApiInfo extends Record<string, unknown> {
  host: string;
  port: number;
  url: string;
  metricsUrl: string;
}

function jwtSecret(ctx: ServiceContext): string {
  // One secret for every replica of a stack: tokens signed for one must work on the others.
  const file = path.join(path.dirname(ctx.dir), 'api-jwt-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(36).toString('base64url'), { mode: 0o600 });
  const secret = readFileSync(file, 'utf8').trim();
  registerSecret(secret);
  return secret;
}

/** During a JWT rotation (make rotate-secret) the old secret stays accepted; empty outside one. */
function jwtPreviousSecret(ctx: ServiceContext): Record<string, string> {
  const file = path.join(path.dirname(ctx.dir), 'api-jwt-secret-previous');
  const previous = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  registerSecret(previous);
  return previous ? { JWT_SECRET_PREVIOUS: previous } : {};
}

function peer(ctx: ServiceContext, option: string, fallback: string): Record<string, unknown> {
  const name = (ctx.options[option] as string | undefined) ?? fallback;
  const info = ctx.peers[name];
  if (!info) throw new Error(`api ${ctx.name} needs ${name} started before it in the same stack`);
  return info;
}

export const apiService: ServiceSpec<ApiInfo> = {
  kind: 'api',
  tools: [],
  // /metrics has its own listener (METRICS_PORT); the API port never serves it.
  extraPorts: ['metrics'],
  readyTimeoutMs: 30_000,
  stopGraceMs: 10_000,

  prepare() {
    if (!existsSync(appEntry)) {
      return Promise.reject(
        new UserError('the app is not built (app/dist/main.js is missing)', { hint: 'run `make build` first' }),
      );
    }
    return Promise.resolve();
  },

  command(ctx) {
    const pg = peer(ctx, 'postgres', 'postgres');
    const redis = peer(ctx, 'redis', 'redis');
    const s3 = ctx.options.s3 ? ctx.peers[ctx.options.s3 as string] : undefined;
    const env: Record<string, string> = {
      NODE_ENV: (ctx.options.nodeEnv as string | undefined) ?? 'development',
      HOST: ctx.host,
      PORT: String(ctx.port),
      METRICS_PORT: String(ctx.ports.metrics),
      LOG_LEVEL: (ctx.options.logLevel as string | undefined) ?? 'info',
      DATABASE_URL: pg.url as string,
      REDIS_URL: redis.url as string,
      // Without an S3 stand-in in the stack, logo URLs are presigned for an endpoint nobody serves.
      R2_ENDPOINT: (s3?.url as string | undefined) ?? 'http://127.0.0.1:9',
      R2_BUCKET: (s3?.bucket as string | undefined) ?? 'mytv-logos',
      R2_ACCESS_KEY_ID: (s3?.accessKeyId as string | undefined) ?? 'local',
      R2_SECRET_ACCESS_KEY: (s3?.secretAccessKey as string | undefined) ?? 'local-only-not-a-secret',
      R2_REGION: 'us-east-1',
      R2_FORCE_PATH_STYLE: 'true',
      JWT_SECRET: jwtSecret(ctx),
      ...jwtPreviousSecret(ctx),
      TRUSTED_PROXIES: '127.0.0.1/32,::1/128',
      // Locally nothing drains: stop at once so `make down` stays fast.
      SHUTDOWN_PRESTOP_DELAY_MS: '0',
      SHUTDOWN_DRAIN_TIMEOUT_MS: '3000',
      APP_VERSION: (ctx.options.version as string | undefined) ?? 'local',
      APP_COMMIT: (ctx.options.commit as string | undefined) ?? 'local',
    };
    return { bin: process.execPath, args: ['--enable-source-maps', appEntry], env, cwd: fromRoot('app') };
  },

  ready(ctx) {
    return httpProbe(`http://${ctx.host}:${ctx.port}/health/ready`, 2000);
  },

  info(ctx) {
    const url = `http://${ctx.host}:${ctx.port}`;
    return { host: ctx.host, port: ctx.port, url, metricsUrl: `http://${ctx.host}:${ctx.ports.metrics}/metrics` };
  },
};
