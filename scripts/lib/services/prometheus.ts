// Prometheus 2.x from the Debian package, running the repository's prometheus/prometheus.yml
// unchanged: the file is copied beside its rules (a link to prometheus/rules) and a targets/
// folder of file_sd files written for this stack's loopback ports — the only thing that differs
// from compose, where targets/ names the compose services.
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { fromRoot } from '../paths.js';
import { requireTool } from '../tools.js';
import { httpProbe } from './probes.js';
import type { ServiceContext, ServiceSpec } from './types.js';

export interface PrometheusInfo extends Record<string, unknown> {
  host: string;
  port: number;
  url: string;
  configFile: string;
}

/** file_sd target groups: one file per job, as prometheus/targets/*.json (labels: e.g. __param_target). */
export type TargetFiles = Record<string, { target: string; service: string; labels?: Record<string, string> }[]>;

/** Blackbox jobs: which exporter instance probes which URLs (the replica or service name as `service`). */
export type ProbeJobs = Record<string, { exporter: string; targets: { url: string; service: string }[] }>;

export const prometheusConfigSource = fromRoot('prometheus', 'prometheus.yml');
export const prometheusRulesSource = fromRoot('prometheus', 'rules');

/** host:port Prometheus scrapes for a peer: its metricsUrl's (the API has a separate metrics port), else its main port. */
export function scrapeTarget(peer: Record<string, unknown>): string {
  if (typeof peer.metricsUrl === 'string') return new URL(peer.metricsUrl).host;
  return `${String(peer.host)}:${String(peer.port)}`;
}

function configDir(ctx: ServiceContext): string {
  return path.join(ctx.dir, 'config');
}

/** Writes the config folder: the repository's file as is, its rules linked, targets for this stack. */
export function renderPrometheusConfig(dir: string, targets: TargetFiles): string {
  mkdirSync(path.join(dir, 'targets'), { recursive: true });
  const file = path.join(dir, 'prometheus.yml');
  copyFileSync(prometheusConfigSource, file);
  rmSync(path.join(dir, 'rules'), { force: true, recursive: true });
  symlinkSync(prometheusRulesSource, path.join(dir, 'rules'));
  for (const [job, list] of Object.entries(targets)) {
    const groups = list.map((t) => ({ targets: [t.target], labels: { ...t.labels, service: t.service } }));
    writeFileSync(path.join(dir, 'targets', `${job}.json`), JSON.stringify(groups, null, 2) + '\n');
  }
  return file;
}

export const prometheusService: ServiceSpec<PrometheusInfo> = {
  kind: 'prometheus',
  tools: ['prometheus'],
  readyTimeoutMs: 20_000,

  prepare(ctx) {
    // Jobs name peers ({ api: ['api-1', 'api-2'] }); this instance scrapes itself too.
    const jobs = (ctx.options.jobs as Record<string, string[]> | undefined) ?? {};
    const targets: TargetFiles = { prometheus: [{ target: `${ctx.host}:${ctx.port}`, service: ctx.name }] };
    for (const [job, names] of Object.entries(jobs)) {
      targets[job] = names.filter((n) => ctx.peers[n]).map((n) => ({ target: scrapeTarget(ctx.peers[n]), service: n }));
    }
    const probes = (ctx.options.probes as ProbeJobs | undefined) ?? {};
    for (const [job, p] of Object.entries(probes)) {
      const exporter = ctx.peers[p.exporter];
      targets[job] = exporter
        ? p.targets.map((t) => ({
            target: String(exporter.address),
            service: t.service,
            labels: { __param_target: t.url },
          }))
        : [];
    }
    const file = renderPrometheusConfig(configDir(ctx), targets);
    // Tests evaluate in seconds, not in the production rhythm; nothing else of the file changes.
    const intervals = ctx.options.intervals as { scrape?: string; evaluation?: string } | undefined;
    if (intervals) {
      const doc = parseDocument(readFileSync(file, 'utf8'));
      if (intervals.scrape) {
        doc.setIn(['global', 'scrape_interval'], intervals.scrape);
        doc.setIn(['global', 'scrape_timeout'], intervals.scrape);
      }
      if (intervals.evaluation) doc.setIn(['global', 'evaluation_interval'], intervals.evaluation);
      writeFileSync(file, doc.toString());
    }
    return Promise.resolve();
  },

  command(ctx) {
    return {
      bin: requireTool('prometheus'),
      args: [
        `--config.file=${path.join(configDir(ctx), 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(ctx.dir, 'data')}`,
        `--web.listen-address=${ctx.host}:${ctx.port}`,
        '--storage.tsdb.retention.time=2d',
        '--web.enable-lifecycle',
        // Loki's ruler remote-writes the log-based recordings (loki/rules) to /api/v1/write.
        '--web.enable-remote-write-receiver',
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
      configFile: path.join(configDir(ctx), 'prometheus.yml'),
    };
  },
};
