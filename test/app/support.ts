// Shared helpers for the API tests: build the app once, the app's environment against a stack,
// spawn the built app, sign tokens. Every process started here is stopped by the suite's after() hook.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signJwt } from '../../app/src/auth/jwt.js';
import { buildAppIfStaleSync } from '../../scripts/lib/app-build.js';
import { freePort, type S3Info, type Stack } from '../../scripts/lib/services/index.js';
import { sleep, waitFor, waitForUrl } from '../../scripts/lib/wait.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const APP_DIR = path.join(ROOT, 'app');
export const JWT_SECRET = 'test-current-secret-0123456789abcdef';
export const JWT_SECRET_PREVIOUS = 'test-previous-secret-0123456789abcdef';
export const R2 = { bucket: 'mytv-logos', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Builds app/dist with tsc when it is missing or older than app/src (once per test run). */
export function ensureAppBuilt(): void {
  buildAppIfStaleSync();
}

/** The app's environment against a stack with postgres, redis and s3 (the R2 stand-in). */
export function appEnv(stack: Stack, extra: Record<string, string> = {}) {
  const pg = stack.info<{ url: string }>('postgres');
  const redis = stack.info<{ url: string }>('redis');
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    R2_ENDPOINT: stack.info<S3Info>('s3').url,
    R2_BUCKET: R2.bucket,
    R2_ACCESS_KEY_ID: R2.accessKeyId,
    R2_SECRET_ACCESS_KEY: R2.secretAccessKey,
    R2_REGION: 'us-east-1',
    R2_FORCE_PATH_STYLE: 'true',
    JWT_SECRET,
    JWT_SECRET_PREVIOUS,
    TRUSTED_PROXIES: '127.0.0.1/32,::1/128',
    SHUTDOWN_PRESTOP_DELAY_MS: '0',
    SHUTDOWN_DRAIN_TIMEOUT_MS: '5000',
    APP_VERSION: '2.0.0-test',
    APP_COMMIT: 'abc1234',
    ...extra,
  };
}

export function adminToken(claims: Record<string, unknown> = {}, secret: string = JWT_SECRET): string {
  return signJwt({ sub: 'ops@mytv.test', role: 'admin', exp: Math.floor(Date.now() / 1000) + 600, ...claims }, secret);
}

export interface SpawnedApp {
  url: string;
  port: number;
  /** The separate /metrics listener (METRICS_PORT). */
  metricsUrl: string;
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Parsed JSON lines of stdout. */
  logs(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Spawns `node app/dist/main.js` on a free port and waits until /health/live answers. */
export async function spawnApp(env: Record<string, string>): Promise<SpawnedApp> {
  ensureAppBuilt();
  const port = await freePort();
  const metricsPort = await freePort();
  const proc = spawn(process.execPath, ['--no-deprecation', path.join(APP_DIR, 'dist', 'main.js')], {
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port), METRICS_PORT: String(metricsPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let outBuf = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    outBuf += chunk.toString('utf8');
    const lines = outBuf.split('\n');
    outBuf = lines.pop()!;
    stdout.push(...lines.filter(Boolean));
  });
  proc.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const app: SpawnedApp = {
    url: `http://127.0.0.1:${port}`,
    port,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    proc,
    stdout,
    stderr,
    exited,
    logs: () =>
      stdout.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!done) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
  const live = await waitForUrl(`${app.url}/health/live`, {
    timeoutMs: 20_000,
    giveUpIf: () => proc.exitCode !== null,
  });
  if (proc.exitCode !== null) {
    throw new Error(`app exited with ${proc.exitCode}:\n${stderr.join('')}${stdout.join('\n')}`);
  }
  if (!live) {
    await app.stop();
    throw new Error(`app did not become live:\n${stderr.join('')}`);
  }
  await live.body?.cancel();
  return app;
}

/** Polls until fn returns true (or throws after timeoutMs). */
export async function eventually(fn: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  if (!(await waitFor(fn, { timeoutMs }))) throw new Error('condition not met in time');
}
