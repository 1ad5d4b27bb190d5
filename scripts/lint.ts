// make lint: every linter the repository uses, each reported, all run even when one fails.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { fromRoot, repoRoot } from './lib/paths.js';
import { requireTool } from './lib/tools.js';

/** Config directories whose YAML yamllint checks (Helm templates are Go templates, not YAML). */
const YAML_DIRS = [
  'environments',
  'compose',
  'kustomize',
  'helm',
  'prometheus',
  'alertmanager',
  'grafana',
  'loki',
  '.github',
];

function walk(dir: string, keep: (f: string) => boolean, skip: (d: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const p = path.join(dir, entry);
    if (statSync(p).isDirectory()) {
      if (!skip(p)) out.push(...walk(p, keep, skip));
    } else if (keep(p)) out.push(p);
  }
  return out;
}

const skipDirs = (d: string): boolean =>
  /(^|\/)(node_modules|dist|coverage|\.tools|\.run|\.git|templates|\.husky\/_)$/.test(d);

await runScript(
  {
    summary: 'Run ESLint, Prettier, yamllint and shellcheck.',
    usage: 'make lint [FIX=1]',
    options: { fix: { type: 'boolean' } },
    optionsHelp: '      --fix        let ESLint and Prettier fix what they can',
  },
  async ({ values, exec, out }) => {
    const fix = Boolean(values.fix);
    const bin = (name: string): string => fromRoot('node_modules', '.bin', name);
    const yamlFiles = YAML_DIRS.flatMap((d) => walk(fromRoot(d), (f) => /\.ya?ml$/.test(f), skipDirs)).map((f) =>
      path.relative(repoRoot, f),
    );
    const shellFiles = [
      ...walk(repoRoot, (f) => f.endsWith('.sh'), skipDirs),
      ...['.ci/run'].map((f) => fromRoot(f)).filter(existsSync),
    ].map((f) => path.relative(repoRoot, f));

    const steps: { name: string; cmd: string; args: string[]; files: number | string }[] = [
      { name: 'eslint', cmd: bin('eslint'), args: [...(fix ? ['--fix'] : []), '--max-warnings=0', '.'], files: 'ts' },
      {
        name: 'prettier',
        cmd: bin('prettier'),
        args: [fix ? '--write' : '--check', '--log-level=warn', '.'],
        files: 'all',
      },
      {
        name: 'yamllint',
        cmd: requireTool('yamllint'),
        args: ['--strict', '-c', '.yamllint.yaml', ...yamlFiles],
        files: yamlFiles.length,
      },
      { name: 'shellcheck', cmd: requireTool('shellcheck'), args: shellFiles, files: shellFiles.length },
    ];
    const rows = [];
    const failures: string[] = [];
    for (const s of steps) {
      if (typeof s.files === 'number' && s.files === 0) {
        rows.push({ check: s.name, files: 0, result: 'nothing to check' });
        continue;
      }
      const r = await exec.run(s.cmd, s.args, { cwd: repoRoot, readOnly: true, nothrow: true, timeoutMs: 600_000 });
      const ok = r.exitCode === 0;
      if (!ok) {
        failures.push(s.name);
        out.line(`--- ${s.name} ---`);
        out.line((r.stdout + r.stderr).trim());
      }
      rows.push({ check: s.name, files: s.files, result: ok ? 'ok' : 'FAILED' });
    }
    out.table(rows);
    if (failures.length > 0) {
      throw new UserError(`lint failed: ${failures.join(', ')}`, {
        hint: 'see the output above; `make lint FIX=1` fixes formatting and fixable ESLint rules',
      });
    }
  },
);
