// Shared helpers for the API tests: build the app once, start s3rver, spawn the built app,
// sign tokens. Every process started here is stopped by the suite's after() hook.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signJwt } from '../../app/src/auth/jwt.js';
import { freePort, type Stack } from '../../scripts/lib/services/index.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const APP_DIR = path.join(ROOT, 'app');
export const JWT_SECRET = 'test-current-secret-0123456789abcdef';
export const JWT_SECRET_PREVIOUS = 'test-previous-secret-0123456789abcdef';
export const R2 = { bucket: 'mytv-logos', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

let built = false;
/** Builds app/dist with tsc when it is missing or older than app/src (once per test run). */
export function ensureAppBuilt(): void {
  if (built) return;
  const main = path.join(APP_DIR, 'dist', 'main.js');
  let stale: boolean;
  try {
    stale = statSync(main).mtimeMs < newestMtime(path.join(APP_DIR, 'src'));
  } catch {
    stale = true;
  }
  if (stale) {
    const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
    const result = spawnSync(tsc, ['-p', 'tsconfig.build.json'], { cwd: APP_DIR, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`app build failed:\n${result.stdout}${result.stderr}`);
  }
  built = true;
}

export interface S3Server {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startS3(): Promise<S3Server> {
  const S3rver = createRequire(import.meta.url)('s3rver') as new (opts: Record<string, unknown>) => {
    run(): Promise<{ port: number }>;
    close(): Promise<void>;
  };
  const directory = mkdtempSync(path.join(os.tmpdir(), 'mytv-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: R2.bucket }],
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export function appEnv(stack: Stack, s3Endpoint: string, extra: Record<string, string> = {}) {
  const pg = stack.info<{ url: string }>('postgres');
  const redis = stack.info<{ url: string }>('redis');
  return {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    R2_ENDPOINT: s3Endpoint,
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
  proc: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Parsed JSON lines of stdout. */
  logs(): Record<string, unknown>[];
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Spawns `node app/dist/main.js` on a free port and waits until /health/live answers. */
export async function spawnApp(env: Record<string, string>): Promise<SpawnedApp> {
  ensureAppBuilt();
  const port = await freePort();
  const proc = spawn(process.execPath, ['--no-deprecation', path.join(APP_DIR, 'dist', 'main.js')], {
    env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) },
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
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) {
      throw new Error(`app exited with ${proc.exitCode}:\n${stderr.join('')}${stdout.join('\n')}`);
    }
    try {
      const res = await fetch(`${app.url}/health/live`);
      if (res.ok) return app;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await app.stop();
      throw new Error(`app did not become live:\n${stderr.join('')}`);
    }
    await sleep(100);
  }
}

/** Polls until fn returns true (or throws after timeoutMs). */
export async function eventually(fn: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}
