// make infra-apply ENV=staging|prod — apply Terraform to the environment's Cloudflare zone and R2
// buckets: preflight and a saved plan (as make infra-plan), the destroy guard, confirmation for
// production, apply of exactly that saved plan, then a second plan to verify nothing is left.
// --dry-run stops after the plan.
import { UserError } from './lib/errors.js';
import { planInfrastructure } from './lib/infra/plan.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Apply Terraform to the Cloudflare zone and R2 buckets of an environment (exactly the plan shown).',
    usage: 'make infra-apply ENV=staging|prod [DRY_RUN=1] [YES=1] [ARGS=--allow-destroy]',
    options: { 'allow-destroy': { type: 'boolean' } },
    optionsHelp: '  --allow-destroy  allow a plan that destroys a DNS record, zone setting or bucket',
  },
  async (ctx) => {
    const { out, flags } = ctx;
    const plan = await planInfrastructure(ctx, { allowDestroy: Boolean(ctx.values['allow-destroy']) });
    const { env, terraform, planFile } = plan;
    if (plan.outcome === 'no-changes') {
      out.ok(`nothing to apply: ${env.name} already matches terraform/`);
      if (flags.json) out.data({ environment: env.name, applied: 0 });
      return;
    }
    if (flags.dryRun) {
      out.line(`dry run: plan saved at ${planFile}; nothing was applied`);
      return;
    }
    if (env.production) await ctx.confirm(`apply these ${plan.changes.length} change(s) to ${env.name}?`);

    out.step(`terraform apply ${planFile} (exactly the plan above)`);
    const applied = await terraform.apply(planFile);
    if (!applied.ok)
      throw new UserError(
        `terraform apply failed for ${env.name}: ${applied.output.split('\n').filter(Boolean).slice(-3).join(' | ')}`,
        {
          hint: `resources applied before the error stay applied (they are in the state); run make infra-plan ENV=${env.name} to see what remains`,
        },
      );

    out.step('verify: a new plan shows no changes');
    const after = await terraform.plan(`${planFile}.verify`);
    if (after === 'changes')
      out.warn(
        `${env.name} still differs from terraform/ after the apply (eventual consistency or drift): run make infra-plan ENV=${env.name}`,
      );
    out.ok(
      `applied ${plan.changes.length} change(s) to ${env.name}${after === 'no-changes' ? '; a new plan is clean' : ''}`,
    );
    if (flags.json) out.data({ environment: env.name, applied: plan.changes.length, clean: after === 'no-changes' });
  },
);
