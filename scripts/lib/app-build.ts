// Building the API (app/ -> app/dist with tsc): the one place that knows how, and when a build is
// due. Used by make build, make up, make bench and the tests that run the built app.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';
import type { Exec } from './exec.js';
import { fromRoot } from './paths.js';

export const appDir = fromRoot('app');
export const appEntry = fromRoot('app', 'dist', 'main.js');
const tsc = fromRoot('node_modules', '.bin', 'tsc');
const tscArgs = ['-p', 'tsconfig.build.json'];

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Why app/dist must be (re)built, or undefined when it is current. */
export function appBuildReason(): string | undefined {
  if (!existsSync(appEntry)) return 'app/dist/main.js is missing';
  if (statSync(appEntry).mtimeMs < newestMtime(path.join(appDir, 'src'))) return 'app/src changed since the last build';
  return undefined;
}

/** tsc through the script's Exec (printed under --dry-run, echoed under --verbose). */
export async function buildApp(exec: Exec): Promise<void> {
  await exec.run(tsc, tscArgs, { cwd: appDir, timeoutMs: 300_000 });
}

/** For tests: builds once when stale; a failed build throws with tsc's output. */
export function buildAppIfStaleSync(): void {
  if (!appBuildReason()) return;
  const r = spawnSync(tsc, tscArgs, { cwd: appDir, encoding: 'utf8' });
  if (r.status !== 0) throw new UserError(`app build failed:\n${r.stdout}${r.stderr}`);
}
