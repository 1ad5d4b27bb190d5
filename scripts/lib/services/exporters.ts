// The Prometheus exporters from Debian, each pointed at a peer of the same stack:
// postgres-exporter (DSN through the environment: it holds the password), redis-exporter,
// nginx-exporter (single-dash flags; reads nginx's stub_status listener).
import { requireTool } from '../tools.js';
import { httpProbe } from './probes.js';
import type { ServiceContext, ServiceSpec } from './types.js';

export interface ExporterInfo extends Record<string, unknown> {
  host: string;
  port: number;
  url: string;
  metricsUrl: string;
}

function info(ctx: ServiceContext): ExporterInfo {
  const url = `http://${ctx.host}:${ctx.port}`;
  return { host: ctx.host, port: ctx.port, url, metricsUrl: `${url}/metrics` };
}

function target(ctx: ServiceContext, fallback: string): Record<string, unknown> {
  const name = (ctx.options.target as string | undefined) ?? fallback;
  const peer = ctx.peers[name];
  if (!peer) throw new Error(`${ctx.name} needs ${name} started before it in the same stack`);
  return peer;
}

const metricsReady = (ctx: ServiceContext): Promise<boolean> => httpProbe(`http://${ctx.host}:${ctx.port}/metrics`);

/** application_name of the postgres-exporter's sessions (monitoring, not the app). */
export const MONITORING_APPLICATION_NAME = 'postgres_exporter';

export const postgresExporterService: ServiceSpec<ExporterInfo> = {
  kind: 'postgres-exporter',
  tools: ['prometheus-postgres-exporter'],
  command(ctx) {
    const pg = target(ctx, 'postgres');
    return {
      bin: requireTool('prometheus-postgres-exporter'),
      args: [`--web.listen-address=${ctx.host}:${ctx.port}`],
      // application_name: its sessions are told apart from the app's (restore --in-place).
      env: { DATA_SOURCE_NAME: `${String(pg.url)}?sslmode=disable&application_name=${MONITORING_APPLICATION_NAME}` },
    };
  },
  ready: metricsReady,
  info,
};

export const redisExporterService: ServiceSpec<ExporterInfo> = {
  kind: 'redis-exporter',
  tools: ['prometheus-redis-exporter'],
  command(ctx) {
    const redis = target(ctx, 'redis');
    return {
      bin: requireTool('prometheus-redis-exporter'),
      args: [`-web.listen-address=${ctx.host}:${ctx.port}`, `-redis.addr=${String(redis.url)}`],
    };
  },
  ready: metricsReady,
  info,
};

export const nginxExporterService: ServiceSpec<ExporterInfo> = {
  kind: 'nginx-exporter',
  tools: ['prometheus-nginx-exporter'],
  command(ctx) {
    const nginx = target(ctx, 'nginx');
    const statusUrl = (nginx.statusUrl as string | undefined) ?? `http://${ctx.host}:${String(nginx.statusPort)}/`;
    return {
      bin: requireTool('prometheus-nginx-exporter'),
      args: [`-web.listen-address=${ctx.host}:${ctx.port}`, `-nginx.scrape-uri=${statusUrl}`],
    };
  },
  ready: metricsReady,
  info,
};
