// make test / make test-only: mocha (through c8 for coverage) over test/**; the last line is the
// plain count "N passed, N failed" that CI reads.
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { fromRoot, repoRoot } from './lib/paths.js';
import { spawn } from 'node:child_process';
import { toolEnvPath } from './lib/tools.js';

await runScript(
  {
    summary: 'Run the mocha tests with coverage.',
    usage: 'make test | make test-only [SPEC=path] [GREP=text]',
    options: { spec: { type: 'string' }, grep: { type: 'string' }, 'no-coverage': { type: 'boolean' } },
    optionsHelp:
      '      --spec PATH  a test file or folder\n      --grep TEXT  only tests whose title matches\n      --no-coverage',
  },
  async ({ values }) => {
    // The default spec lives here, not in .mocharc: a spec there is merged into every mocha run,
    // including the child runs some tests start on purpose.
    const spec = values.spec ? String(values.spec) : 'test';
    const mochaArgs = [spec.endsWith('.ts') ? spec : `${spec.replace(/\/$/, '')}/**/*.test.ts`];
    if (values.grep) mochaArgs.push('--grep', String(values.grep));
    const coverage = !values['no-coverage'];
    const cmd = coverage ? fromRoot('node_modules', '.bin', 'c8') : fromRoot('node_modules', '.bin', 'mocha');
    const args = coverage
      ? [
          '--reporter=text-summary',
          '--reporter=html',
          // coverage/coverage-summary.json: read by make coverage-check (CI's quality gate).
          '--reporter=json-summary',
          '--reports-dir=coverage',
          '--exclude=test/**',
          '--exclude=**/node_modules/**',
          fromRoot('node_modules', '.bin', 'mocha'),
          ...mochaArgs,
        ]
      : mochaArgs;
    // Streamed, not captured: test output is long and people watch it.
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(cmd, args, { cwd: repoRoot, stdio: 'inherit', env: { ...process.env, PATH: toolEnvPath() } });
      child.on('error', reject);
      child.on('close', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
    });
    if (code !== 0) throw new UserError(`tests failed (exit ${code})`, { hint: 'the failing tests are listed above' });
  },
);
