// Nginx from the Debian binary, running the repository's edge config (nginx/, rendered for an
// environment by scripts/lib/edge/render.ts) on loopback: the local site in plain HTTP on the main port,
// the internal listener (stub_status, /metrics, health) on the 'status' port.
//   stack.start('nginx', { options: { environment: 'dev', upstreams: ['127.0.0.1:3001'],
//                                      realIpFrom?: ['127.0.0.2/32'], originLock?: true } })
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { loadEnvironment } from '../environments.js';
import { UserError } from '../errors.js';
import { nginxTest } from '../edge/check.js';
import { renderNginxConfig, writeNginxConfig, type NginxMicroCache, type NginxRateLimit } from '../edge/render.js';
import { requireTool } from '../tools.js';
import { waitFor } from '../wait.js';
import { childPids } from './process.js';
import { httpProbe } from './probes.js';
import type { ServiceContext, ServiceSpec } from './types.js';

export interface NginxServiceOptions {
  /** Environment whose nginx settings are used (rate limits, origin lock, server name); default 'dev'. */
  environment?: string;
  /** API replicas as host:port; default the environment's (127.0.0.1:<api.port>). */
  upstreams?: string[];
  /** Upstreams (as in `upstreams`) that get no request: `server … down` (drained before a restart). */
  drained?: string[];
  /** Peers believed for CF-Connecting-IP (and allowed by the origin lock); default the Cloudflare ranges. */
  realIpFrom?: string[];
  /** Refuse peers outside realIpFrom; default false (local clients are not Cloudflare). */
  originLock?: boolean;
  rateLimit?: Partial<NginxRateLimit>;
  /** Micro-cache on/off and validity; default the environment's (on, 1 s). */
  microCache?: Partial<NginxMicroCache>;
}

export interface NginxInfo extends Record<string, unknown> {
  url: string;
  port: number;
  statusPort: number;
  statusUrl: string;
  accessLog: string;
  errorLog: string;
  confDir: string;
  /** `touch` it to switch the site to maintenance (503), remove it to end. */
  maintenanceFlag: string;
  pidFile: string;
}

function paths(ctx: ServiceContext) {
  return {
    confDir: path.join(ctx.dir, 'conf'),
    accessLog: path.join(ctx.dir, 'access.log'),
    errorLog: path.join(ctx.dir, 'error.log'),
    pidFile: path.join(ctx.dir, 'nginx.pid'),
    tempDir: path.join(ctx.dir, 'tmp'),
    cacheDir: path.join(ctx.dir, 'cache'),
    maintenanceFlag: path.join(ctx.dir, 'maintenance'),
  };
}

export const nginxService: ServiceSpec<NginxInfo> = {
  kind: 'nginx',
  tools: ['nginx'],
  extraPorts: ['status'],
  readyTimeoutMs: 10_000,
  stopSignal: 'SIGQUIT', // graceful: finish in-flight requests
  stopGraceMs: 10_000,

  prepare(ctx) {
    const o = ctx.options as NginxServiceOptions;
    const p = paths(ctx);
    const env = loadEnvironment(o.environment ?? 'dev');
    if (o.upstreams !== undefined && o.upstreams.length === 0)
      throw new UserError('nginx needs at least one upstream (API replica)', { hint: 'start an api instance first' });
    const rendered = renderNginxConfig(env, {
      site: 'local',
      upstreams: o.upstreams,
      drained: o.drained,
      realIpFrom: o.realIpFrom,
      // Local clients never come from Cloudflare: the origin lock would refuse all of them, so it
      // applies only when asked for (tests give realIpFrom with loopback "Cloudflare" peers).
      originLock: o.originLock ?? false,
      authenticatedOriginPulls: false,
      rateLimit: o.rateLimit,
      microCache: o.microCache,
      listen: { address: ctx.host, http: ctx.port, status: ctx.ports.status, statusAddress: ctx.host },
      runtime: {
        user: undefined,
        workerProcesses: 2,
        pidFile: p.pidFile,
        errorLog: p.errorLog,
        accessLog: p.accessLog,
        tempDir: p.tempDir,
        cacheDir: p.cacheDir,
        maintenanceFlag: p.maintenanceFlag,
      },
      releaseId: 'local',
    });
    rmSync(p.confDir, { recursive: true, force: true });
    mkdirSync(p.tempDir, { recursive: true });
    writeNginxConfig(rendered, p.confDir);
    return Promise.resolve();
  },

  command(ctx) {
    const p = paths(ctx);
    return {
      bin: requireTool('nginx'),
      args: ['-p', ctx.dir, '-c', path.join(p.confDir, 'nginx.conf'), '-e', p.errorLog, '-g', 'daemon off;'],
    };
  },

  ready(ctx) {
    return httpProbe(`http://${ctx.host}:${ctx.ports.status}/stub_status`);
  },

  /**
   * Re-renders the config from ctx.options, checks it with `nginx -t`, then SIGHUP to the master:
   * new workers start with the new config (and fresh upstream failure state) while the old ones
   * finish their in-flight requests and exit ("Controlling nginx", nginx.org/en/docs/control.html).
   * Resolves once every old worker has exited, so nothing runs the old config any more. On a
   * failed test the previous files are put back and the running config is untouched (UserError).
   */
  async reload(ctx, pid) {
    const p = paths(ctx);
    const previous = `${p.confDir}.previous`;
    rmSync(previous, { recursive: true, force: true });
    cpSync(p.confDir, previous, { recursive: true });
    try {
      await nginxService.prepare!(ctx);
      const test = await nginxTest(path.join(p.confDir, 'nginx.conf'), ctx.dir);
      if (!test.ok)
        throw new UserError(`nginx -t refused the new config of ${ctx.name}: ${test.output.split('\n').pop()}`);
    } catch (err) {
      rmSync(p.confDir, { recursive: true, force: true });
      cpSync(previous, p.confDir, { recursive: true });
      throw err;
    } finally {
      rmSync(previous, { recursive: true, force: true });
    }
    const oldWorkers = childPids(pid);
    process.kill(pid, 'SIGHUP');
    // Old workers wait for their in-flight requests, bounded by proxy_read_timeout (30 s).
    const done = await waitFor(() => !childPids(pid).some((w) => oldWorkers.includes(w)), {
      timeoutMs: 45_000,
      intervalMs: 50,
    });
    if (!done)
      throw new UserError(`${ctx.name}: old worker processes still running 45 s after the reload`, {
        hint: `see ${p.errorLog}`,
      });
  },

  info(ctx) {
    const p = paths(ctx);
    return {
      url: `http://${ctx.host}:${ctx.port}`,
      port: ctx.port,
      statusPort: ctx.ports.status,
      statusUrl: `http://${ctx.host}:${ctx.ports.status}/stub_status`,
      accessLog: p.accessLog,
      errorLog: p.errorLog,
      confDir: p.confDir,
      maintenanceFlag: p.maintenanceFlag,
      pidFile: p.pidFile,
    };
  },
};
