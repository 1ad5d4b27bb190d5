// The pre-commit hook (.husky/pre-commit → lint-staged, .lintstagedrc.json): installed by
// `make setup` in a git checkout by running husky, which points core.hooksPath at .husky/_.
// Skipped in CI (CI set) and with HUSKY=0 (husky's own switch), and outside a git checkout.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Exec } from './exec.js';
import { fromRoot, repoRoot } from './paths.js';

export const HOOKS_PATH = '.husky/_';

export interface HookStatus {
  state: 'installed' | 'skipped' | 'would install';
  detail: string;
}

/** Installs the hooks when missing; idempotent (nothing runs when they are in place). */
export async function installGitHooks(
  exec: Exec,
  cwd = repoRoot,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HookStatus> {
  if (env.CI) return { state: 'skipped', detail: 'CI (CI is set)' };
  if (env.HUSKY === '0') return { state: 'skipped', detail: 'HUSKY=0' };
  const inside = await exec.run('git', ['rev-parse', '--is-inside-work-tree'], { cwd, readOnly: true, nothrow: true });
  if (inside.exitCode !== 0 || inside.stdout.trim() !== 'true')
    return { state: 'skipped', detail: 'not a git checkout' };
  const current = (
    await exec.run('git', ['config', '--get', 'core.hooksPath'], { cwd, readOnly: true, nothrow: true })
  ).stdout.trim();
  if (current === HOOKS_PATH && existsSync(path.join(cwd, HOOKS_PATH, 'pre-commit'))) {
    return { state: 'installed', detail: `core.hooksPath=${HOOKS_PATH}` };
  }
  const r = await exec.run(fromRoot('node_modules', '.bin', 'husky'), [], { cwd });
  if (r.skipped) return { state: 'would install', detail: `husky → core.hooksPath=${HOOKS_PATH}` };
  return { state: 'installed', detail: `core.hooksPath=${HOOKS_PATH} (just now)` };
}
