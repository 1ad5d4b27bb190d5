// Alertmanager from the Debian package with the repository's alertmanager/alertmanager.yml: the
// config is rendered into the instance's directory (scripts/lib/monitoring/alertmanager-config.ts:
// receiver URLs from options.receiverUrls or the ALERTMANAGER_*_URL variables, inlined for
// Alertmanager < 0.26). Clustering off (`--cluster.listen-address=` empty), or it binds 0.0.0.0:9094.
import path from 'node:path';
import {
  installedAlertmanagerVersion,
  needsInlineUrls,
  receiverUrlsFromEnv,
  renderAlertmanagerConfig,
  type RouteTimings,
} from '../monitoring/alertmanager-config.js';
import { fromRoot } from '../paths.js';
import { requireTool } from '../tools.js';
import { httpProbe } from './probes.js';
import type { ServiceContext, ServiceSpec } from './types.js';

export interface AlertmanagerInfo extends Record<string, unknown> {
  host: string;
  port: number;
  url: string;
  configFile: string;
}

export const alertmanagerConfig = fromRoot('alertmanager', 'alertmanager.yml');

function renderedConfig(ctx: ServiceContext): string {
  return path.join(ctx.dir, 'config', 'alertmanager.yml');
}

export const alertmanagerService: ServiceSpec<AlertmanagerInfo> = {
  kind: 'alertmanager',
  tools: ['prometheus-alertmanager'],
  readyTimeoutMs: 15_000,

  prepare(ctx) {
    if (!ctx.options.configFile) {
      renderAlertmanagerConfig(path.dirname(renderedConfig(ctx)), {
        urls: (ctx.options.receiverUrls as Record<string, string> | undefined) ?? receiverUrlsFromEnv(process.env),
        inlineUrls: needsInlineUrls(installedAlertmanagerVersion()),
        timings: ctx.options.timings as RouteTimings | undefined,
      });
    }
    return Promise.resolve();
  },

  command(ctx) {
    return {
      bin: requireTool('prometheus-alertmanager'),
      args: [
        `--config.file=${(ctx.options.configFile as string | undefined) ?? renderedConfig(ctx)}`,
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
    return {
      host: ctx.host,
      port: ctx.port,
      url: `http://${ctx.host}:${ctx.port}`,
      configFile: (ctx.options.configFile as string | undefined) ?? renderedConfig(ctx),
    };
  },
};
