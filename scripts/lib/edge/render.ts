// The Nginx edge config for an environment: nginx/ (the same files for every mode: native local
// stack, compose, the real servers) rendered with the environment's data. One function,
// renderNginxConfig(), is used by the tests, `make deploy-nginx` and the native `make up`.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import { fromRoot } from '../paths.js';
import { parseCidr } from '../../../app/src/net/cidr.js';
import { readCloudflareRanges } from './cloudflare-ranges.js';
import { fillTemplate } from './template.js';

export const nginxDir = fromRoot('nginx');

type NginxConfig = NonNullable<Environment['nginx']>;
export type NginxListen = NginxConfig['listen'];
export type NginxRuntime = NginxConfig['runtime'];
export type NginxRateLimit = NginxConfig['rateLimit'];
export type NginxTls = NonNullable<NginxConfig['tls']>;
export type NginxMicroCache = NginxConfig['microCache'];

/** What a caller may override for one rendering (ports, paths and addresses of this run). */
export interface NginxRenderOptions {
  site?: string;
  upstreams?: string[];
  /**
   * Upstreams (host:port, as in `upstreams`) rendered with the `down` parameter: Nginx sends them
   * no request after a reload (ngx_http_upstream_module, "server … down"). Used to drain a replica
   * before it is stopped. Draining every upstream is refused (Error).
   */
  drained?: string[];
  /** Replaces the Cloudflare ranges (tests use loopback addresses). */
  realIpFrom?: string[];
  originLock?: boolean;
  authenticatedOriginPulls?: boolean;
  listen?: Partial<NginxListen>;
  tls?: NginxTls;
  runtime?: Partial<NginxRuntime>;
  rateLimit?: Partial<NginxRateLimit>;
  /** Micro-cache of the public reads on or off, and its validity (make bench measures both in one run). */
  microCache?: Partial<NginxMicroCache>;
  /** Shown by the internal listener's health answers (X-Config-Release): which release is live. */
  releaseId?: string;
  cloudflareIpsFile?: string;
}

export interface RenderedNginxConfig {
  site: string;
  /** Relative path -> content; nginx.conf is the main file. */
  files: Map<string, string>;
  /** Effective settings, for callers that need ports or paths. */
  listen: NginxListen;
  runtime: NginxRuntime;
  upstreams: string[];
  microCache: NginxMicroCache;
}

/** Files that only carry the release id: left out of diffs between releases. */
export const RELEASE_FILE = 'release.conf';

function listenTarget(address: string | undefined, port: number): string[] {
  return address ? [`${address}:${port}`] : [`${port}`, `[::]:${port}`];
}

function originLockBlock(on: boolean, envName: string): string {
  if (!on) return `# Origin lock off in this environment (environments/${envName}.yaml nginx.originLock).`;
  return [
    `# Origin lock: only Cloudflare's ranges may connect (environments/${envName}.yaml nginx.originLock).`,
    'if ($from_cloudflare = 0) {',
    `    return 403 '{"error":{"status":403,"code":"forbidden","message":"direct access to the origin is not allowed","request_id":"$req_id"}}\\n';`,
    '}',
  ].join('\n');
}

/** Renders nginx/ for an environment into memory; throws a UserError when the environment lacks what its site needs. */
export function renderNginxConfig(env: Environment, o: NginxRenderOptions = {}): RenderedNginxConfig {
  const cfg = env.nginx;
  if (!cfg)
    throw new UserError(`environment ${env.name} has no nginx section`, {
      hint: `add nginx: (serverName, originLock …) to ${path.basename(env.file)}`,
    });
  const site = o.site ?? cfg.site ?? env.name;
  const siteFile = path.join(nginxDir, 'sites', `${site}.conf`);
  if (!existsSync(siteFile)) {
    const known = readdirSync(path.join(nginxDir, 'sites')).map((f) => f.replace(/\.conf$/, ''));
    throw new UserError(`environment ${env.name} uses nginx site '${site}', which does not exist`, {
      hint: `set nginx.site to one of ${known.join(', ')} (files in nginx/sites/)`,
    });
  }
  const listen: NginxListen = { ...cfg.listen, ...o.listen };
  const runtime: NginxRuntime = { ...cfg.runtime, ...o.runtime };
  const rate: NginxRateLimit = { ...cfg.rateLimit, ...o.rateLimit };
  const microCache: NginxMicroCache = { ...cfg.microCache, ...o.microCache };
  const upstreams = o.upstreams ?? cfg.upstreams ?? [`127.0.0.1:${env.api.port}`];
  if (upstreams.length === 0) throw new Error('renderNginxConfig: no upstreams');
  const drained = new Set(o.drained ?? []);
  for (const d of drained)
    if (!upstreams.includes(d)) throw new Error(`renderNginxConfig: drained ${d} is not an upstream`);
  if (upstreams.every((u) => drained.has(u))) throw new Error('renderNginxConfig: every upstream would be drained');
  const ranges = o.realIpFrom ?? readCloudflareRanges(o.cloudflareIpsFile);
  for (const r of ranges) {
    const parsed = parseCidr(r, { bareAddress: true, network: true });
    if (!parsed.ok) throw new UserError(`invalid real-IP range '${r}': ${parsed.problem}`);
  }
  const originLock = o.originLock ?? cfg.originLock;
  const aop = o.authenticatedOriginPulls ?? cfg.authenticatedOriginPulls;
  const tls = o.tls ?? cfg.tls;

  const vars: Record<string, string> = {
    USER_DIRECTIVE: runtime.user
      ? `user ${runtime.user};`
      : '# (no `user`: the workers run as the master, or nobody under root)',
    WORKER_PROCESSES: String(runtime.workerProcesses),
    PID_FILE: runtime.pidFile,
    ERROR_LOG: runtime.errorLog,
    ACCESS_LOG: runtime.accessLog,
    TEMP_DIR: runtime.tempDir,
    CACHE_DIR: runtime.cacheDir,
    // `proxy_cache off` keeps every other proxy_cache_* directive valid: one template for both.
    MICRO_CACHE_ZONE: microCache.enabled ? 'mytv_micro' : 'off',
    MICRO_CACHE_VALID: `${microCache.validSeconds}s`,
    MAINTENANCE_FLAG: runtime.maintenanceFlag,
    MAINTENANCE_RETRY_AFTER: String(runtime.maintenanceRetryAfterSeconds),
    UPSTREAM_SERVERS: upstreams
      .map((u) => (drained.has(u) ? `server ${u} down; # drained` : `server ${u} max_fails=1 fail_timeout=5s;`))
      .join('\n'),
    RATE_PER_SECOND: String(rate.perSecond),
    BURST: String(rate.burst),
    ADMIN_WRITES_PER_MINUTE: String(rate.adminWritesPerMinute),
    ADMIN_BURST: String(rate.adminBurst),
    SERVER_NAME: cfg.serverName,
    LISTEN_HTTP: listenTarget(listen.address, listen.http)
      .map((t) => `listen ${t};`)
      .join('\n'),
    LISTEN_HTTPS: listenTarget(listen.address, listen.https)
      .map((t) => `listen ${t} ssl http2;`)
      .join('\n'),
    // snippets/default-server.conf: the same addresses, as default_server (refuses other names).
    LISTEN_HTTP_DEFAULT: listenTarget(listen.address, listen.http)
      .map((t) => `listen ${t} default_server;`)
      .join('\n'),
    LISTEN_HTTPS_DEFAULT: listenTarget(listen.address, listen.https)
      .map((t) => `listen ${t} ssl http2 default_server;`)
      .join('\n'),
    HTTPS_PORT_SUFFIX: listen.https === 443 ? '' : `:${listen.https}`,
    STATUS_LISTEN: `${listen.statusAddress}:${listen.status}`,
    ORIGIN_LOCK: originLockBlock(originLock, env.name),
    ORIGIN_PULL: '# Authenticated Origin Pulls off in this environment (nginx.authenticatedOriginPulls).',
  };
  const siteText = readFileSync(siteFile, 'utf8');
  if (siteText.includes('{{TLS_CERTIFICATE')) {
    if (!tls)
      throw new UserError(`environment ${env.name} (site ${site}) serves TLS but has no nginx.tls certificate paths`, {
        hint: `add nginx.tls.certificate and nginx.tls.certificateKey to ${path.basename(env.file)}`,
      });
    vars.TLS_CERTIFICATE = tls.certificate;
    vars.TLS_CERTIFICATE_KEY = tls.certificateKey;
    if (aop) {
      if (!tls.originPullCa)
        throw new UserError(`environment ${env.name} enables Authenticated Origin Pulls without a CA`, {
          hint: `set nginx.tls.originPullCa (the CA of the zone's or host name's own origin-pull certificate, not Cloudflare's shared one) in ${path.basename(env.file)}`,
        });
      vars.ORIGIN_PULL = [
        '# Authenticated Origin Pulls: only the client certificate Cloudflare presents for this zone/host name',
        "# (our own CA, not Cloudflare's shared origin-pull CA, which every Cloudflare account presents).",
        `ssl_client_certificate ${tls.originPullCa};`,
        'ssl_verify_client on;',
      ].join('\n');
    }
  } else if (aop) {
    throw new UserError(`Authenticated Origin Pulls need a TLS site; site ${site} of ${env.name} has none`, {
      hint: 'set nginx.authenticatedOriginPulls: false for this environment',
    });
  }

  const files = new Map<string, string>();
  const add = (rel: string): void => {
    files.set(rel, fillTemplate(readFileSync(path.join(nginxDir, rel), 'utf8'), vars, `nginx/${rel}`));
  };
  add('nginx.conf');
  add('internal.conf');
  for (const f of readdirSync(path.join(nginxDir, 'snippets')).sort()) if (f.endsWith('.conf')) add(`snippets/${f}`);
  add(`sites/${site}.conf`);

  const source = o.realIpFrom ? 'the ranges given to this rendering (tests)' : 'nginx/cloudflare-ips.txt';
  files.set(
    'cloudflare-realip.conf',
    [
      `# Generated from ${source} by scripts/lib/edge/render.ts; do not edit.`,
      '# The client address is CF-Connecting-IP, believed only from these peers.',
      ...ranges.map((r) => `set_real_ip_from ${r};`),
      'real_ip_header CF-Connecting-IP;',
      'real_ip_recursive off;',
      '',
    ].join('\n'),
  );
  files.set(
    'cloudflare-geo.conf',
    [
      `# Generated from ${source} by scripts/lib/edge/render.ts; do not edit.`,
      '# $from_cloudflare: 1 when the TCP peer (before realip) is a Cloudflare range; the origin lock reads it.',
      'geo $realip_remote_addr $from_cloudflare {',
      '    default 0;',
      ...ranges.map((r) => `    ${r} 1;`),
      '}',
      '',
    ].join('\n'),
  );
  files.set(
    RELEASE_FILE,
    `add_header X-Config-Release "${(o.releaseId ?? 'unreleased').replace(/[^\w.:-]/g, '')}" always;\n`,
  );
  return { site, files, listen, runtime, upstreams, microCache };
}

/** Writes a rendering into dir (created); returns the main file's path. */
export function writeNginxConfig(rendered: RenderedNginxConfig, dir: string): string {
  for (const [rel, text] of rendered.files) {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  return path.join(dir, 'nginx.conf');
}
