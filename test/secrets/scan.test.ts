// The secret scanner (secretlint + recommended preset + .secretlintrc.json) finds planted secrets
// of several kinds — in the working tree and in a commit that was later reverted — and ignores the
// placeholders of the allow-list; `make secrets-check` reports names only. Planted values are
// generated here at run time, never committed.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Exec } from '../../scripts/lib/exec.js';
import { Output } from '../../scripts/lib/output.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { scanFiles, scanHistory, scanWorkingTree } from '../../scripts/lib/secret-scan.js';
import { runEntryScript } from '../support/run-script.js';

const run = promisify(execFile);
const exec = new Exec({ dryRun: false, verbose: false, out: new Output(false) });
const alnum = (n: number): string =>
  randomBytes(n * 2)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, n);

/** Secrets of different kinds, freshly made (shapes from each secretlint rule's documentation). */
function plantedSecrets(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    'deploy_key.pem': privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    'aws.env': `AWS_ACCESS_KEY_ID=AKIA${alnum(16).toUpperCase()}\nAWS_SECRET_ACCESS_KEY=${alnum(40)}\n`,
    'gh.ts': `export const token = 'ghp_${alnum(36)}';\n`,
    'db.ts': `export const url = 'postgres://mytv_api:${alnum(20)}@db.internal:5432/mytv';\n`,
    'app.env': `JWT_SECRET=${alnum(48)}\n`,
    'slack.txt': `webhook https://hooks.slack.com/services/T${alnum(8).toUpperCase()}/B${alnum(8).toUpperCase()}/${alnum(24)}\n`,
  };
}

const PLACEHOLDERS = {
  'example.env': [
    'JWT_SECRET=CHANGE_ME_AT_LEAST_32_CHARACTERS_LONG',
    'DATABASE_URL=postgres://mytv_api:CHANGE_ME@postgres:5432/mytv',
    'R2_SECRET_ACCESS_KEY=CHANGE_ME',
    'JWT_SECRET=${JWT_SECRET}',
    'JWT_SECRET=<your-secret-here-32-characters>',
  ].join('\n'),
  'fixture.ts':
    "export const JWT_SECRET = 'test-current-secret-0123456789abcdef';\nconst env = { R2_SECRET_ACCESS_KEY: R2_SECRET_FOR_LOGS };\n",
};

async function gitRepo(dir: string): Promise<(...args: string[]) => Promise<string>> {
  const git = async (...args: string[]): Promise<string> => (await run('git', args, { cwd: dir })).stdout;
  await git('init', '-q', '-b', 'main');
  await git('config', 'user.email', 'test@mytv.test');
  await git('config', 'user.name', 'test');
  await git('config', 'commit.gpgsign', 'false');
  await git('config', 'core.hooksPath', '/dev/null');
  return git;
}

describe('secret scanning (secretlint, the same config as the hook and CI)', function () {
  this.timeout(120_000);
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-scan-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('finds every planted kind: private key, AWS key, GitHub token, database URL password, JWT secret, Slack webhook', async () => {
    const planted = plantedSecrets();
    for (const [f, text] of Object.entries(planted)) writeFileSync(path.join(tmp, f), text);
    const findings = await scanFiles(exec, Object.keys(planted), tmp);
    const files = [...new Set(findings.map((f) => f.file))].sort();
    expect(files).to.deep.equal(Object.keys(planted).sort());
    const rules = new Set(findings.map((f) => f.rule));
    for (const r of ['privatekey', 'aws', 'github', 'database-connection-string', 'pattern', 'slack'])
      expect(rules, r).to.include(r);
    // Messages never carry the credential itself.
    const text = JSON.stringify(findings);
    for (const value of Object.values(planted))
      for (const line of value.split('\n')) if (line.length > 30) expect(text).not.to.contain(line.slice(-20));
  });

  it('ignores the placeholders of the allow-list', async () => {
    for (const [f, text] of Object.entries(PLACEHOLDERS)) writeFileSync(path.join(tmp, f), text);
    expect(await scanFiles(exec, Object.keys(PLACEHOLDERS), tmp)).to.deep.equal([]);
  });

  it('the repository itself is clean (working tree)', async () => {
    const { files, findings } = await scanWorkingTree(exec);
    expect(files).to.be.greaterThan(50);
    expect(findings).to.deep.equal([]);
  });

  it('finds a secret in the git history that is gone from the working tree, naming the commit', async () => {
    const git = await gitRepo(tmp);
    writeFileSync(path.join(tmp, 'README.md'), 'hello\n');
    await git('add', '.');
    await git('commit', '-qm', 'first');
    writeFileSync(path.join(tmp, 'config.ts'), `export const token = 'ghp_${alnum(36)}';\n`);
    await git('add', '.');
    await git('commit', '-qm', 'oops');
    const bad = (await git('rev-parse', '--short', 'HEAD')).trim();
    await git('rm', '-q', 'config.ts');
    await git('commit', '-qm', 'remove it');

    expect((await scanWorkingTree(exec, tmp)).findings).to.deep.equal([]);
    const history = await scanHistory(exec, tmp);
    expect(history.findings.map((f) => [f.file, f.rule, f.commit])).to.deep.equal([['config.ts', 'github', bad]]);
  });

  it('make secrets-check: names only for presence, exit 1 on a missing required secret or a planted one', async () => {
    const dotenv = mkdtempSync(path.join(os.tmpdir(), 'mytv-dotenv-'));
    try {
      const secret = alnum(48);
      writeFileSync(
        path.join(dotenv, '.env.staging'),
        `JWT_SECRET=${secret}\nDATABASE_URL=postgres://a:${alnum(12)}@h/db\n`,
      );
      const env = { MYTV_DOTENV_DIR: dotenv, R2_ACCESS_KEY_ID: undefined, R2_SECRET_ACCESS_KEY: undefined };
      const r = await runEntryScript('scripts/secrets-check.ts', ['--env=staging', '--presence-only'], { env });
      expect(r.code).to.equal(1);
      expect(r.stdout).to.match(/JWT_SECRET\s+yes\s+yes\s+\.env\.staging/);
      expect(r.stderr).to.contain('missing required secrets R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY');
      expect(r.stdout + r.stderr).not.to.contain(secret);

      const ok = await runEntryScript('scripts/secrets-check.ts', ['--env=staging', '--presence-only', '--json'], {
        env: { ...env, R2_ACCESS_KEY_ID: 'id-from-env', R2_SECRET_ACCESS_KEY: alnum(40) },
      });
      expect(ok.code, ok.stderr).to.equal(0);
      const rows = (JSON.parse(ok.stdout) as { presence: { name: string; present: boolean; source: string }[] })
        .presence;
      expect(rows.find((x) => x.name === 'R2_ACCESS_KEY_ID')).to.include({ present: true, source: 'environment' });
      expect(ok.stdout).not.to.contain(secret);
    } finally {
      rmSync(dotenv, { recursive: true, force: true });
    }

    // The scan half, on a copy of the config in a scratch repository with one planted secret.
    const git = await gitRepo(tmp);
    for (const f of ['.secretlintrc.json', '.secretlintignore']) cpSync(fromRoot(f), path.join(tmp, f));
    writeFileSync(path.join(tmp, 'creds.env'), `JWT_SECRET=${alnum(40)}\n`);
    await git('add', '.');
    await git('commit', '-qm', 'planted');
    const history = await scanHistory(exec, tmp);
    expect(history.findings.map((f) => f.file)).to.deep.equal(['creds.env']);
  });
});
