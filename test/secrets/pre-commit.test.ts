// The pre-commit hook as `make setup` installs it (husky → core.hooksPath, lint-staged, secretlint
// with the repository's config), in a scratch git repository: a staged secret blocks the commit, a
// clean file commits (formatted by Prettier), and the documented bypass works.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Exec } from '../../scripts/lib/exec.js';
import { installGitHooks } from '../../scripts/lib/git-hooks.js';
import { Output } from '../../scripts/lib/output.js';
import { fromRoot } from '../../scripts/lib/paths.js';

const run = promisify(execFile);
const exec = new Exec({ dryRun: false, verbose: false, out: new Output(false) });

describe('pre-commit hook (husky + lint-staged + secretlint), installed by make setup', function () {
  this.timeout(120_000);
  let tmp: string;
  const env = { PATH: process.env.PATH ?? '', HOME: os.tmpdir() };
  const git = (...args: string[]) => run('git', args, { cwd: tmp, env: { ...env } });

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-hook-'));
    for (const f of [
      '.husky/pre-commit',
      '.lintstagedrc.json',
      '.secretlintrc.json',
      '.secretlintignore',
      '.prettierrc.json',
    ]) {
      cpSync(fromRoot(f), path.join(tmp, f), { recursive: true });
    }
    symlinkSync(fromRoot('node_modules'), path.join(tmp, 'node_modules'));
    writeFileSync(path.join(tmp, '.gitignore'), 'node_modules\n');
    writeFileSync(path.join(tmp, 'package.json'), '{ "name": "scratch", "private": true, "type": "module" }\n');
    // ESLint runs beside secretlint on a staged .ts file; without a config of its own it fails too,
    // and whichever failure lint-staged reports first hid secretlint's message (seen in CI). An
    // empty flat config lints nothing here: the repository's own rules are make lint's business.
    writeFileSync(path.join(tmp, 'eslint.config.js'), 'export default [];\n');
    await git('init', '-q', '-b', 'main');
    await git('config', 'user.email', 'test@mytv.test');
    await git('config', 'user.name', 'test');
    await git('config', 'commit.gpgsign', 'false');
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('is skipped in CI and outside a git checkout, installed otherwise, and a second run changes nothing', async () => {
    expect(await installGitHooks(exec, tmp, { CI: 'true' })).to.include({ state: 'skipped' });
    const outside = mkdtempSync(path.join(os.tmpdir(), 'mytv-nogit-'));
    try {
      expect(await installGitHooks(exec, outside, {})).to.deep.equal({
        state: 'skipped',
        detail: 'not a git checkout',
      });
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
    expect((await installGitHooks(exec, tmp, {})).state).to.equal('installed');
    expect((await git('config', '--get', 'core.hooksPath')).stdout.trim()).to.equal('.husky/_');
    expect(await installGitHooks(exec, tmp, {})).to.deep.equal({
      state: 'installed',
      detail: 'core.hooksPath=.husky/_',
    });
  });

  it('blocks a commit that stages a secret, naming the file and rule but not the value', async () => {
    const token = `ghp_${randomBytes(27)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, 'a')
      .slice(0, 36)}`;
    writeFileSync(path.join(tmp, 'config.ts'), `export const token = '${token}';\n`);
    await git('add', 'config.ts');
    const err = (await git('commit', '-m', 'add config').catch((e: { stdout: string; stderr: string }) => e)) as {
      stdout: string;
      stderr: string;
      code?: number;
    };
    expect(err.code, 'the commit must fail').to.equal(1);
    const text = err.stdout + err.stderr;
    expect(text, text).to.contain('config.ts');
    expect(text).to.match(/GITHUB_TOKEN|github/i);
    expect(text).not.to.contain(token);
    expect((await git('rev-list', '--all', '--count').catch(() => ({ stdout: '0' }))).stdout.trim()).to.equal('0');
  });

  it('the documented emergency bypass (--no-verify) commits anyway', async () => {
    await git('commit', '--no-verify', '-qm', 'emergency');
    expect((await git('rev-list', '--count', 'HEAD')).stdout.trim()).to.equal('1');
    await git('rm', '-q', 'config.ts');
    await git('commit', '--no-verify', '-qm', 'remove the secret');
  });

  it('lets a clean change through, formatted by Prettier', async () => {
    writeFileSync(path.join(tmp, 'data.json'), '{"a":1,\n"b":[1,2]}');
    await git('add', 'data.json');
    await git('commit', '-qm', 'data');
    expect(readFileSync(path.join(tmp, 'data.json'), 'utf8')).to.equal('{ "a": 1, "b": [1, 2] }\n');
    expect((await git('status', '--porcelain', 'data.json')).stdout.trim()).to.equal('');
  });
});
