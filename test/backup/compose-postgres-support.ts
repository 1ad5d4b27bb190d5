// The compose stack's PostgreSQL run for real where no compose and no registry exist: the official
// image replaced by a stand-in built here (test/fixtures/postgres-official, on the local Debian
// base), postgres/Dockerfile built FROM it, and the `postgres` service of compose/compose.yaml
// translated into `podman run` arguments (environment, volumes, tmpfs, read-only root, shm size),
// so what runs is what compose.yaml says, not a copy of it. Images are tagged with a hash of their
// inputs and reused by the next run (as scripts/lib/base-image.ts and ops-image.ts do).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { engineRun, imageExists, type ContainerEngine } from '../../scripts/lib/container-engine.js';
import type { Exec } from '../../scripts/lib/exec.js';
import { fromRoot } from '../../scripts/lib/paths.js';

function filesUnder(abs: string): string[] {
  if (!statSync(abs).isDirectory()) return [abs];
  return readdirSync(abs)
    .sort()
    .flatMap((e) => filesUnder(path.join(abs, e)));
}

/**
 * Builds `context` (its Dockerfile) as `<repo>:<12 hex of sha256 over every file, mode and the
 * build args>` unless that tag exists. Returns the tag.
 */
export async function ensureHashedImage(
  exec: Exec,
  engine: ContainerEngine,
  o: { repo: string; context: string; buildArgs: Record<string, string> },
): Promise<string> {
  const h = createHash('sha256').update(JSON.stringify(o.buildArgs));
  for (const f of filesUnder(o.context))
    h.update(`${path.relative(o.context, f)} ${statSync(f).mode}\n`).update(readFileSync(f));
  const tag = `${o.repo}:${h.digest('hex').slice(0, 12)}`;
  if (await imageExists(exec, engine, tag)) return tag;
  await engineRun(
    exec,
    engine,
    [
      'build',
      ...engine.networkArgs,
      ...Object.entries(o.buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
      '-t',
      tag,
      o.context,
    ],
    { timeoutMs: 1_500_000 },
  );
  // Tags of older inputs go (their layers stay while the build cache shares them).
  const listed = await engineRun(exec, engine, ['images', '--format', '{{.Repository}}:{{.Tag}}', o.repo], {
    readOnly: true,
    nothrow: true,
  });
  for (const old of listed.stdout.split('\n').filter((t) => /:[0-9a-f]{12}$/.test(t) && t !== tag))
    await engineRun(exec, engine, ['rmi', old], { nothrow: true });
  return tag;
}

interface ComposeService {
  build?: { context?: string };
  environment?: Record<string, string>;
  volumes?: string[];
  tmpfs?: string[];
  read_only?: boolean;
  shm_size?: string;
}

/** compose/compose.yaml's service `name` (YAML merge keys applied). */
export function composeService(name: string): ComposeService {
  const doc = parse(readFileSync(fromRoot('compose', 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  return doc.services[name];
}

/**
 * Compose's variable interpolation for the forms compose.yaml uses: ${VAR}, ${VAR:-default},
 * ${VAR:?error} (https://docs.docker.com/reference/compose-file/interpolation/). A missing
 * required variable throws, as compose refuses to start.
 */
export function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g,
    (_m, name: string, op?: string, arg?: string) => {
      const v = vars[name];
      if (v) return v;
      if (op === '-') return arg ?? '';
      if (op === '?') throw new Error(`compose would refuse: ${arg}`);
      return '';
    },
  );
}

/**
 * `podman run` arguments of a compose service: environment (to a mode-600 env file, never argv),
 * volumes (named volumes renamed by `volumeName`, relative binds resolved against compose/),
 * tmpfs, read-only root, shm size.
 */
export function composeRunArgs(
  s: ComposeService,
  o: { vars: Record<string, string>; volumeName: (name: string) => string; envFile: string },
): { args: string[]; env: Record<string, string> } {
  const env = Object.fromEntries(
    Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), o.vars)]),
  );
  const args = ['--env-file', o.envFile];
  for (const v of s.volumes ?? []) {
    const [source, target, mode] = interpolate(v, o.vars).split(':');
    const isBind = /^(\.|\/)/.test(source);
    const src = isBind ? path.resolve(fromRoot('compose'), source) : o.volumeName(source);
    args.push('-v', [src, target, ...(mode ? [mode] : [])].join(':'));
  }
  for (const t of s.tmpfs ?? []) args.push('--tmpfs', t);
  if (s.read_only) args.push('--read-only');
  if (s.shm_size) args.push('--shm-size', s.shm_size);
  return { args, env };
}
