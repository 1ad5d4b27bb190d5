// The Pushgateway (Debian prometheus-pushgateway): batch jobs (backups, restore drills) push their
// last-run metrics here and Prometheus scrapes them (job pushgateway, honor_labels). Pushed groups
// persist in the instance's directory across restarts.
import path from 'node:path';
import { requireTool } from '../tools.js';
import { httpProbe } from './probes.js';
import type { ServiceSpec } from './types.js';

export interface PushgatewayInfo extends Record<string, unknown> {
  host: string;
  port: number;
  url: string;
}

export const pushgatewayService: ServiceSpec<PushgatewayInfo> = {
  kind: 'pushgateway',
  tools: ['prometheus-pushgateway'],
  readyTimeoutMs: 15_000,
  command(ctx) {
    return {
      bin: requireTool('prometheus-pushgateway'),
      args: [
        `--web.listen-address=${ctx.host}:${ctx.port}`,
        `--persistence.file=${path.join(ctx.dir, 'metrics.store')}`,
        '--persistence.interval=1m',
      ],
    };
  },
  ready(ctx) {
    return httpProbe(`http://${ctx.host}:${ctx.port}/-/ready`);
  },
  info(ctx) {
    return { host: ctx.host, port: ctx.port, url: `http://${ctx.host}:${ctx.port}` };
  },
};
