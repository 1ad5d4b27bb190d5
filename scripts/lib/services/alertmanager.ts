// Alertmanager from the Debian package with the repository's alertmanager/alertmanager.yml as it
// is. Clustering off (`--cluster.listen-address=` empty), or it binds 0.0.0.0:9094.
import path from 'node:path';
import { fromRoot } from '../paths.js';
import { requireTool } from '../tools.js';
import { httpProbe } from './probes.js';
import type { ServiceSpec } from './types.js';

export interface AlertmanagerInfo extends Record<string, unknown> {
  host: string;
  port: number;
  url: string;
}

export const alertmanagerConfig = fromRoot('alertmanager', 'alertmanager.yml');

export const alertmanagerService: ServiceSpec<AlertmanagerInfo> = {
  kind: 'alertmanager',
  tools: ['prometheus-alertmanager'],
  readyTimeoutMs: 15_000,

  command(ctx) {
    return {
      bin: requireTool('prometheus-alertmanager'),
      args: [
        `--config.file=${(ctx.options.configFile as string | undefined) ?? alertmanagerConfig}`,
        `--storage.path=${path.join(ctx.dir, 'data')}`,
        `--web.listen-address=${ctx.host}:${ctx.port}`,
        '--cluster.listen-address=',
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
