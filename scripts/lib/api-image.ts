// Building the API image (app/Dockerfile, context = the repository root) with the engine found by
// container-engine.ts: tags, OCI labels through build args, the base image (NODE_IMAGE), and npm's
// registry settings as build secrets. The one place that knows how; used by make build,
// make image-test and the image test.
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { engineRun, type ContainerEngine } from './container-engine.js';
import { UserError } from './errors.js';
import { CommandError, type Exec } from './exec.js';
import { fromRoot, repoRoot } from './paths.js';
import { maskSecrets, registerSecret } from './secrets.js';

export const API_IMAGE_REPO = 'mytv-api';
export const dockerfile = fromRoot('app', 'Dockerfile');
const ignoreFile = fromRoot('app', '.dockerignore');

/** The app's version (app/package.json). */
export function appVersion(): string {
  return (JSON.parse(readFileSync(fromRoot('app', 'package.json'), 'utf8')) as { version: string }).version;
}

/** `git rev-parse --short HEAD`, with `-dirty` when app/ has uncommitted changes; 'unknown' outside git. */
export async function sourceRevision(exec: Exec): Promise<string> {
  const commit =
    (
      await exec.run('git', ['rev-parse', '--short', 'HEAD'], { readOnly: true, nothrow: true, cwd: repoRoot })
    ).stdout.trim() || 'unknown';
  const dirty =
    (await exec.read('git', ['status', '--porcelain', '--', 'app'], { cwd: repoRoot, nothrow: true })) !== '';
  return dirty ? `${commit}-dirty` : commit;
}

/**
 * Tags `make build` gives the image: the version, the commit, and `local` (the tag compose's
 * staging and prod profiles run unless MYTV_IMAGE_TAG says otherwise).
 */
export function imageTags(version: string, revision: string): string[] {
  return [`${API_IMAGE_REPO}:${version}`, `${API_IMAGE_REPO}:${revision}`, `${API_IMAGE_REPO}:local`];
}

export interface NpmBuildSecrets {
  /** --secret arguments for the build. */
  args: string[];
  /** Removes the temporary files (mode 600 in a mode 700 directory). */
  cleanup(): void;
}

/**
 * npm's registry setting of this machine (`npm config get registry`, and its `cafile` when one is
 * set: an intercepting proxy's CA) as build secrets `npmrc` and `npm_ca`. Secret mounts are not
 * part of any layer, and the values never reach a command line, a build arg or the history.
 * @param extraNpmrc lines appended to the npmrc (the image test adds a canary token).
 */
export async function npmBuildSecrets(exec: Exec, extraNpmrc: string[] = []): Promise<NpmBuildSecrets> {
  const registry = await exec.read('npm', ['config', 'get', 'registry'], { cwd: os.tmpdir() });
  const cafile = await exec.read('npm', ['config', 'get', 'cafile'], { cwd: os.tmpdir() });
  // A registry URL may carry credentials (https://user:token@host/): never shown.
  if (/\/\/[^/]*@/.test(registry)) registerSecret(registry);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-npm-secrets-'));
  chmodSync(dir, 0o700);
  const npmrc = path.join(dir, 'npmrc');
  const ca = path.join(dir, 'npm_ca');
  const lines = [`registry=${registry}`];
  if (cafile && cafile !== 'null' && cafile !== 'undefined' && existsSync(cafile)) {
    copyFileSync(cafile, ca);
    lines.push('cafile=/run/secrets/npm_ca');
  } else {
    writeFileSync(ca, '');
  }
  writeFileSync(npmrc, [...lines, ...extraNpmrc, ''].join('\n'), { mode: 0o600 });
  chmodSync(ca, 0o600);
  return {
    args: ['--secret', `id=npmrc,src=${npmrc}`, '--secret', `id=npm_ca,src=${ca}`],
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ImageBuildOptions {
  tags: string[];
  version: string;
  revision: string;
  /** NODE_IMAGE: the Dockerfile's base; undefined keeps its default (node:22…-bookworm-slim). */
  baseImage?: string;
  secrets: NpmBuildSecrets;
  timeoutMs?: number;
  /** Another recipe with the same conventions (NODE_IMAGE, VERSION/COMMIT/CREATED, npm secrets): ops/Dockerfile. */
  dockerfile?: string;
  /** Its ignore file (podman; Docker reads <Dockerfile>.dockerignore or the context's). */
  ignoreFile?: string;
}

/**
 * Builds app/Dockerfile. A failing build is an operator error showing the failing step's last
 * lines (podman/docker print the step on stdout and the failure on stderr).
 */
export async function buildApiImage(exec: Exec, engine: ContainerEngine, o: ImageBuildOptions): Promise<void> {
  const created = new Date().toISOString();
  // podman 4.3 (buildah 1.28) reuses a cached LABEL/ENV step even when the ARG it expands changed:
  // the per-build values are set again with --label/--env, which apply to the final image only.
  const perBuild =
    engine.name === 'podman'
      ? [
          ['--label', `org.opencontainers.image.version=${o.version}`],
          ['--label', `org.opencontainers.image.revision=${o.revision}`],
          ['--label', `org.opencontainers.image.created=${created}`],
          ...(o.dockerfile
            ? []
            : [
                ['--env', `APP_VERSION=${o.version}`],
                ['--env', `APP_COMMIT=${o.revision}`],
              ]),
        ].flat()
      : [];
  const args = [
    'build',
    '-f',
    o.dockerfile ?? dockerfile,
    ...(engine.name === 'podman' ? ['--ignorefile', o.ignoreFile ?? ignoreFile, '--layers'] : []),
    ...engine.networkArgs,
    ...(o.baseImage ? ['--build-arg', `NODE_IMAGE=${o.baseImage}`] : []),
    '--build-arg',
    `VERSION=${o.version}`,
    '--build-arg',
    `COMMIT=${o.revision}`,
    '--build-arg',
    `CREATED=${created}`,
    ...perBuild,
    ...o.secrets.args,
    ...o.tags.flatMap((t) => ['-t', t]),
    repoRoot,
  ];
  // --secret needs BuildKit with Docker.
  const env = engine.name === 'docker' ? { DOCKER_BUILDKIT: '1' } : {};
  try {
    await engineRun(exec, engine, args, { cwd: repoRoot, env, timeoutMs: o.timeoutMs ?? 1_800_000 });
  } catch (err) {
    if (err instanceof CommandError) {
      const text = `${err.result.stdout}\n${err.result.stderr}`.trim().split('\n');
      const lastStep = [...text].reverse().find((l) => /^(STEP \d+\/\d+|#\d+ \[)/.test(l));
      throw new UserError(
        `image build failed (exit ${err.result.exitCode})${lastStep ? ` at ${lastStep.trim()}` : ''}:\n${maskSecrets(
          text.slice(-15).join('\n'),
        )}`,
        { hint: 'fix the step above; make build VERBOSE=1 shows the whole command' },
      );
    }
    throw err;
  }
}
