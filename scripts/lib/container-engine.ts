// The container engine that builds and runs the API image: Docker when an engine answers, else
// podman when installed (Debian's, as root, with this repository's podman/containers.conf passed
// by CONTAINERS_CONF — nothing under /etc changes), else none, with the reason for each.
// MYTV_DOCKER=0 / MYTV_PODMAN=0 rule an engine out without asking it (tests, CI).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { engineStatus } from './docker.js';
import { UserError } from './errors.js';
import type { Exec, RunOptions, RunResult } from './exec.js';
import { fromRoot } from './paths.js';
import { findTool, toolEnvPath } from './tools.js';

const execFileAsync = promisify(execFile);

export type EngineName = 'docker' | 'podman';

/** podman settings of this repository: runtime runc, no default ulimits (see the file). */
export const podmanConf = fromRoot('podman', 'containers.conf');

export interface ContainerEngine {
  name: EngineName;
  /** Environment every call of this engine needs (CONTAINERS_CONF for podman). */
  env: Record<string, string>;
  /** Flags for `build` and `run`: podman here uses the host's network (no CNI/netavark setup). */
  networkArgs: string[];
  /** Server version, for the output. */
  version: string;
}

export interface EngineLookup {
  engine?: ContainerEngine;
  /** One entry per engine looked for: why it is not used (empty for the chosen one). */
  lookedFor: { name: EngineName; detail: string }[];
}

async function podmanStatus(timeoutMs: number): Promise<{ available: boolean; detail: string }> {
  if (process.env.MYTV_PODMAN === '0') return { available: false, detail: 'disabled by MYTV_PODMAN=0' };
  const bin = findTool('podman');
  if (!bin) return { available: false, detail: 'podman is not installed' };
  try {
    const { stdout } = await execFileAsync(bin, ['version', '--format', '{{.Client.Version}}'], {
      timeout: timeoutMs,
      env: { ...process.env, PATH: toolEnvPath(), CONTAINERS_CONF: podmanConf },
    });
    return { available: true, detail: `podman ${stdout.trim()}` };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const lines = (e.stderr || e.message).trim().split('\n').filter(Boolean);
    return { available: false, detail: lines[lines.length - 1] ?? 'podman version failed' };
  }
}

/** Docker first (what production CI uses), then podman. Never throws. */
export async function findContainerEngine(timeoutMs = 5000): Promise<EngineLookup> {
  const docker = await engineStatus(Math.min(timeoutMs, 3000));
  if (docker.available) {
    return {
      engine: { name: 'docker', env: {}, networkArgs: [], version: docker.detail },
      lookedFor: [{ name: 'docker', detail: '' }],
    };
  }
  const podman = await podmanStatus(timeoutMs);
  const lookedFor: EngineLookup['lookedFor'] = [
    { name: 'docker', detail: docker.detail },
    { name: 'podman', detail: podman.available ? '' : podman.detail },
  ];
  if (!podman.available) return { lookedFor };
  return {
    engine: {
      name: 'podman',
      env: { CONTAINERS_CONF: podmanConf },
      networkArgs: ['--network', 'host'],
      version: podman.detail,
    },
    lookedFor,
  };
}

/** One line: which engines were looked for and why each is unusable. */
export function noEngineReason(lookup: EngineLookup): string {
  return `no container engine: ${lookup.lookedFor.map((l) => `${l.name}: ${l.detail}`).join('; ')}`;
}

export const installEngineHint =
  'run `make setup` as root (installs podman, runc, uidmap, fuse-overlayfs, slirp4netns, debootstrap), or install Docker';

/** The engine, or an operator error naming the engines looked for and how to install podman. */
export async function requireContainerEngine(): Promise<ContainerEngine> {
  const lookup = await findContainerEngine();
  if (!lookup.engine) throw new UserError(noEngineReason(lookup), { hint: installEngineHint });
  return lookup.engine;
}

/** Runs `<engine> ARGS` through the script's Exec (dry-run aware) with the engine's environment. */
export function engineRun(exec: Exec, engine: ContainerEngine, args: string[], o: RunOptions = {}): Promise<RunResult> {
  return exec.run(engine.name, args, { ...o, env: { ...engine.env, ...o.env } });
}

/** Does an image (name:tag or id) exist locally? */
export async function imageExists(exec: Exec, engine: ContainerEngine, ref: string): Promise<boolean> {
  const r = await engineRun(exec, engine, ['image', 'inspect', '--format', '{{.Id}}', ref], {
    readOnly: true,
    nothrow: true,
  });
  return r.exitCode === 0;
}

/** Size of a local image in bytes. */
export async function imageSize(exec: Exec, engine: ContainerEngine, ref: string): Promise<number> {
  const out = await engineRun(exec, engine, ['image', 'inspect', '--format', '{{.Size}}', ref], { readOnly: true });
  return Number(out.stdout.trim());
}

/** "123.4 MB" (decimal units, as `docker images` prints them). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e3).toFixed(1)} kB`;
}
