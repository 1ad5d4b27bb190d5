// What a deploy ships: the commit of the working tree, which is the tag `make build` gave the image
// (scripts/build.ts: the short commit, with -dirty when app/ has uncommitted changes).
import os from 'node:os';
import { UserError } from '../errors.js';
import type { Exec } from '../exec.js';
import { repoRoot } from '../paths.js';

export interface DeployCommit {
  commit: string;
  /** The image tag: the commit, or <commit>-dirty when --allow-dirty and app/ has changes. */
  tag: string;
  dirtyFiles: string[];
}

/** Refuses a dirty tree unless allowDirty (one line naming the files); throws outside a git checkout. */
export async function deployCommit(exec: Exec, allowDirty: boolean): Promise<DeployCommit> {
  const head = await exec.run('git', ['rev-parse', '--short', 'HEAD'], {
    readOnly: true,
    nothrow: true,
    cwd: repoRoot,
  });
  if (head.exitCode !== 0)
    throw new UserError('cannot read the git commit (not a git checkout, or no commit yet)', {
      hint: 'deploy from a clone of the repository',
    });
  const commit = head.stdout.trim();
  const status = await exec.run('git', ['status', '--porcelain'], { readOnly: true, nothrow: true, cwd: repoRoot });
  const dirtyFiles = status.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  if (dirtyFiles.length > 0 && !allowDirty) {
    const shown =
      dirtyFiles.slice(0, 3).join(', ') + (dirtyFiles.length > 3 ? ` and ${dirtyFiles.length - 3} more` : '');
    throw new UserError(`the working tree has uncommitted changes (${shown}): a deploy ships a commit`, {
      hint: `commit or stash them; or pass --allow-dirty (ARGS=--allow-dirty) to deploy ${commit} as it is; nothing was changed`,
    });
  }
  const appDirty = dirtyFiles.some((f) => f.startsWith('app/'));
  return { commit, tag: appDirty ? `${commit}-dirty` : commit, dirtyFiles };
}

/** Who deploys: the CI actor, else the git identity, else the login name. */
export async function deployedBy(exec: Exec): Promise<string> {
  if (process.env.GITHUB_ACTOR) return `${process.env.GITHUB_ACTOR} (GitHub Actions)`;
  const email = await exec.run('git', ['config', 'user.email'], { readOnly: true, nothrow: true, cwd: repoRoot });
  return email.stdout.trim() || os.userInfo().username;
}
