// Environments are data: environments/<name>.yaml, merged with .env and .env.<name> (never
// committed) and the process environment, `${VAR}` / `${VAR:-default}` interpolated, then
// validated once by one schema. Every script gets its environment from loadEnvironment().
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { UsageError, UserError } from './errors.js';
import { environmentsDir, repoRoot } from './paths.js';
import { registerSecret } from './secrets.js';

const port = z.number().int().min(1).max(65535);
// Addresses are checked by zod's own validators (z.ipv4, z.ipv6, z.hostname), never by hand-written
// patterns: 999.999.999.999 is no address, and a name made only of digits and dots is no host name.
const isIpv4 = (v: string) => z.ipv4().safeParse(v).success;
const isIpv6 = (v: string) => z.ipv6().safeParse(v).success;
const isBracketedIpv6 = (v: string) => v.startsWith('[') && v.endsWith(']') && isIpv6(v.slice(1, -1));
const isDnsName = (v: string) => z.hostname().safeParse(v).success && !/^[\d.]+$/.test(v);
const isHost = (v: string) => isIpv4(v) || isIpv6(v) || isBracketedIpv6(v) || isDnsName(v);
const isPort = (v: string) => /^\d{1,5}$/.test(v) && port.safeParse(Number(v)).success;
const hostname = z.string().refine(isHost, 'expected a host name or IP address');
const k8sName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a Kubernetes name (lowercase, digits, -)');
const relPath = z
  .string()
  .min(1)
  .refine((p) => !path.isAbsolute(p) && !p.split('/').includes('..'), 'expected a path inside the repository');

/** An absolute path that is safe inside an Nginx directive and a shell word (no quoting needed). */
const configPath = z
  .string()
  .regex(/^\/[A-Za-z0-9._/@+-]*$/, 'expected an absolute path (letters, digits, . _ - / @ + only)');
const listenAddress = z
  .string()
  .refine((v) => isIpv4(v) || isBracketedIpv6(v), 'expected an IPv4 address or [IPv6] address');
/** host:port, the host a name, an IPv4 address or a [bracketed] IPv6 address, the port 1–65535. */
const upstreamAddress = z.string().refine((v) => {
  const colon = v.lastIndexOf(':');
  const host = v.slice(0, colon);
  return colon > 0 && isPort(v.slice(colon + 1)) && (isIpv4(host) || isBracketedIpv6(host) || isDnsName(host));
}, 'expected host:port (port 1-65535)');

const sshTarget = z.strictObject({
  host: hostname,
  port: port.default(22),
  user: z.string().min(1),
  keyFile: z.string().min(1),
  knownHostsFile: z.string().min(1),
});

/**
 * Where the environment's PostgreSQL lives and how it is backed up (make backup, backup-status,
 * restore, dr-drill, dump). pgBackRest option names: https://pgbackrest.org/configuration.html
 */
const databaseSchema = z.strictObject({
  /** local: the local stack's own instance (make up); ssh: a database host reached over SSH. */
  kind: z.enum(['local', 'ssh']),
  /** pgBackRest stanza (one per cluster). */
  stanza: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, 'expected a lowercase stanza name')
    .default('mytv'),
  /** The application database (verified after a restore, dumped by make dump). */
  name: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'expected a PostgreSQL identifier')
    .default('mytv'),
  /**
   * Two login roles the API alternates between when make rotate-secret NAME=DATABASE_URL rotates its
   * password (both members of the group role that holds the grants); absent: one role, rotated in place.
   */
  appLoginRoles: z
    .tuple([
      z.string().regex(/^[a-z_][a-z0-9_]*$/, 'expected a PostgreSQL role name'),
      z.string().regex(/^[a-z_][a-z0-9_]*$/, 'expected a PostgreSQL role name'),
    ])
    .refine(([a, b]) => a !== b, 'the two login roles must differ')
    .optional(),
  /** Database host (kind ssh): the deploy user logs in, commands run as the postgres OS user. */
  ssh: sshTarget.optional(),
  host: z
    .strictObject({
      /** Prefix that runs a command as the postgres OS user on the host. */
      runAs: z.string().min(1).default('sudo -n -u postgres'),
      dataDir: configPath.default('/var/lib/postgresql/15/main'),
      binDir: configPath.default('/usr/lib/postgresql/15/bin'),
      port: port.default(5432),
      socketDir: configPath.default('/var/run/postgresql'),
      /** pgBackRest's main config on the host (secrets in its conf.d/, mode 600, never in git). */
      pgbackrestConfig: configPath.default('/etc/pgbackrest/pgbackrest.conf'),
      /** Scratch restores and drill instances go under here. */
      scratchDir: configPath.default('/var/lib/postgresql/mytv-restore'),
      /** Backup lock (mkdir is atomic). */
      lockDir: configPath.default('/var/lib/postgresql/mytv-backup.lock'),
      /** First port tried for a scratch instance on the host. */
      scratchPort: port.default(55432),
    })
    .prefault({}),
  repository: z.discriminatedUnion('type', [
    /** A directory (dev: under the run directory when path is relative). */
    z.strictObject({
      type: z.literal('posix'),
      path: z.string().min(1).default('pgbackrest/repo'),
      cipher: z.enum(['none', 'aes-256-cbc']).default('none'),
    }),
    /** An S3-compatible bucket (Cloudflare R2: region auto, endpoint <account>.r2.cloudflarestorage.com). */
    z.strictObject({
      type: z.literal('s3'),
      bucket: z.string().min(3),
      endpoint: z.string().min(1),
      region: z.string().min(1).default('auto'),
      path: configPath,
      uriStyle: z.enum(['host', 'path']).default('path'),
      verifyTls: z.boolean().default(true),
      cipher: z.enum(['none', 'aes-256-cbc']).default('aes-256-cbc'),
    }),
  ]),
  compress: z.enum(['zst', 'gz', 'lz4', 'none']).default('zst'),
  /** repo1-retention-full / -diff (count of backups kept). */
  retention: z
    .strictObject({ full: z.number().int().min(1).default(2), diff: z.number().int().min(1).default(7) })
    .prefault({}),
  /** Cron schedules (CronJob / compose scheduler, generated by make generate: scripts/lib/generated/backup-jobs.ts). */
  schedule: z
    .strictObject({
      full: z.string().default('0 2 * * 0'),
      diff: z.string().default('0 2 * * 1-6'),
      incr: z.string().default('0 */6 * * *'),
      dump: z.string().default('30 3 * * 0'),
      drill: z.string().default('0 4 1 * *'),
      /** backup-status --publish: refreshes the WAL archive age and backup age metrics the alerts read. */
      status: z.string().default('* * * * *'),
    })
    .prefault({}),
  /** backup-status fails beyond these (a probe). */
  policy: z
    .strictObject({
      maxBackupAgeHours: z.number().positive().default(26),
      maxWalArchiveAgeSeconds: z.number().int().positive().default(300),
    })
    .prefault({}),
  /** Tables whose row counts and checksums are recorded with each backup and checked after a restore. */
  verifyTables: z.array(z.string().regex(/^[a-z_][a-z0-9_]*$/)).default(['channels', 'programmes']),
  metrics: z
    .strictObject({
      /** Prometheus Pushgateway base URL (PUSHGATEWAY_URL overrides); none = textfile only. */
      pushgatewayUrl: z.url({ protocol: /^https?$/ }).optional(),
      /** node_exporter textfile collector file; relative = under the run directory. */
      textfile: z.string().min(1).default('metrics/pgbackrest.prom'),
    })
    .prefault({}),
});

/** "720h" -> 720. Shape: whole hours as Loki writes retention periods. */
export function hoursOf(duration: string): number {
  return Number(/^(\d+)h$/.exec(duration)?.[1] ?? NaN);
}

/** A Loki retention period: whole hours, a positive multiple of 24h (the tsdb index period). */
const lokiRetention = z
  .string()
  .regex(/^[1-9]\d*h$/, 'a duration in whole hours, e.g. 168h (7 days) or 720h (30 days)')
  .refine((d) => hoursOf(d) % 24 === 0, 'a multiple of 24h (Loki deletes whole daily index tables)');

export const environmentSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a lowercase name'),
  description: z.string().min(1),
  /** Changes to a production environment ask for confirmation unless --yes. */
  production: z.boolean(),
  api: z.strictObject({
    publicUrl: z.url({ protocol: /^https?$/ }),
    port: port.default(3000),
    replicas: z.number().int().min(1).max(50),
  }),
  /**
   * Ports of the local stack (make up); only dev-like environments have them. API replica i
   * (1-based) listens on api + i - 1; the exporters and Grafana have their usual defaults.
   */
  local: z
    .strictObject({
      ports: z.strictObject({
        api: port,
        /** The API replicas' separate /metrics listeners (METRICS_PORT): replica i on apiMetrics + i - 1. */
        apiMetrics: port.default(9464),
        nginx: port,
        nginxStatus: port.default(8081),
        postgres: port,
        redis: port,
        prometheus: port,
        alertmanager: port,
        grafana: port.default(3300),
        s3: port.default(9000),
        postgresExporter: port.default(9187),
        redisExporter: port.default(9121),
        nginxExporter: port.default(9113),
        blackboxExporter: port.default(9115),
        pushgateway: port.default(9091),
      }),
    })
    .optional(),
  deploy: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('local') }),
      z.strictObject({
        kind: z.literal('kustomize'),
        kubeContext: z.string().min(1),
        namespace: k8sName,
        overlay: relPath,
      }),
      z.strictObject({
        kind: z.literal('helm'),
        kubeContext: z.string().min(1),
        namespace: k8sName,
        release: k8sName,
        chart: relPath,
        valuesFile: relPath,
      }),
    ])
    .default({ kind: 'local' }),
  nginx: z
    .strictObject({
      serverName: hostname,
      /** Site file nginx/sites/<site>.conf; default: the environment's name. */
      site: z
        .string()
        .regex(/^[a-z][a-z0-9-]*$/)
        .optional(),
      /** Refuse requests whose peer is not a Cloudflare range (nginx/cloudflare-ips.txt). */
      originLock: z.boolean(),
      /** Also require the origin-pull client certificate (Authenticated Origin Pulls, `ssl_verify_client on`); needs tls.originPullCa. */
      authenticatedOriginPulls: z.boolean().default(false),
      /** API replicas as host:port; default 127.0.0.1:<api.port>. */
      upstreams: z.array(upstreamAddress).min(1).optional(),
      listen: z
        .strictObject({
          /** Bind address of the public listeners; default all IPv4 and IPv6 addresses. */
          address: listenAddress.optional(),
          http: port.default(80),
          https: port.default(443),
          status: port.default(8081),
          statusAddress: listenAddress.default('127.0.0.1'),
        })
        .prefault({}),
      tls: z
        .strictObject({
          certificate: configPath,
          certificateKey: configPath,
          /**
           * CA of the zone-level or per-hostname origin-pull certificate uploaded to Cloudflare (terraform/:
           * `terraform output -raw origin_pull_ca_pem`). Not Cloudflare's shared origin-pull CA: every
           * Cloudflare account presents that one (nginx/README.md, "Authenticated Origin Pulls").
           */
          originPullCa: configPath.optional(),
        })
        .optional(),
      rateLimit: z
        .strictObject({
          perSecond: z.number().int().min(1).max(10_000).default(20),
          burst: z.number().int().min(0).max(10_000).default(40),
          adminWritesPerMinute: z.number().int().min(1).max(10_000).default(30),
          adminBurst: z.number().int().min(0).max(1000).default(10),
        })
        .prefault({}),
      /** Where the running Nginx keeps its files on the host (nginx.conf of this repository is its main config). */
      runtime: z
        .strictObject({
          /** `user` directive; only needed when the master runs as root and workers must not. */
          user: z
            .string()
            .regex(/^[a-z_][a-z0-9_-]*$/)
            .optional(),
          workerProcesses: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default('auto'),
          pidFile: configPath.default('/run/nginx.pid'),
          errorLog: configPath.default('/var/log/nginx/mytv-api.error.log'),
          accessLog: configPath.default('/var/log/nginx/mytv-api.access.log'),
          /** Exists on Debian/Ubuntu (the nginx package); Nginx creates the subdirectories. */
          tempDir: configPath.default('/var/lib/nginx'),
          /** The micro-cache's proxy_cache_path (nginx/snippets/micro-cache-zone.conf); Nginx creates the last directory. */
          cacheDir: configPath.default('/var/lib/nginx/mytv-api-cache'),
          /** Present = the site answers 503 (maintenance). */
          maintenanceFlag: configPath.default('/etc/nginx/mytv-api/maintenance'),
          maintenanceRetryAfterSeconds: z.number().int().min(1).max(86_400).default(300),
        })
        .prefault({}),
      /** Nginx micro-cache of the public reads for anonymous GET/HEAD (nginx/README.md, "Micro-caching"). */
      microCache: z
        .strictObject({
          enabled: z.boolean().default(true),
          /** How long a 200 answer is served from Nginx's cache (proxy_cache_valid), in seconds. */
          validSeconds: z.number().int().min(1).max(10).default(1),
        })
        .prefault({}),
      ssh: sshTarget.optional(),
      /** make deploy-nginx: releases under root, `current` -> releases/<id> is the live config. */
      deploy: z
        .strictObject({
          root: configPath.default('/etc/nginx/mytv-api'),
          /** {conf} = the release's nginx.conf, {root} = root; run by the remote shell. */
          testCommand: z.string().min(1).default('sudo nginx -t -q -c {conf}'),
          reloadCommand: z.string().min(1).default('sudo systemctl reload nginx'),
          /** Checked on the host through the internal listener; default http://<status address>:<status port>/health/ready. */
          healthUrl: z.url({ protocol: /^https?$/ }).optional(),
          healthTimeoutSeconds: z.number().int().min(1).max(300).default(20),
        })
        .prefault({}),
      releasesKept: z.number().int().min(2).max(50).default(5),
    })
    .refine((n) => !n.authenticatedOriginPulls || n.tls?.originPullCa !== undefined, {
      path: ['tls', 'originPullCa'],
      message:
        "authenticatedOriginPulls needs the CA of this zone's or host name's own origin-pull certificate (not Cloudflare's shared one; see nginx/README.md)",
    })
    .optional(),
  database: databaseSchema.optional(),
  /**
   * Cloudflare in front of nginx.serverName, and the R2 buckets (terraform/, make infra-plan/infra-apply).
   * terraform/env/<name>.tfvars is generated from this block and the rendered Nginx rate limits.
   */
  cloudflare: z
    .strictObject({
      /** The Cloudflare zone (apex domain) that holds nginx.serverName. */
      zone: hostname,
      /** Public address of the Nginx edge host: the proxied A/AAAA record points at it. */
      originAddress: z.union([z.ipv4(), z.ipv6()]),
      /**
       * Zone-wide settings and the zone's rulesets (TLS, WAF, rate limits, cache rules) exist once per zone:
       * exactly one environment per zone owns them, with the rules of every environment in that zone.
       */
      ownsZone: z.boolean(),
      /** R2 bucket holding the Terraform state (key <name>/terraform.tfstate). */
      stateBucket: z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'expected an R2 bucket name'),
      /** Only these client networks may reach /v2/admin/ (absent: any client; writes still need Authorization). */
      adminAllowedCidrs: z.array(z.union([z.cidrv4(), z.cidrv6()])).optional(),
      /** Cloudflare's per-IP limits = this factor × what Nginx lets through in the same window (looser, never tighter). */
      rateLimitHeadroom: z.number().min(1).max(100).default(2),
      r2: z.strictObject({
        /** Location hint for new buckets (wnam, enam, weur, eeur, apac, oc). */
        location: z.enum(['wnam', 'enam', 'weur', 'eeur', 'apac', 'oc']),
        logosBucket: z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'expected an R2 bucket name'),
        backupsBucket: z.string().regex(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, 'expected an R2 bucket name'),
        /** Objects in the backup bucket older than this are deleted by its lifecycle rule (backup retention). */
        backupRetentionDays: z.number().int().min(7).max(3650),
      }),
    })
    .optional(),
  /** Where make logs reads this environment's logs; without `loki`, the local stack's files. */
  logs: z
    .strictObject({
      loki: z
        .strictObject({
          /** Loki's base URL (query API under /loki/api/v1); credentials LOKI_USERNAME/LOKI_PASSWORD or LOKI_TOKEN from .env.<env>. */
          url: z.url({ protocol: /^https?$/ }),
          /** X-Scope-OrgID (multi-tenant Loki). */
          tenant: z.string().min(1).optional(),
        })
        .optional(),
      /**
       * Loki compactor retention of this environment's logs, rendered into loki/env/<env>.env by
       * `make generate` (scripts/lib/generated/loki-env.ts) and read by loki/loki.yaml
       * (-config.expand-env=true). Durations in whole hours, a multiple of 24h: Loki's retention
       * works per index table and the tsdb index period is 24h (Loki docs, "Log retention").
       */
      retention: z
        .strictObject({
          /** Every stream, e.g. "720h" (30 days). */
          default: lokiRetention,
          /** Streams with log_type="audit" (retention_stream); must be at least `default`. */
          audit: lokiRetention,
        })
        .refine((r) => hoursOf(r.audit) >= hoursOf(r.default), {
          message: 'logs.retention.audit must be at least logs.retention.default (audit streams are kept longer)',
        })
        .optional(),
      /**
       * Where Loki's ruler remote-writes the recordings of loki/rules: the environment's Prometheus
       * /api/v1/write as Loki reaches it (compose service, in-cluster service). Rendered into
       * loki/env/<env>.env as LOKI_RULER_REMOTE_WRITE_URL by `make generate`.
       */
      rulerRemoteWriteUrl: z.url({ protocol: /^https?$/ }).optional(),
    })
    .optional(),
  slo: z.strictObject({
    availabilityPercent: z.number().gt(90).lt(100),
    latencyP95Ms: z.number().positive(),
    errorRatePercent: z.number().positive().lt(100),
    rtoMinutes: z.number().positive(),
    rpoMinutes: z.number().positive(),
  }),
  /**
   * Monitoring of the environment (prometheus/, alertmanager/, grafana/). The local stack needs
   * none of it (its Prometheus and Alertmanager are on local.ports). A cluster environment names
   * where operators reach its Prometheus/Alertmanager HTTP APIs (make slo-report, make alerts —
   * typically through `kubectl port-forward`), and the scrape targets that live outside the
   * cluster (database host exporters, the edge host), as host:port.
   */
  monitoring: z
    .strictObject({
      prometheusUrl: z.url({ protocol: /^https?$/ }).optional(),
      alertmanagerUrl: z.url({ protocol: /^https?$/ }).optional(),
      /** URLs the blackbox exporter probes from outside (default: <api.publicUrl>/health/ready). */
      probes: z.array(z.url({ protocol: /^https?$/ })).optional(),
      /** Static scrape targets by job: postgres, redis, nginx, pushgateway, alertmanager, blackbox (the exporter). */
      targets: z
        .strictObject({
          postgres: z.array(upstreamAddress).default([]),
          redis: z.array(upstreamAddress).default([]),
          nginx: z.array(upstreamAddress).default([]),
          pushgateway: z.array(upstreamAddress).default([]),
          alertmanager: z.array(upstreamAddress).default([]),
          blackbox: z.array(upstreamAddress).default([]),
        })
        .prefault({}),
    })
    .optional(),
});

export type EnvironmentConfig = z.infer<typeof environmentSchema>;

export interface Environment extends EnvironmentConfig {
  /** File the environment was read from. */
  file: string;
  /** Merged variables: .env, then .env.<name>, then the process environment. */
  vars: Record<string, string | undefined>;
  /** A variable the caller cannot go on without; missing is an operator error naming the file to set it in. */
  requireVar(name: string, purpose?: string): string;
}

export function listEnvironments(dir = environmentsDir()): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

function readDotenv(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  return parseDotenv(readFileSync(file));
}

/** Variables an environment sees; later sources win. */
export function mergedVariables(
  name: string,
  { dotenvDir = process.env.MYTV_DOTENV_DIR ?? repoRoot, env = process.env } = {},
): Record<string, string | undefined> {
  return {
    ...readDotenv(path.join(dotenvDir, '.env')),
    ...readDotenv(path.join(dotenvDir, `.env.${name}`)),
    ...env,
  };
}

const SECRET_NAME = /(SECRET|PASSWORD|TOKEN|PRIVATE|_KEY$|^DATABASE_URL$|^REDIS_URL$)/;

interface Problem {
  path: string;
  message: string;
}

/** Replaces ${VAR} and ${VAR:-default} in every string, collecting unset variables as problems. */
function interpolate(
  value: unknown,
  vars: Record<string, string | undefined>,
  at: string[],
  problems: Problem[],
  envName: string,
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const found = vars[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push({
        path: at.join('.'),
        message: `variable ${name} is not set (set it in .env.${envName} or the environment; see .env.example)`,
      });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, vars, [...at, String(i)], problems, envName));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolate(v, vars, [...at, k], problems, envName)]),
    );
  }
  return value;
}

export interface LoadOptions {
  dir?: string;
  dotenvDir?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadEnvironment(name: string, o: LoadOptions = {}): Environment {
  const dir = o.dir ?? environmentsDir();
  const known = listEnvironments(dir);
  if (!known.includes(name)) {
    throw new UsageError(
      `unknown environment '${name}': known environments are ${known.join(', ') || '(none)'}`,
      `pass ENV=${known.join('|') || 'NAME'} (each is a file in ${path.relative(repoRoot, dir) || dir}/)`,
    );
  }
  const file = path.join(dir, `${name}.yaml`);
  const shown = path.relative(repoRoot, file).startsWith('..') ? file : path.relative(repoRoot, file);

  const doc = parseDocument(readFileSync(file, 'utf8'), { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const pos = first.linePos?.[0];
    throw new UserError(
      `${shown}${pos ? `:${pos.line}:${pos.col}` : ''} is not valid YAML: ${first.message.split('\n')[0]}`,
      {
        hint: `fix the syntax of ${shown} (yamllint ${shown} shows every problem)`,
        exitCode: 2,
      },
    );
  }

  const vars = mergedVariables(name, { dotenvDir: o.dotenvDir, env: o.env });
  const problems: Problem[] = [];
  const raw = interpolate(doc.toJS(), vars, [], problems, name);
  const result = environmentSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          problems.push({
            path: [...issue.path, key].join('.'),
            message: 'unknown field (a typo? the schema has no such field)',
          });
        }
      } else {
        problems.push({ path: issue.path.join('.') || '(top level)', message: issue.message });
      }
    }
  } else if (result.data.name !== name) {
    problems.push({ path: 'name', message: `is '${result.data.name}' but the file is ${name}.yaml; they must match` });
  }
  if (problems.length > 0) {
    const lines = problems.map((p) => `  - ${p.path}: ${p.message}`);
    throw new UserError(
      `${shown} is invalid (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n${lines.join('\n')}`,
      {
        hint: `fix these fields in ${shown}; the schema is in scripts/lib/environments.ts`,
        exitCode: 2,
      },
    );
  }

  for (const [key, value] of Object.entries(vars)) if (SECRET_NAME.test(key)) registerSecret(value);
  const config = result.data!;
  return {
    ...config,
    file,
    vars,
    requireVar(varName: string, purpose?: string): string {
      const value = vars[varName];
      if (value === undefined || value === '') {
        throw new UserError(
          `missing required variable ${varName}${purpose ? ` (${purpose})` : ''} for environment ${name}`,
          {
            hint: `set ${varName} in .env.${name} (see .env.example) or export it`,
          },
        );
      }
      return value;
    },
  };
}

export type DatabaseConfig = z.infer<typeof databaseSchema>;
