// The local stack's plan (make up): which services each profile has, in start order, on which
// ports (environments/<env>.yaml `local.ports`), and the ports handed to compose.
import path from 'node:path';
import type { Environment } from '../environments.js';
import { UsageError, UserError } from '../errors.js';
import { serviceKinds } from '../services/index.js';

export const PROFILES = ['dev', 'staging', 'prod'] as const;
export type Profile = (typeof PROFILES)[number];
export const MODES = ['docker', 'native'] as const;
export type Mode = (typeof MODES)[number];

export function parseProfile(raw: string | boolean | undefined): Profile {
  const value = raw === undefined || raw === '' ? 'dev' : String(raw);
  if (!(PROFILES as readonly string[]).includes(value)) {
    throw new UsageError(
      `unknown profile '${value}': the profiles are ${PROFILES.join(', ')}`,
      `pass PROFILE=dev|staging|prod`,
    );
  }
  return value as Profile;
}

/** undefined = automatic (docker when an engine answers, else native). */
export function parseMode(raw: string | boolean | undefined): Mode | undefined {
  if (raw === undefined || raw === '' || raw === 'auto') return undefined;
  const value = String(raw);
  if (!(MODES as readonly string[]).includes(value)) {
    throw new UsageError(
      `unknown mode '${value}': the modes are ${MODES.join(', ')} (or auto)`,
      'pass MODE=docker|native',
    );
  }
  return value as Mode;
}

export type LocalPorts = NonNullable<Environment['local']>['ports'];

export function localPorts(env: Environment): LocalPorts {
  if (!env.local) {
    throw new UserError(`environment ${env.name} has no local stack (no local.ports in ${path.basename(env.file)})`, {
      hint: 'the local stack runs with ENV=dev (or an environment file with a local: section)',
    });
  }
  return env.local.ports;
}

/** One service of the native topology, in start order. */
export interface PlannedService {
  name: string;
  kind: string;
  port: number;
  /** Other ports it listens on (checked for conflicts too), by name. */
  extraPorts: Record<string, number>;
  options: Record<string, unknown>;
  /** What it is for, in the plan and status tables. */
  role: string;
}

export interface NativePlan {
  services: PlannedService[];
  /** Parts of the topology that cannot run here yet, with the reason (printed by make up). */
  missing: string[];
}

/**
 * The native topology: PostgreSQL, Redis, N API replicas of the built app, Nginx in front of them,
 * the exporters, Alertmanager and Prometheus (last: its targets are everything before it).
 * Profiles differ in how the API runs (dev: NODE_ENV=development; staging/prod: production).
 */
export function nativePlan(env: Environment, profile: Profile, o: { replicas?: number } = {}): NativePlan {
  const ports = localPorts(env);
  const replicas = o.replicas ?? env.api.replicas;
  const kinds = new Set(serviceKinds());
  const services: PlannedService[] = [];
  const missing: string[] = [];
  const add = (s: Omit<PlannedService, 'extraPorts'> & { extraPorts?: Record<string, number> }): void => {
    services.push({ extraPorts: {}, ...s });
  };

  // WAL archived with pgBackRest into <run dir>/pgbackrest/repo (environments/dev.yaml `database`): make backup just works.
  const archiving = env.database?.kind === 'local' ? { pgbackrest: { database: env.database } } : {};
  add({
    name: 'postgres',
    kind: 'postgres',
    port: ports.postgres,
    options: archiving,
    role: env.database?.kind === 'local' ? 'database (WAL archived with pgBackRest)' : 'database',
  });
  add({
    name: 'redis',
    kind: 'redis',
    port: ports.redis,
    options: { persist: profile !== 'dev' },
    role: 'cache',
  });
  add({ name: 's3', kind: 's3', port: ports.s3, options: {}, role: 'S3-compatible store standing in for R2' });
  const apis: string[] = [];
  for (let i = 1; i <= replicas; i++) {
    const name = `api-${i}`;
    apis.push(name);
    add({
      name,
      kind: 'api',
      port: ports.api + i - 1,
      extraPorts: { metrics: ports.apiMetrics + i - 1 },
      options: {
        ports: { metrics: ports.apiMetrics + i - 1 },
        nodeEnv: profile === 'dev' ? 'development' : 'production',
        s3: 's3',
        logLevel: profile === 'dev' ? 'debug' : 'info',
      },
      role: `API replica ${i}`,
    });
  }
  const hasNginx = kinds.has('nginx');
  if (hasNginx) {
    add({
      name: 'nginx',
      kind: 'nginx',
      port: ports.nginx,
      extraPorts: { status: ports.nginxStatus },
      options: {
        environment: env.name,
        upstreams: apis.map((_, i) => `127.0.0.1:${ports.api + i}`),
        ports: { status: ports.nginxStatus },
      },
      role: 'reverse proxy (the API as clients see it)',
    });
  } else {
    missing.push('nginx (no service of that kind in scripts/lib/services/registry.ts)');
  }
  add({
    name: 'postgres-exporter',
    kind: 'postgres-exporter',
    port: ports.postgresExporter,
    options: {},
    role: 'PostgreSQL metrics',
  });
  add({
    name: 'redis-exporter',
    kind: 'redis-exporter',
    port: ports.redisExporter,
    options: {},
    role: 'Redis metrics',
  });
  if (hasNginx) {
    add({
      name: 'nginx-exporter',
      kind: 'nginx-exporter',
      port: ports.nginxExporter,
      options: {},
      role: 'Nginx metrics',
    });
  }
  add({
    name: 'blackbox-exporter',
    kind: 'blackbox-exporter',
    port: ports.blackboxExporter,
    options: {},
    role: 'probes: through Nginx, each replica ready',
  });
  add({ name: 'pushgateway', kind: 'pushgateway', port: ports.pushgateway, options: {}, role: 'batch job metrics' });
  add({ name: 'alertmanager', kind: 'alertmanager', port: ports.alertmanager, options: {}, role: 'alert routing' });
  add({
    name: 'prometheus',
    kind: 'prometheus',
    port: ports.prometheus,
    options: {
      jobs: {
        api: apis,
        alertmanager: ['alertmanager'],
        'postgres-exporter': ['postgres-exporter'],
        'redis-exporter': ['redis-exporter'],
        'nginx-exporter': hasNginx ? ['nginx-exporter'] : [],
        pushgateway: ['pushgateway'],
      },
      probes: {
        'blackbox-edge': {
          exporter: 'blackbox-exporter',
          targets: hasNginx ? [{ url: `http://127.0.0.1:${ports.nginx}/health/ready`, service: 'nginx' }] : [],
        },
        'api-readiness': {
          exporter: 'blackbox-exporter',
          targets: apis.map((name, i) => ({ url: `http://127.0.0.1:${ports.api + i}/health/ready`, service: name })),
        },
      },
    },
    role: 'metrics and alert rules',
  });
  return { services, missing };
}
/** Ports handed to compose as variables (compose/compose.yaml publishes ${MYTV_PORT_*}). */
export function composePortEnv(ports: LocalPorts): Record<string, string> {
  return {
    MYTV_PORT_API: String(ports.api),
    MYTV_PORT_API_2: String(ports.api + 1),
    MYTV_PORT_NGINX: String(ports.nginx),
    MYTV_PORT_POSTGRES: String(ports.postgres),
    MYTV_PORT_REDIS: String(ports.redis),
    MYTV_PORT_PROMETHEUS: String(ports.prometheus),
    MYTV_PORT_ALERTMANAGER: String(ports.alertmanager),
    MYTV_PORT_GRAFANA: String(ports.grafana),
    MYTV_PORT_S3: String(ports.s3),
  };
}
