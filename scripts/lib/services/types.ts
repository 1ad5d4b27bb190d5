// What a service definition provides to the runner. Adding a service (nginx, prometheus, sshd,
// pgbackrest, s3 …) = one file exporting a ServiceSpec and one line in registry.ts.
import type { Identity } from './process.js';

export interface ServiceContext {
  /** Instance name, unique in a stack ('postgres', 'api-1'). */
  name: string;
  /** The instance's own state directory (created by the runner). */
  dir: string;
  logFile: string;
  host: string;
  /** Main port. */
  port: number;
  /** Extra named ports the spec asked for (extraPorts). */
  ports: Record<string, number>;
  /** Set when the runner is root and the spec needs an unprivileged user. */
  runAs?: Identity;
  /** Per-instance options passed to Stack.start(). */
  options: Record<string, unknown>;
  /** Connection settings of the services started before this one in the same stack. */
  peers: Record<string, Record<string, unknown>>;
}

export interface ServiceSpec<Info extends Record<string, unknown> = Record<string, unknown>> {
  kind: string;
  /** Binaries checked before anything starts (requireTool). */
  tools: string[];
  extraPorts?: string[];
  /** Needs a non-root user when run as root (PostgreSQL refuses root). */
  unprivileged?: boolean;
  /** One-time initialisation of dir (initdb); run before every start, must be idempotent. */
  prepare?(ctx: ServiceContext): Promise<void>;
  command(ctx: ServiceContext): { bin: string; args: string[]; env?: Record<string, string>; cwd?: string };
  /** One readiness probe; the runner retries until readyTimeoutMs. */
  ready(ctx: ServiceContext): Promise<boolean>;
  readyTimeoutMs?: number;
  /** After the first readiness: create the database, load config … */
  afterReady?(ctx: ServiceContext): Promise<void>;
  info(ctx: ServiceContext): Info;
  /**
   * Applies ctx.options (already changed by Stack.reconfigure) to the running process `pid` without
   * a restart, resolving once the change is in effect (Nginx: re-render, nginx -t, SIGHUP, old
   * workers gone). Rejects, with the previous configuration back in place, when it cannot.
   */
  reload?(ctx: ServiceContext, pid: number): Promise<void>;
  /** Signal for a graceful stop (PostgreSQL: SIGINT = fast shutdown). */
  stopSignal?: NodeJS.Signals;
  stopGraceMs?: number;
}
