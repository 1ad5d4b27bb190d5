import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { fromRoot, repoRoot } from '../../scripts/lib/paths.js';
import { runEntryScript } from '../support/run-script.js';
import { expectEvery } from '../support/assertions.js';

const run = promisify(execFile);

/** Public targets: those with a `## description`. */
function documentedTargets(): string[] {
  return [...readFileSync(fromRoot('Makefile'), 'utf8').matchAll(/^([a-zA-Z0-9_-]+):[^\n]*## /gm)].map((m) => m[1]);
}

describe('Makefile, make help and README stay true', () => {
  it('make help is the default target and lists every documented target', async () => {
    const { stdout } = await run('make', ['--no-print-directory'], { cwd: repoRoot });
    const targets = documentedTargets();
    expect(targets).to.include.members(['help', 'setup', 'up', 'test', 'lint']);
    for (const t of targets) expect(stdout, t).to.match(new RegExp(`^  ${t} +\\S`, 'm'));
  });

  it('every target is .PHONY or a real file', () => {
    const text = readFileSync(fromRoot('Makefile'), 'utf8');
    const phony = new Set([...text.matchAll(/^\.PHONY: (.+)$/gm)].flatMap((m) => m[1].split(/\s+/)));
    for (const t of documentedTargets()) expect(phony.has(t), `${t} is not .PHONY`).to.equal(true);
  });

  it('the README lists exactly the targets make help lists', () => {
    const readme = readFileSync(fromRoot('README.md'), 'utf8');
    const listed = [...readme.matchAll(/^\| `make ([a-z0-9-]+)/gm)].map((m) => m[1]);
    expect([...new Set(listed)].sort()).to.deep.equal(documentedTargets().sort());
  });

  it('a second make setup has nothing left to do', async function () {
    this.timeout(120_000);
    // make setup has already run once (CI and make test start with it): this run is the second.
    const stamp = fromRoot('node_modules', '.mytv-npm-ci');
    const stampBefore = statSync(stamp).mtimeMs;
    const setup = await run('make', ['--no-print-directory', 'setup'], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
    });
    const printed = setup.stdout + setup.stderr;
    expect(printed).to.contain('setup complete');
    expect(printed).to.not.match(/npm ci|installing Debian packages|unpacking helm/);
    expect(statSync(stamp).mtimeMs, 'npm ci ran again').to.equal(stampBefore);
    // And the dry run plans no change either.
    const r = await runEntryScript('scripts/setup.ts', ['--dry-run']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).not.to.contain('would ');
    expect(r.stdout).to.match(/^helm\s+3\.\d+\.\d+\s+ok/m);
    expect(r.stdout).to.match(/^postgres\s+15\.\d+\s+ok/m);
  });

  it('setup --json reports every tool with its version', async () => {
    const r = await runEntryScript('scripts/setup.ts', ['--json', '--dry-run']);
    const rows = JSON.parse(r.stdout) as { tool: string; version: string; ok: string }[];
    expect(rows.map((x) => x.tool)).to.include.members([
      'node',
      'postgres',
      'redis-server',
      'helm',
      'kubectl',
      'yamllint',
    ]);
    expectEvery(rows, (x) => x.ok === 'ok', 'setup tool rows');
  });

  it('make up with an unknown environment fails in one line with exit 2', async () => {
    const r = await runEntryScript('scripts/up.ts', ['--env=qa']);
    expect(r.code).to.equal(2);
    expect(r.stderr.split('\n')[0]).to.match(/^error: unknown environment 'qa'/);
  });
});
