// An S3-compatible store standing in for Cloudflare R2 (npm s3rver, run as its own process).
// Path-style URLs; the well-known s3rver credentials (not secrets: nothing outside loopback).
// Optional TLS (options.tls = { cert, key }) for clients that speak only HTTPS (pgBackRest).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../paths.js';
import { tcpProbe } from './probes.js';
import type { ServiceContext, ServiceSpec } from './types.js';

export interface S3Info extends Record<string, unknown> {
  host: string;
  port: number;
  url: string;
  bucket: string;
  buckets: string[];
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

function buckets(ctx: ServiceContext): string[] {
  return (ctx.options.buckets as string[] | undefined) ?? ['mytv-logos'];
}

function tls(ctx: ServiceContext): { cert: string; key: string } | undefined {
  return ctx.options.tls as { cert: string; key: string } | undefined;
}

export const s3Service: ServiceSpec<S3Info> = {
  kind: 's3',
  tools: [],
  readyTimeoutMs: 20_000,

  prepare(ctx) {
    mkdirSync(path.join(ctx.dir, 'data'), { recursive: true });
    return Promise.resolve();
  },

  command(ctx) {
    const t = tls(ctx);
    return {
      bin: process.execPath,
      args: [
        '--import',
        '@swc-node/register/esm-register',
        path.join(repoRoot, 'scripts', 'lib', 'services', 's3-server.ts'),
      ],
      cwd: repoRoot,
      env: {
        S3_HOST: ctx.host,
        S3_PORT: String(ctx.port),
        S3_DIR: path.join(ctx.dir, 'data'),
        S3_BUCKETS: buckets(ctx).join(','),
        ...(t ? { S3_TLS_CERT: t.cert, S3_TLS_KEY: t.key } : {}),
      },
    };
  },

  ready(ctx) {
    return tcpProbe(ctx.host, ctx.port);
  },

  info(ctx) {
    const b = buckets(ctx);
    return {
      host: ctx.host,
      port: ctx.port,
      url: `${tls(ctx) ? 'https' : 'http'}://${ctx.host}:${ctx.port}`,
      bucket: b[0],
      buckets: b,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
      region: 'us-east-1',
    };
  },
};
