// make infra-plan ENV=staging|prod — what Terraform would change in the environment's Cloudflare
// zone and R2 buckets: preflight, init, a saved plan summarised per resource type and action.
// Changes nothing; fails when the plan destroys a DNS record, zone setting or bucket unless
// --allow-destroy (so a CI plan of such a change is red).
import { planInfrastructure } from './lib/infra/plan.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Plan the Cloudflare zone and R2 buckets of an environment (terraform plan, saved and summarised).',
    usage: 'make infra-plan ENV=staging|prod [JSON=1] [ARGS=--allow-destroy]',
    options: { 'allow-destroy': { type: 'boolean' } },
    optionsHelp: '  --allow-destroy  do not fail when the plan destroys a DNS record, zone setting or bucket',
  },
  async (ctx) => {
    const plan = await planInfrastructure(ctx, { allowDestroy: Boolean(ctx.values['allow-destroy']) });
    if (ctx.flags.json)
      ctx.out.data({
        environment: plan.env.name,
        planFile: plan.planFile,
        outcome: plan.outcome,
        changes: plan.changes,
      });
    ctx.out.ok(
      plan.outcome === 'changes'
        ? `plan saved: ${plan.planFile} (${plan.changes.length} change(s)); apply it with make infra-apply ENV=${plan.env.name}`
        : `nothing to change in ${plan.env.name}`,
    );
  },
);
