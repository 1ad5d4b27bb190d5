// Docker, when there is one: whether an engine answers (`docker info`, short timeout) and the
// compose command (the v2 plugin `docker compose`, else the v1 `docker-compose`). Scripts that can
// work without Docker (make up, make build) ask engineStatus() and say why they skipped it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UserError } from './errors.js';
import type { Exec, RunOptions, RunResult } from './exec.js';
import { fromRoot } from './paths.js';
import { findTool, toolEnvPath } from './tools.js';

const execFileAsync = promisify(execFile);

export interface EngineStatus {
  available: boolean;
  /** Server version when available, else why not (one line). */
  detail: string;
}

async function tryRun(bin: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout } = await execFileAsync(bin, args, {
      timeout: timeoutMs,
      env: { ...process.env, PATH: toolEnvPath() },
    });
    return { ok: true, out: stdout.trim() };
  } catch (err) {
    const e = err as { stderr?: string; killed?: boolean; message: string };
    if (e.killed) return { ok: false, out: `no answer within ${timeoutMs / 1000}s` };
    const lines = (e.stderr || e.message).trim().split('\n').filter(Boolean);
    return { ok: false, out: lines[lines.length - 1] ?? 'failed' };
  }
}

/** Does a Docker engine answer? MYTV_DOCKER=0 says no without asking (tests, CI). */
export async function engineStatus(timeoutMs = 3000): Promise<EngineStatus> {
  if (process.env.MYTV_DOCKER === '0') return { available: false, detail: 'disabled by MYTV_DOCKER=0' };
  if (!findTool('docker')) return { available: false, detail: 'the docker CLI is not installed' };
  const r = await tryRun('docker', ['info', '--format', '{{.ServerVersion}}'], timeoutMs);
  return r.ok && r.out ? { available: true, detail: `engine ${r.out}` } : { available: false, detail: r.out };
}

export const composeFile = fromRoot('compose', 'compose.yaml');
/** Publishes PostgreSQL and Redis on loopback; left out for the prod profile. */
export const composeOverrideFile = fromRoot('compose', 'compose.override.yaml');
export const composeEnvFile = fromRoot('compose', '.env');
/** The compose project name, given on the command line (compose 1.29 rejects a top-level `name:`). */
export const composeProject = 'mytv';

export interface ComposeCommand {
  bin: string;
  /** Arguments before the compose arguments (['compose'] for the plugin). */
  prefix: string[];
}

/** The compose command of this machine; an operator error when there is none. */
export async function composeCommand(): Promise<ComposeCommand> {
  if (findTool('docker') && (await tryRun('docker', ['compose', 'version'], 5000)).ok) {
    return { bin: 'docker', prefix: ['compose'] };
  }
  const v1 = findTool('docker-compose');
  if (v1) return { bin: v1, prefix: [] };
  throw new UserError('Docker compose is not installed (neither `docker compose` nor `docker-compose`)', {
    hint: 'install the Docker compose plugin, or run the stack without Docker: make up MODE=native',
  });
}

/** Runs `docker compose -p mytv -f compose/compose.yaml [-f override] --env-file compose/.env --profile P ARGS` (dry-run aware). */
export class Compose {
  constructor(
    private readonly exec: Exec,
    private readonly cmd: ComposeCommand,
    private readonly profile: string,
    private readonly env: Record<string, string> = {},
  ) {}

  args(rest: string[]): string[] {
    const files = this.profile === 'prod' ? [composeFile] : [composeFile, composeOverrideFile];
    return [
      ...this.cmd.prefix,
      '-p',
      composeProject,
      ...files.flatMap((f) => ['-f', f]),
      '--env-file',
      composeEnvFile,
      '--profile',
      this.profile,
      ...rest,
    ];
  }

  run(rest: string[], o: RunOptions = {}): Promise<RunResult> {
    // COMPOSE_PROFILES from compose/.env (dev, for plain `docker compose up`) must not add to --profile.
    const env = { COMPOSE_PROFILES: this.profile, ...this.env, ...o.env };
    return this.exec.run(this.cmd.bin, this.args(rest), { ...o, env });
  }

  /** Services of the project whose containers are running now (read-only; runs under --dry-run too). */
  async runningServices(): Promise<string[]> {
    const r = await this.run(['ps', '--services', '--filter', 'status=running'], { readOnly: true });
    return r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  }
}
