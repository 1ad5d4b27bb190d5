// make typecheck: tsc over scripts, tests and the app (no output files).
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { fromRoot, repoRoot } from './lib/paths.js';

await runScript(
  { summary: 'Type-check scripts, tests and the app with tsc.', usage: 'make typecheck' },
  async ({ exec, out }) => {
    const r = await exec.run(fromRoot('node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json', '--pretty', 'false'], {
      cwd: repoRoot,
      readOnly: true,
      nothrow: true,
      timeoutMs: 600_000,
    });
    if (r.exitCode !== 0) {
      out.line((r.stdout + r.stderr).trim());
      throw new UserError('type check failed', { hint: 'fix the errors listed above' });
    }
    out.ok('type check clean');
  },
);
