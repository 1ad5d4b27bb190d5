// The Nginx edge config for an environment: nginx/ (the same files for every mode: native local
// stack, compose, the real servers) rendered with the environment's data. One function,
// renderNginxConfig(), is used by the tests, `make deploy-nginx` and the native `make up`.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Environment } from './environments.js';
import { UserError } from './errors.js';
import { fromRoot } from './paths.js';
import { requireTool } from './tools.js';

const execFileAsync = promisify(execFile);

export const nginxDir = fromRoot('nginx');
export const cloudflareIpsFile = path.join(nginxDir, 'cloudflare-ips.txt');

type NginxConfig = NonNullable<Environment['nginx']>;
export type NginxListen = NginxConfig['listen'];
export type NginxRuntime = NginxConfig['runtime'];
export type NginxRateLimit = NginxConfig['rateLimit'];
export type NginxTls = NonNullable<NginxConfig['tls']>;

/** What a caller may override for one rendering (ports, paths and addresses of this run). */
export interface NginxRenderOptions {
  site?: string;
  upstreams?: string[];
  /** Replaces the Cloudflare ranges (tests use loopback addresses). */
  realIpFrom?: string[];
  originLock?: boolean;
  authenticatedOriginPulls?: boolean;
  listen?: Partial<NginxListen>;
  tls?: NginxTls;
  runtime?: Partial<NginxRuntime>;
  rateLimit?: Partial<NginxRateLimit>;
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
}

/** Files that only carry the release id: left out of diffs between releases. */
export const RELEASE_FILE = 'release.conf';

// ---------------------------------------------------------------------------------------------
// Cloudflare ranges: the data file and CIDR validation (shared with scripts/cloudflare-ips.ts).

/** Why a CIDR is invalid, or undefined when it is a valid network (host bits zero). */
export function cidrProblem(cidr: string): string | undefined {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return 'not of the form address/prefix';
  const family = isIP(m[1]);
  if (family === 0) return `'${m[1]}' is not an IP address`;
  const prefix = Number(m[2]);
  const bits = family === 4 ? 32 : 128;
  if (prefix > bits) return `prefix /${prefix} is longer than ${bits} bits`;
  const value = family === 4 ? ipv4ToBigInt(m[1]) : ipv6ToBigInt(m[1]);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) return `host bits are set (the network of /${prefix} starts elsewhere)`;
  return undefined;
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4ToBigInt(v4[1]);
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

export interface CidrList {
  cidrs: string[];
  problems: string[];
}

/** Parses a list (one CIDR a line, '#' comments); every invalid line is a problem naming its line. */
export function parseCidrList(text: string, source = 'list'): CidrList {
  const cidrs: string[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const problem = cidrProblem(line);
    if (problem) problems.push(`${source}:${i + 1}: '${line}': ${problem}`);
    else if (!cidrs.includes(line)) cidrs.push(line);
  });
  return { cidrs, problems };
}

export function readCloudflareRanges(file = cloudflareIpsFile): string[] {
  const shown = path.relative(fromRoot(), file) || file;
  if (!existsSync(file))
    throw new UserError(`${shown} is missing`, { hint: 'restore it from git, or run `make cloudflare-ips`' });
  const { cidrs, problems } = parseCidrList(readFileSync(file, 'utf8'), shown);
  if (problems.length > 0)
    throw new UserError(`${shown} has invalid ranges:\n  ${problems.join('\n  ')}`, {
      hint: `fix the lines, or run \`make cloudflare-ips\` to fetch the published lists`,
    });
  if (cidrs.length === 0) throw new UserError(`${shown} lists no ranges`, { hint: 'run `make cloudflare-ips`' });
  return cidrs;
}

// ---------------------------------------------------------------------------------------------
// Templating: {{NAME}} placeholders; a multi-line value keeps the placeholder's indentation.

export function fillTemplate(template: string, vars: Record<string, string>, file: string): string {
  const missing = new Set<string>();
  const out = template
    .split('\n')
    .map((line) => {
      const indent = /^[ \t]*/.exec(line)![0];
      return line.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, name: string) => {
        const value = vars[name];
        if (value === undefined) {
          missing.add(name);
          return '';
        }
        return value.split('\n').join(`\n${indent}`);
      });
    })
    .join('\n');
  if (missing.size > 0) throw new Error(`${file}: no value for placeholder(s) ${[...missing].join(', ')}`);
  return out;
}

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
  const upstreams = o.upstreams ?? cfg.upstreams ?? [`127.0.0.1:${env.api.port}`];
  if (upstreams.length === 0) throw new Error('renderNginxConfig: no upstreams');
  const ranges = o.realIpFrom ?? readCloudflareRanges(o.cloudflareIpsFile);
  for (const r of ranges) {
    const problem = cidrProblem(r.includes('/') ? r : `${r}/${isIP(r) === 6 ? 128 : 32}`);
    if (problem) throw new UserError(`invalid real-IP range '${r}': ${problem}`);
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
    MAINTENANCE_FLAG: runtime.maintenanceFlag,
    MAINTENANCE_RETRY_AFTER: String(runtime.maintenanceRetryAfterSeconds),
    UPSTREAM_SERVERS: upstreams.map((u) => `server ${u} max_fails=1 fail_timeout=5s;`).join('\n'),
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
          hint: `set nginx.tls.originPullCa (Cloudflare's origin-pull CA) in ${path.basename(env.file)}`,
        });
      vars.ORIGIN_PULL = [
        "# Authenticated Origin Pulls: only Cloudflare's client certificate is accepted.",
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
      `# Generated from ${source} by scripts/lib/nginx.ts; do not edit.`,
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
      `# Generated from ${source} by scripts/lib/nginx.ts; do not edit.`,
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
  return { site, files, listen, runtime, upstreams };
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

export interface NginxTestResult {
  ok: boolean;
  output: string;
}

/** `nginx -t` of a config file, with the error log and prefix in prefixDir. */
export async function nginxTest(confFile: string, prefixDir = path.dirname(confFile)): Promise<NginxTestResult> {
  const nginx = requireTool('nginx');
  try {
    const r = await execFileAsync(
      nginx,
      ['-t', '-p', prefixDir, '-c', confFile, '-e', path.join(prefixDir, 'nginx-t.log')],
      {
        timeout: 30_000,
      },
    );
    return { ok: true, output: (r.stderr + r.stdout).trim() };
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    return { ok: false, output: (e.stderr || e.stdout || e.message).trim() };
  }
}

/** A self-signed certificate (and key) for checking TLS sites here; not for serving real traffic. */
export async function selfSignedCertificate(dir: string, commonName: string): Promise<NginxTls> {
  mkdirSync(dir, { recursive: true });
  const certificate = path.join(dir, `${commonName}.pem`);
  const certificateKey = path.join(dir, `${commonName}.key`);
  if (!existsSync(certificate)) {
    await execFileAsync(
      requireTool('openssl'),
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'].concat([
        '-subj',
        `/CN=${commonName}`,
        '-keyout',
        certificateKey,
        '-out',
        certificate,
      ]),
      { timeout: 30_000 },
    );
  }
  return { certificate, certificateKey, originPullCa: certificate };
}

/**
 * Renders an environment's config as its server would get it, except that certificates are
 * self-signed stand-ins and runtime paths point into a scratch directory, then runs `nginx -t`.
 * The preflight of `make deploy-nginx` and the per-environment config test.
 */
export async function checkNginxConfig(
  env: Environment,
  o: NginxRenderOptions = {},
): Promise<NginxTestResult & { rendered: RenderedNginxConfig }> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'mytv-nginx-check-'));
  try {
    const tls = env.nginx?.tls
      ? await selfSignedCertificate(path.join(scratch, 'tls'), env.nginx.serverName)
      : undefined;
    const rendered = renderNginxConfig(env, {
      ...o,
      tls: o.tls ?? tls,
      runtime: {
        pidFile: path.join(scratch, 'nginx.pid'),
        errorLog: path.join(scratch, 'error.log'),
        accessLog: path.join(scratch, 'access.log'),
        tempDir: path.join(scratch, 'tmp'),
        maintenanceFlag: path.join(scratch, 'maintenance'),
        // `user` needs root; nginx -t as another user would fail on it for the wrong reason.
        ...(process.getuid?.() === 0 ? {} : { user: undefined }),
        ...o.runtime,
      },
    });
    mkdirSync(rendered.runtime.tempDir, { recursive: true });
    const conf = writeNginxConfig(rendered, path.join(scratch, 'conf'));
    const result = await nginxTest(conf, scratch);
    return { ...result, rendered };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
