// The API image, built and run for real: what `make image-test` and test/image/image.test.ts share.
// setup() builds the image from the repository (layer cache and base image reused), starts real
// PostgreSQL and Redis with the service runner on loopback, migrates with the image's own
// migration entry, and starts the container (--network host, --read-only, tmpfs /tmp, env from a
// mode-600 file). Each check then looks at the running container or the image's files.
// teardown() removes every container, image tag and temporary file setup() made, also after a
// failure half-way.
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { productionPackagePaths } from './app-deps.js';
import { appVersion, buildApiImage, npmBuildSecrets } from './api-image.js';
import { ensureBaseImage } from './base-image.js';
import { engineRun, formatBytes, imageSize, type ContainerEngine } from './container-engine.js';
import type { Exec } from './exec.js';
import type { Output } from './output.js';
import { fromRoot } from './paths.js';
import { freePorts, startServices, type Stack } from './services/index.js';

/** Shutdown settings the container runs with; SIGTERM must end it with exit 0 within their sum. */
export const DRAIN = { preStopDelayMs: 1000, drainTimeoutMs: 5000 };

/** Tag that keeps the image test's last build (and so its layer cache) between runs. */
export const CACHE_TAG = 'localhost/mytv-api:image-test-cache';

export interface ImageCheck {
  name: string;
  /** Resolves with a one-line detail; throws when the check fails. */
  run(): Promise<string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class CheckFailed extends Error {}
function must(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

/** Every file and symlink under dir, as paths relative to dir (no directories). */
function walk(dir: string, rel = ''): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) files.push(...walk(dir, child));
    else files.push(child);
  }
  return files;
}

export class ImageTest {
  readonly image: string;
  readonly container: string;
  /** A revision no earlier build had: a label or ENV served from a stale cache shows. */
  readonly revision: string;
  /** A value only the build's npmrc secret holds: found anywhere in the image = a leaked secret. */
  private readonly canary = `canary-${randomBytes(12).toString('hex')}`;
  private readonly jwtSecret = randomBytes(24).toString('base64url');
  private readonly work = mkdtempSync(path.join(os.tmpdir(), 'mytv-image-test-'));
  private readonly made = { image: false, containers: [] as string[] };
  private stack?: Stack;
  private fsRoot?: string;
  private mounted = false;
  private staleCache?: string;
  port = 0;
  /** Milliseconds from `run` to the first 200 of /health/ready. */
  startToReadyMs = 0;
  buildMs = 0;
  baseImage?: string;
  baseCreated = false;

  constructor(
    private readonly exec: Exec,
    private readonly out: Output,
    private readonly engine: ContainerEngine,
    private readonly o: { baseImage?: string } = {},
  ) {
    const id = `${process.pid}-${randomBytes(3).toString('hex')}`;
    this.image = `localhost/mytv-api:image-test-${id}`;
    this.container = `mytv-image-test-${id}`;
    this.revision = `image-test-${id}`;
  }

  private run(args: string[], o: { nothrow?: boolean; timeoutMs?: number } = {}) {
    return engineRun(this.exec, this.engine, args, { timeoutMs: o.timeoutMs ?? 120_000, nothrow: o.nothrow });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async setup(): Promise<void> {
    const { exec, out, engine } = this;
    if (this.o.baseImage) this.baseImage = this.o.baseImage;
    else if (engine.name === 'podman') {
      const base = await ensureBaseImage(exec, out, engine);
      this.baseImage = base.image;
      this.baseCreated = base.created;
    }
    const secrets = await npmBuildSecrets(exec, [`//registry.invalid/:_authToken=${this.canary}`]);
    const started = Date.now();
    try {
      this.made.image = true;
      await out.task(`${engine.name} build ${this.image}`, () =>
        buildApiImage(exec, engine, {
          tags: [this.image],
          version: appVersion(),
          revision: this.revision,
          baseImage: this.baseImage,
          secrets,
        }),
      );
    } finally {
      secrets.cleanup();
    }
    this.buildMs = Date.now() - started;
    // The layer cache for the next run: the cache tag moves to this build; the build it pointed to
    // before (if different) is removed in teardown() with the layers only it used.
    const previous = await this.run(['image', 'inspect', '--format', '{{.Id}}', CACHE_TAG], { nothrow: true });
    const current = await this.run(['image', 'inspect', '--format', '{{.Id}}', this.image]);
    if (previous.exitCode === 0 && previous.stdout.trim() !== current.stdout.trim()) {
      this.staleCache = previous.stdout.trim();
    }
    await this.run(['tag', this.image, CACHE_TAG]);

    this.stack = await out.task('start PostgreSQL and Redis (service runner, loopback)', () =>
      startServices(['postgres', 'redis']),
    );
    const pg = this.stack.info<{ url: string }>('postgres');
    const redis = this.stack.info<{ url: string }>('redis');
    // Both listeners on free ports: the container shares the host's network, where 9464 (the
    // default metrics port) may belong to a running `make up`.
    const [port, metricsPort] = await freePorts(2);
    this.port = port;
    const envFile = path.join(this.work, 'api.env');
    writeFileSync(
      envFile,
      Object.entries({
        HOST: '127.0.0.1',
        PORT: String(this.port),
        METRICS_PORT: String(metricsPort),
        LOG_LEVEL: 'info',
        DATABASE_URL: pg.url,
        REDIS_URL: redis.url,
        R2_ENDPOINT: 'http://127.0.0.1:9',
        R2_BUCKET: 'mytv-logos',
        R2_ACCESS_KEY_ID: 'image-test',
        R2_SECRET_ACCESS_KEY: 'test-image-not-a-secret',
        R2_REGION: 'us-east-1',
        R2_FORCE_PATH_STYLE: 'true',
        JWT_SECRET: this.jwtSecret,
        TRUSTED_PROXIES: '127.0.0.1/32',
        SHUTDOWN_PRESTOP_DELAY_MS: String(DRAIN.preStopDelayMs),
        SHUTDOWN_DRAIN_TIMEOUT_MS: String(DRAIN.drainTimeoutMs),
      })
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    const common = [...this.engine.networkArgs, '--env-file', envFile, '--read-only', '--tmpfs', '/tmp'];
    const migrate = `${this.container}-migrate`;
    this.made.containers.push(migrate);
    await out.task('migrate with the image (node dist/migrate.js)', () =>
      this.run(['run', '--name', migrate, ...common, this.image, 'node', 'dist/migrate.js']),
    );
    await this.run(['rm', '-f', migrate], { nothrow: true });

    this.made.containers.push(this.container);
    const t0 = Date.now();
    await this.run(['run', '-d', '--name', this.container, ...common, this.image]);
    await out.task('wait for /health/ready', async () => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          if ((await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(2000) })).status === 200) break;
        } catch {
          /* not listening yet */
        }
        const state = await this.run(['inspect', '--format', '{{.State.Status}}', this.container], { nothrow: true });
        if (state.stdout.trim() === 'exited' || Date.now() > deadline) {
          const logs = await this.run(['logs', '--tail', '20', this.container], { nothrow: true });
          throw new CheckFailed(
            `the container did not become ready (${state.stdout.trim()}):\n${logs.stdout}${logs.stderr}`,
          );
        }
        await sleep(200);
      }
    });
    this.startToReadyMs = Date.now() - t0;
  }

  /** The image's files, exported once from a created (never started) container. */
  private async imageRoot(): Promise<string> {
    if (this.fsRoot) return this.fsRoot;
    if (this.engine.name === 'podman') {
      // Root podman mounts the image's layers read-only in place: no copy.
      const r = await this.run(['image', 'mount', this.image]);
      this.mounted = true;
      this.fsRoot = r.stdout.trim();
      return this.fsRoot;
    }
    const name = `${this.container}-export`;
    const tar = path.join(this.work, 'image.tar');
    const root = path.join(this.work, 'rootfs');
    this.made.containers.push(name);
    await this.run(['create', '--name', name, this.image]);
    await this.run(['export', '-o', tar, name], { timeoutMs: 300_000 });
    await this.run(['rm', '-f', name], { nothrow: true });
    await this.exec.run('mkdir', ['-p', root]);
    await this.exec.run('tar', ['-xf', tar, '-C', root, '--no-same-owner'], { timeoutMs: 300_000 });
    rmSync(tar, { force: true });
    this.fsRoot = root;
    return root;
  }

  checks(): ImageCheck[] {
    return [
      {
        name: '/health/live and /health/ready answer 200',
        run: async () => {
          const live = await fetch(`${this.url}/health/live`);
          const ready = await fetch(`${this.url}/health/ready`);
          must(live.status === 200, `/health/live answered ${live.status}`);
          must(ready.status === 200, `/health/ready answered ${ready.status}: ${await ready.text()}`);
          return `ready ${this.startToReadyMs} ms after run`;
        },
      },
      {
        name: 'PID 1 is tini and every process runs as a non-root uid',
        run: async () => {
          const script =
            "const fs=require('fs');const r=[];for(const p of fs.readdirSync('/proc').filter(d=>/^\\d+$/.test(d))){" +
            "try{const s=fs.readFileSync('/proc/'+p+'/status','utf8');r.push({pid:+p,name:/^Name:\\s+(.*)$/m.exec(s)[1]," +
            'uid:+/^Uid:\\s+(\\d+)/m.exec(s)[1],ppid:+/^PPid:\\s+(\\d+)/m.exec(s)[1]})}catch{}}process.stdout.write(JSON.stringify(r))';
          const r = await this.run(['exec', this.container, 'node', '-e', script]);
          const procs = JSON.parse(r.stdout) as { pid: number; name: string; uid: number; ppid: number }[];
          const pid1 = procs.find((p) => p.pid === 1);
          must(pid1 !== undefined && pid1.name === 'tini', `PID 1 is ${pid1?.name ?? 'missing'}, expected tini`);
          const root = procs.filter((p) => p.uid === 0);
          must(root.length === 0, `processes running as root: ${root.map((p) => p.name).join(', ')}`);
          const server = procs.find((p) => p.ppid === 1 && p.name.startsWith('node'));
          must(server !== undefined, 'no node process is a child of tini');
          return `tini (uid ${pid1.uid}) -> node pid ${server.pid} uid ${server.uid}`;
        },
      },
      {
        name: 'root filesystem read-only, /tmp writable',
        run: async () => {
          const ro = await this.run(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', this.container]);
          must(ro.stdout.trim() === 'true', `ReadonlyRootfs is ${ro.stdout.trim()}`);
          const write = (file: string) =>
            this.run(['exec', this.container, 'node', '-e', `require('fs').writeFileSync('${file}','x')`], {
              nothrow: true,
            });
          const app = await write('/app/probe');
          must(app.exitCode !== 0 && /EROFS|EACCES/.test(app.stderr), `writing /app/probe did not fail: ${app.stderr}`);
          const tmp = await write('/tmp/probe');
          must(tmp.exitCode === 0, `writing /tmp/probe failed: ${tmp.stderr.trim()}`);
          return '/app: read-only; /tmp: tmpfs';
        },
      },
      {
        name: 'no dev dependency, test file, .env, npmrc or secret value in the image',
        run: async () => {
          const root = await this.imageRoot();
          const files = walk(root);
          const appFiles = files.filter((f) => f.startsWith('app/'));
          const outsideModules = (f: string) => !f.includes('node_modules/');
          const problems: string[] = [];
          const envFiles = files.filter((f) => /(^|\/)\.env(\.[^/]+)?$/.test(f) && !/\.env\.(example|sample)$/.test(f));
          if (envFiles.length) problems.push(`.env files: ${envFiles.join(', ')}`);
          const npmrc = files.filter((f) => /(^|\/)\.npmrc$/.test(f) && outsideModules(f));
          if (npmrc.length) problems.push(`npmrc files: ${npmrc.join(', ')}`);
          const tests = appFiles.filter(
            (f) =>
              outsideModules(f) && (/(^|\/)(test|tests|__tests__)\//.test(f) || /\.(test|spec)\.[cm]?[jt]s$/.test(f)),
          );
          if (tests.length) problems.push(`test files: ${tests.join(', ')}`);
          const sources = appFiles.filter((f) => outsideModules(f) && (/\.ts$/.test(f) || f.startsWith('app/src/')));
          if (sources.length) problems.push(`sources: ${sources.slice(0, 5).join(', ')}`);
          // Packages in the image against the app's production closure in the lockfile.
          const allowed = productionPackagePaths();
          const installed = appFiles
            .map((f) =>
              /^app\/(node_modules\/(?:@[^/]+\/)?[^/]+(?:\/node_modules\/(?:@[^/]+\/)?[^/]+)*)\/package\.json$/.exec(f),
            )
            .filter((m): m is RegExpExecArray => m !== null)
            .map((m) => m[1]);
          const outside = installed.filter((p) => !allowed.has(p));
          if (outside.length)
            problems.push(`packages outside the app's production dependencies: ${outside.slice(0, 10).join(', ')}`);
          for (const dev of ['typescript', '@types/node', 'mocha', '@swc/core']) {
            if (existsSync(path.join(root, 'app', 'node_modules', dev)))
              problems.push(`dev dependency ${dev} installed`);
          }
          // Secret values: the build secret's canary, and every value of this checkout's .env files.
          const secrets = [this.canary, ...dotenvValues()];
          const leaks: string[] = [];
          // Build secrets could only land where the Dockerfile writes: the app, home directories,
          // npm's and apt's state, /etc, /tmp. The base system's /usr is not searched.
          const written = files.filter((f) => /^(app|root|home|tmp|etc|var|run|usr\/local\/etc)\//.test(f));
          for (const f of written) {
            const full = path.join(root, f);
            const st = lstatSync(full);
            if (!st.isFile() || st.size > 20_000_000) continue;
            const body = readFileSync(full);
            for (const s of secrets) if (body.includes(s)) leaks.push(f);
          }
          if (leaks.length) problems.push(`secret values found in: ${leaks.join(', ')}`);
          const meta = await this.run(['image', 'inspect', this.image]);
          const history = await this.run(['history', '--no-trunc', '--format', '{{.CreatedBy}}', this.image]);
          for (const s of secrets) {
            if (meta.stdout.includes(s) || history.stdout.includes(s))
              problems.push('a secret value is in the image metadata or history');
          }
          must(problems.length === 0, problems.join('; '));
          return `${files.length} files, ${installed.length} packages (all production dependencies of app/package.json)`;
        },
      },
      {
        name: `SIGTERM drains and exits 0 within the drain time (${DRAIN.preStopDelayMs}+${DRAIN.drainTimeoutMs} ms)`,
        run: async () => {
          const graceSeconds = Math.ceil((DRAIN.preStopDelayMs + DRAIN.drainTimeoutMs) / 1000) + 2;
          // stop = SIGTERM, then SIGKILL after the grace period (exit 137): like Kubernetes' terminationGracePeriodSeconds.
          await this.run(['stop', '--time', String(graceSeconds), this.container], { timeoutMs: 120_000 });
          const code = await this.run(['inspect', '--format', '{{.State.ExitCode}}', this.container]);
          const logs = await this.run(['logs', this.container]);
          must(
            code.stdout.trim() === '0',
            `exit code ${code.stdout.trim()}; last logs:\n${logs.stdout.split('\n').slice(-5).join('\n')}`,
          );
          for (const message of ['shutdown started', 'draining', 'shutdown complete']) {
            must(logs.stdout.includes(message), `the logs lack "${message}"`);
          }
          return `exit 0 after "shutdown complete" (grace ${graceSeconds}s)`;
        },
      },
      {
        name: 'OCI labels and APP_VERSION/APP_COMMIT name this build',
        run: async () => {
          const r = await this.run(['image', 'inspect', '--format', '{{json .Config}}', this.image]);
          const config = JSON.parse(r.stdout) as { Labels?: Record<string, string>; Env?: string[] };
          const labels = config.Labels ?? {};
          const version = appVersion();
          must(
            labels['org.opencontainers.image.revision'] === this.revision,
            `revision label is ${labels['org.opencontainers.image.revision']}, expected ${this.revision}`,
          );
          must(
            labels['org.opencontainers.image.version'] === version,
            `version label is ${labels['org.opencontainers.image.version']}`,
          );
          must(Boolean(labels['org.opencontainers.image.source']), 'no source label');
          must(
            (config.Env ?? []).includes(`APP_COMMIT=${this.revision}`),
            `APP_COMMIT is not ${this.revision}: ${(config.Env ?? []).join(' ')}`,
          );
          must((config.Env ?? []).includes(`APP_VERSION=${version}`), 'APP_VERSION is not the app version');
          return `version ${version}, revision ${this.revision}`;
        },
      },
      {
        name: 'image size',
        run: async () => formatBytes(await imageSize(this.exec, this.engine, this.image)),
      },
    ];
  }

  /** Removes what setup() made; safe to call after a partial setup, never throws. */
  async teardown(): Promise<string[]> {
    const problems: string[] = [];
    for (const c of this.made.containers.reverse()) {
      const r = await this.run(['rm', '-f', '--time', '2', c], { nothrow: true });
      if (r.exitCode !== 0 && !/no such container|no container with name/i.test(r.stderr))
        problems.push(`rm ${c}: ${r.stderr.trim()}`);
    }
    if (this.mounted) {
      const r = await this.run(['image', 'unmount', this.image], { nothrow: true });
      if (r.exitCode !== 0) problems.push(`image unmount ${this.image}: ${r.stderr.trim()}`);
    }
    if (this.made.image) {
      // Only a tag while CACHE_TAG names the same image: the layers stay for the next run.
      const r = await this.run(['rmi', this.image], { nothrow: true });
      if (r.exitCode !== 0 && !/image not known|no such image/i.test(r.stderr))
        problems.push(`rmi ${this.image}: ${r.stderr.trim()}`);
    }
    if (this.staleCache) {
      // An older cached build: removed with its layers unless another image still uses them.
      await this.run(['rmi', this.staleCache], { nothrow: true });
    }
    try {
      await this.stack?.stopAll();
    } catch (err) {
      problems.push(`stop services: ${(err as Error).message}`);
    }
    rmSync(this.work, { recursive: true, force: true });
    return problems;
  }
}

/** Values (8+ characters) of this checkout's .env files: none of them may be inside the image. */
function dotenvValues(): string[] {
  const values: string[] = [];
  for (const dir of [fromRoot(), fromRoot('app'), fromRoot('compose')]) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => /^\.env(\..+)?$/.test(n) && !/\.example$/.test(n));
    } catch {
      continue;
    }
    for (const n of names) {
      for (const line of readFileSync(path.join(dir, n), 'utf8').split('\n')) {
        const m = /^\s*[A-Z0-9_]+\s*=\s*['"]?(.*?)['"]?\s*$/.exec(line);
        if (m && m[1].length >= 8) values.push(m[1]);
      }
    }
  }
  return values;
}
