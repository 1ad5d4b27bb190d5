// The blackbox exporter (Debian prometheus-blackbox-exporter) with prometheus/blackbox.yml: probes
// the edge through Nginx and each API replica's /health/ready (Prometheus jobs blackbox-edge and
// api-readiness send it the URL as ?target=).
import { fromRoot } from '../paths.js';
import { requireTool } from '../tools.js';
import { httpProbe } from './probes.js';
import type { ServiceSpec } from './types.js';

export interface BlackboxInfo extends Record<string, unknown> {
  host: string;
  port: number;
  url: string;
  /** host:port, what Prometheus scrapes (/probe?target=…). */
  address: string;
}

export const blackboxConfig = fromRoot('prometheus', 'blackbox.yml');

export const blackboxExporterService: ServiceSpec<BlackboxInfo> = {
  kind: 'blackbox-exporter',
  tools: ['prometheus-blackbox-exporter'],
  command(ctx) {
    return {
      bin: requireTool('prometheus-blackbox-exporter'),
      args: [`--config.file=${blackboxConfig}`, `--web.listen-address=${ctx.host}:${ctx.port}`],
    };
  },
  ready(ctx) {
    return httpProbe(`http://${ctx.host}:${ctx.port}/-/healthy`);
  },
  info(ctx) {
    return {
      host: ctx.host,
      port: ctx.port,
      url: `http://${ctx.host}:${ctx.port}`,
      address: `${ctx.host}:${ctx.port}`,
    };
  },
};
