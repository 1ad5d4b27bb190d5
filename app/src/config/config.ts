import { z } from 'zod';
import { databaseUrlProblem } from '../db/database-url.js';
import { cidrMatcher, parseCidr } from '../net/cidr.js';

/**
 * 12-factor configuration: every setting comes from the environment, is validated once at start,
 * and a bad environment is reported as one list of problems (never the offending secret values).
 */

const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
const NODE_ENVS = ['development', 'test', 'production'] as const;

const emptyToUndefined = (value: unknown): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const integer = (min: number, max: number, fallback?: number) => {
  const schema = z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: `must be an integer between ${min} and ${max}` })
      .int({ error: `must be an integer between ${min} and ${max}` })
      .min(min, { error: `must be an integer between ${min} and ${max}` })
      .max(max, { error: `must be an integer between ${min} and ${max}` }),
  );
  return fallback === undefined ? schema : schema.default(fallback);
};

const required = (what: string) =>
  z.preprocess(
    emptyToUndefined,
    z.string({ error: (issue) => (issue.input === undefined ? 'is required' : `must be ${what}`) }),
  );

const urlWithScheme = (schemes: string[]) =>
  required(`a URL (${schemes.join(', ')})`).refine(
    (value) => {
      try {
        const url = new URL(value);
        return schemes.includes(url.protocol.replace(/:$/, '')) && url.hostname !== '';
      } catch {
        return false;
      }
    },
    { error: `must be a URL with scheme ${schemes.join(' or ')}` },
  );

const secret = (minLength: number) =>
  required(`a string of at least ${minLength} characters`).refine((v) => v.length >= minLength, {
    error: `must be at least ${minLength} characters long`,
  });

const booleanFlag = (fallback: boolean) =>
  z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1'),
  );

const cidrList = z.preprocess(
  (value) => (typeof value === 'string' ? value : ''),
  z.string().transform((value, ctx) => {
    const entries = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = entries.filter((e) => !parseCidr(e, { bareAddress: true }).ok);
    if (bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a comma-separated list of IP addresses or CIDR ranges (bad: ${bad.join(', ')})`,
      });
      return z.NEVER;
    }
    return entries;
  }),
);

const envSchema = z
  .object({
    NODE_ENV: z.preprocess(
      emptyToUndefined,
      z.enum(NODE_ENVS, { error: `must be one of ${NODE_ENVS.join(', ')}` }).default('production'),
    ),
    HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
    PORT: integer(0, 65535, 3000),
    /** /metrics is served only here, never on PORT: no Service or proxy path can expose it by mistake. */
    METRICS_PORT: integer(0, 65535, 9464),
    LOG_LEVEL: z.preprocess(
      emptyToUndefined,
      z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
    ),
    DATABASE_URL: required('a PostgreSQL connection string').superRefine((value, ctx) => {
      const problem = databaseUrlProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    DATABASE_POOL_MAX: integer(1, 200, 10),
    DATABASE_STATEMENT_TIMEOUT_MS: integer(100, 600_000, 5000),
    REDIS_URL: urlWithScheme(['redis', 'rediss']),
    REDIS_COMMAND_TIMEOUT_MS: integer(10, 60_000, 250),
    CACHE_TTL_SECONDS: integer(1, 86_400, 60),
    CACHE_LOCAL_TTL_MS: integer(0, 60_000, 1000),
    R2_ENDPOINT: urlWithScheme(['http', 'https']),
    R2_BUCKET: required('a bucket name').refine((v) => /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v), {
      error: 'must be a valid bucket name (3-63 characters: a-z, 0-9, dot, hyphen)',
    }),
    R2_ACCESS_KEY_ID: required('an access key id'),
    R2_SECRET_ACCESS_KEY: required('a secret access key'),
    R2_REGION: z.preprocess(emptyToUndefined, z.string().default('auto')),
    R2_FORCE_PATH_STYLE: booleanFlag(false),
    LOGO_URL_TTL_SECONDS: integer(60, 604_800, 3600),
    LOGO_MAX_BYTES: integer(1024, 10 * 1024 * 1024, 1024 * 1024),
    JWT_SECRET: secret(32),
    JWT_SECRET_PREVIOUS: z.preprocess(emptyToUndefined, secret(32).optional()),
    TRUSTED_PROXIES: cidrList,
    HEALTH_CHECK_TIMEOUT_MS: integer(50, 30_000, 1000),
    SHUTDOWN_PRESTOP_DELAY_MS: integer(0, 300_000, 5000),
    SHUTDOWN_DRAIN_TIMEOUT_MS: integer(0, 300_000, 20_000),
    APP_VERSION: z.preprocess(emptyToUndefined, z.string().default('dev')),
    APP_COMMIT: z.preprocess(emptyToUndefined, z.string().default('unknown')),
  })
  .superRefine((env, ctx) => {
    // A cached response carries presigned logo URLs: they must outlive the cache entry.
    if (env.LOGO_URL_TTL_SECONDS < env.CACHE_TTL_SECONDS * 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['LOGO_URL_TTL_SECONDS'],
        message: 'must be at least twice CACHE_TTL_SECONDS (cached responses carry presigned URLs)',
      });
    }
    if (env.METRICS_PORT !== 0 && env.METRICS_PORT === env.PORT) {
      ctx.addIssue({ code: 'custom', path: ['METRICS_PORT'], message: 'must differ from PORT' });
    }
    if (env.JWT_SECRET_PREVIOUS !== undefined && env.JWT_SECRET_PREVIOUS === env.JWT_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_SECRET_PREVIOUS'],
        message: 'must differ from JWT_SECRET',
      });
    }
  });

type Env = z.output<typeof envSchema>;

/** The names of the environment variables the configuration reads (the schema's keys). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export interface AppConfig {
  nodeEnv: Env['NODE_ENV'];
  host: string;
  port: number;
  metrics: { port: number };
  logLevel: Env['LOG_LEVEL'];
  database: { url: string; poolMax: number; statementTimeoutMs: number };
  redis: { url: string; commandTimeoutMs: number };
  cache: { ttlSeconds: number; localTtlMs: number };
  r2: {
    endpoint: string;
    bucket: string;
    accessKeyId: string;
    secretAccessKey: string;
    region: string;
    forcePathStyle: boolean;
    logoUrlTtlSeconds: number;
    logoMaxBytes: number;
  };
  jwt: { secret: string; previousSecret?: string };
  trustedProxies: string[];
  health: { timeoutMs: number };
  shutdown: { preStopDelayMs: number; drainTimeoutMs: number };
  app: { version: string; commit: string };
}

export type ConfigResult = { ok: true; config: AppConfig } | { ok: false; problems: string[] };

/** Pure: validates an environment object; never throws, never echoes values. */
export function validateConfig(env: Record<string, string | undefined>): ConfigResult {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.map(String).join('.') || 'environment';
      return `${name}: ${issue.message}`;
    });
    return { ok: false, problems: [...new Set(problems)].sort() };
  }
  const e = parsed.data;
  return {
    ok: true,
    config: {
      nodeEnv: e.NODE_ENV,
      host: e.HOST,
      port: e.PORT,
      metrics: { port: e.METRICS_PORT },
      logLevel: e.LOG_LEVEL,
      database: {
        url: e.DATABASE_URL,
        poolMax: e.DATABASE_POOL_MAX,
        statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
      },
      redis: { url: e.REDIS_URL, commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS },
      cache: { ttlSeconds: e.CACHE_TTL_SECONDS, localTtlMs: e.CACHE_LOCAL_TTL_MS },
      r2: {
        endpoint: e.R2_ENDPOINT,
        bucket: e.R2_BUCKET,
        accessKeyId: e.R2_ACCESS_KEY_ID,
        secretAccessKey: e.R2_SECRET_ACCESS_KEY,
        region: e.R2_REGION,
        forcePathStyle: e.R2_FORCE_PATH_STYLE,
        logoUrlTtlSeconds: e.LOGO_URL_TTL_SECONDS,
        logoMaxBytes: e.LOGO_MAX_BYTES,
      },
      jwt: { secret: e.JWT_SECRET, previousSecret: e.JWT_SECRET_PREVIOUS },
      trustedProxies: e.TRUSTED_PROXIES,
      health: { timeoutMs: e.HEALTH_CHECK_TIMEOUT_MS },
      shutdown: {
        preStopDelayMs: e.SHUTDOWN_PRESTOP_DELAY_MS,
        drainTimeoutMs: e.SHUTDOWN_DRAIN_TIMEOUT_MS,
      },
      app: { version: e.APP_VERSION, commit: e.APP_COMMIT },
    },
  };
}

export function formatConfigProblems(problems: string[]): string {
  const noun = problems.length === 1 ? 'problem' : 'problems';
  return `Invalid configuration (${problems.length} ${noun}):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`;
}

/** Matcher for TRUSTED_PROXIES: addresses and ranges; IPv4-mapped IPv6 peers match IPv4 ranges. */
export function trustedProxyMatcher(entries: string[]): (ip: string | undefined) => boolean {
  return cidrMatcher(entries, { bareAddress: true });
}

export const APP_CONFIG = Symbol('APP_CONFIG');
