// Nginx config releases on an edge host, over SSH: <root>/releases/<id>/ are complete rendered
// configs, <root>/current -> releases/<id> is the live one (the host's Nginx runs
// `-c <root>/current/nginx.conf`), <root>/.deploy.lock is the deploy lock. Used by
// scripts/deploy-nginx.ts and scripts/rollback-nginx.ts.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { intOption } from '../cli.js';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import type { ScriptContext } from '../main.js';
import { requireTool } from '../tools.js';
import { RELEASE_FILE } from './render.js';
import { shq, SshClient, type SshTarget } from '../ssh.js';
import { waitFor } from '../wait.js';

export type EdgeDeploySettings = NonNullable<Environment['nginx']>['deploy'];

/** The environment's edge host and deploy settings; an environment without them is an operator error. */
export function edgeTarget(env: Environment): { ssh: SshTarget; deploy: EdgeDeploySettings; healthUrl: string } {
  const nginx = env.nginx;
  if (!nginx?.ssh)
    throw new UserError(`environment ${env.name} has no edge host (nginx.ssh) to deploy to`, {
      hint: `Nginx of ${env.name} is local (make up); deploy-nginx is for environments with nginx.ssh (staging, prod)`,
    });
  const healthUrl =
    nginx.deploy.healthUrl ?? `http://${nginx.listen.statusAddress}:${nginx.listen.status}/health/ready`;
  return { ssh: nginx.ssh, deploy: nginx.deploy, healthUrl };
}

const RELEASE_ID = /^\d{8}T\d{6}Z-[0-9a-f]{4}$/;

export function newReleaseId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0')}`;
}

export class EdgeReleases {
  readonly releasesDir: string;
  readonly currentLink: string;
  readonly lockDir: string;

  constructor(
    readonly ssh: SshClient,
    readonly deploy: EdgeDeploySettings,
    readonly healthUrl: string,
  ) {
    this.releasesDir = path.posix.join(deploy.root, 'releases');
    this.currentLink = path.posix.join(deploy.root, 'current');
    this.lockDir = path.posix.join(deploy.root, '.deploy.lock');
  }

  get host(): string {
    return this.ssh.target.host;
  }

  releaseDir(id: string): string {
    return path.posix.join(this.releasesDir, id);
  }

  /** The live release id, or undefined before the first deploy. */
  async live(): Promise<string | undefined> {
    const r = await this.ssh.run(`readlink ${shq(this.currentLink)}`);
    return r.code === 0 && r.stdout.trim() ? path.posix.basename(r.stdout.trim()) : undefined;
  }

  /** Complete releases, oldest first. */
  async list(): Promise<string[]> {
    const r = await this.ssh.run(`ls -1 ${shq(this.releasesDir)} 2>/dev/null`);
    return r.stdout
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => RELEASE_ID.test(s))
      .sort();
  }

  /** The release before `id` (by age), which a rollback goes back to. */
  async previous(id: string | undefined): Promise<string | undefined> {
    const all = await this.list();
    const older = id ? all.filter((r) => r < id) : all;
    return older.at(-1);
  }

  /** Copies a release's files into localDir (tar over the SSH channel); false when there is none. */
  async fetch(id: string, localDir: string): Promise<boolean> {
    mkdirSync(localDir, { recursive: true });
    const r = await this.ssh.run(`tar -C ${shq(this.releaseDir(id))} -cf - . | base64 -w0`);
    if (r.code !== 0) return false;
    const untar = spawnSync('tar', ['-C', localDir, '-xf', '-'], { input: Buffer.from(r.stdout.trim(), 'base64') });
    if (untar.status !== 0) throw new Error(`tar -x of release ${id} failed: ${untar.stderr.toString()}`);
    return true;
  }

  /** Takes the deploy lock, waiting up to `waitMs` ms; `onWait` is told the holder once if it has to wait. */
  async lock(owner: string, waitMs: number, onWait?: (holder: string) => void): Promise<void> {
    await this.ssh.must(`mkdir -p ${shq(this.releasesDir)}`, `creating ${this.releasesDir}`);
    await this.ssh.lock(this.lockDir, owner, { waitMs, onWait });
  }

  async unlock(): Promise<void> {
    await this.ssh.unlock(this.lockDir);
  }

  /** Uploads under a temporary name first, so a half-uploaded release never looks complete. */
  async upload(localDir: string, id: string): Promise<void> {
    const partial = path.posix.join(this.releasesDir, `.${id}.partial`);
    await this.ssh.uploadDirectory(localDir, partial);
    await this.ssh.must(`mv -T ${shq(partial)} ${shq(this.releaseDir(id))}`, 'completing the upload');
  }

  async remove(id: string): Promise<void> {
    await this.ssh.run(
      `rm -rf ${shq(this.releaseDir(id))} ${shq(path.posix.join(this.releasesDir, `.${id}.partial`))}`,
    );
  }

  private command(template: string, conf: string): string {
    return template.replaceAll('{conf}', shq(conf)).replaceAll('{root}', shq(this.deploy.root));
  }

  /** `nginx -t` of a release on the host; ok=false with Nginx's own words when refused. */
  async test(id: string): Promise<{ ok: boolean; output: string }> {
    const conf = path.posix.join(this.releaseDir(id), 'nginx.conf');
    const r = await this.ssh.run(this.command(this.deploy.testCommand, conf));
    return { ok: r.code === 0, output: (r.stderr + r.stdout).trim() };
  }

  /** Points current at a release: a new symlink renamed over the old one (atomic). */
  async switchTo(id: string): Promise<void> {
    const tmp = path.posix.join(this.deploy.root, '.current.new');
    await this.ssh.must(
      `ln -sfn ${shq(`releases/${id}`)} ${shq(tmp)} && mv -Tf ${shq(tmp)} ${shq(this.currentLink)}`,
      `switching ${this.currentLink} to ${id}`,
    );
  }

  async reload(): Promise<{ ok: boolean; output: string }> {
    const r = await this.ssh.run(
      this.command(this.deploy.reloadCommand, path.posix.join(this.currentLink, 'nginx.conf')),
    );
    return { ok: r.code === 0, output: (r.stderr + r.stdout).trim() };
  }

  /**
   * Health through the proxy, on the host: the internal listener's /health answer must be 200 and
   * carry X-Config-Release: <id>, i.e. the reload has taken effect and the API answers behind it.
   */
  async verify(id: string): Promise<{ ok: boolean; detail: string }> {
    let detail = '';
    const live = await waitFor(
      async () => {
        const r = await this.ssh.run(`curl -sS -o /dev/null -D - --max-time 5 ${shq(this.healthUrl)}`);
        const status = /^HTTP\/[\d.]+ (\d{3})/m.exec(r.stdout)?.[1];
        const release = /^x-config-release:\s*(\S+)/im.exec(r.stdout)?.[1];
        if (status === '200' && release === id) return true;
        detail =
          r.code !== 0
            ? `curl ${this.healthUrl}: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}`
            : `${this.healthUrl} answered ${status ?? '?'} from release ${release ?? '?'} (want 200 from ${id})`;
        return false;
      },
      { timeoutMs: this.deploy.healthTimeoutSeconds * 1000, intervalMs: 500 },
    );
    return live ? { ok: true, detail: `${this.healthUrl} 200, release ${id}` } : { ok: false, detail };
  }

  /** Removes the oldest releases beyond `keep`, never the ones in `protect`. */
  async prune(keep: number, protect: (string | undefined)[]): Promise<string[]> {
    const all = await this.list();
    const doomed = all.slice(0, Math.max(0, all.length - keep)).filter((id) => !protect.includes(id));
    for (const id of doomed) await this.remove(id);
    return doomed;
  }
}

/** Files that differ only by the release marker are the same config. */
export const DIFF_EXCLUDES = [RELEASE_FILE];

export const lastLines = (text: string, n = 4): string => text.trim().split('\n').slice(-n).join(' | ');

export function waitLockMs(value: string | undefined): number {
  return intOption(value, 'wait-lock', { default: 0, min: 0, max: 3600 }) * 1000;
}

/** Unified diff of two local config trees (release markers left out); empty when equal. */
export async function configDiff(ctx: ScriptContext, workDir: string, from: string, to: string): Promise<string> {
  const excludes = DIFF_EXCLUDES.flatMap((x) => ['-x', x]);
  const r = await ctx.exec.run(requireTool('diff'), ['-ruN', ...excludes, from, to], {
    cwd: workDir,
    readOnly: true,
    nothrow: true,
  });
  if (r.exitCode > 1) throw new Error(`diff failed: ${r.stderr}`);
  return r.stdout;
}

/** After a failed switch: back to the previous release (or no live config at all), then the error. */
export async function restoreAndFail(
  releases: EdgeReleases,
  previous: string | undefined,
  failed: string,
  why: string,
): Promise<never> {
  await releases.remove(failed);
  if (!previous) {
    await releases.ssh.run(`rm -f ${shq(releases.currentLink)}`);
    throw new UserError(`${why}; there was no previous release: ${releases.currentLink} was removed again`, {
      hint: 'fix the cause, then run the deploy again',
    });
  }
  await releases.switchTo(previous);
  const reload = await releases.reload();
  if (!reload.ok)
    throw new UserError(
      `${why}; switched back to release ${previous} but reloading it failed too: ${lastLines(reload.output)}`,
      { hint: `the host needs attention now: ssh ${releases.ssh.label} and check Nginx (systemctl status nginx)` },
    );
  throw new UserError(`${why}; restored the previous release ${previous}, which is live again`, {
    hint: 'fix the cause (see above), then run the deploy again',
  });
}
