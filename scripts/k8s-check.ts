// make k8s-check: the offline checks of kustomize/ and helm/mytv-api, each reported (see
// scripts/lib/kube/checks.ts). What needs a cluster runs in the GitHub Actions workflow (README).
import { UserError } from './lib/errors.js';
import { runK8sChecks } from './lib/kube/checks.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Lint and render the chart and the overlays; check schemas, policy and staging/production consistency.',
    usage: 'make k8s-check [JSON=1]',
  },
  async ({ exec, out, flags }) => {
    const rows = await out.task('render and check every overlay and values file', () => runK8sChecks(exec));
    if (flags.json) out.data(rows);
    else
      out.table(
        rows.map((r) => ({ ...r, ok: r.ok ? 'ok' : 'FAILED' })),
        ['check', 'target', 'ok', 'detail'],
      );
    const failed = rows.filter((r) => !r.ok);
    if (failed.length)
      throw new UserError(
        `${failed.length} of ${rows.length} checks failed: ${failed.map((r) => `${r.check} ${r.target}`).join(', ')}`,
        {
          hint: 'fix kustomize/ or helm/mytv-api (details in the table)',
        },
      );
    if (!flags.json) out.ok(`all ${rows.length} checks passed`);
  },
);
