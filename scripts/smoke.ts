// make smoke ENV=…: after a deploy, the API as its users reach it (environments/<env>.yaml
// api.publicUrl): readiness and one read endpoint answer 200, retried until a deadline. The
// checks are the deploy's own verification (scripts/lib/kube/verify.ts), run on their own.
import { loadEnvironment } from './lib/environments.js';
import { intOption } from './lib/cli.js';
import { UserError } from './lib/errors.js';
import { verifyPublic } from './lib/kube/verify.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Smoke-check an environment through its public URL: readiness and a read endpoint answer 200.',
    usage: 'make smoke ENV=staging|prod [ARGS="--timeout=120 --url=URL"]',
    options: { timeout: { type: 'string' }, url: { type: 'string' } },
    optionsHelp:
      '      --timeout=SECONDS  keep retrying this long (default 120)\n      --url=URL          check this base URL instead of api.publicUrl',
  },
  async ({ flags, values, out }) => {
    const env = loadEnvironment(flags.env);
    const base = new URL((values.url as string | undefined) ?? env.api.publicUrl);
    const timeoutMs = intOption(values.timeout, 'timeout', { default: 120, min: 1, max: 3600 }) * 1000;
    const checks = await verifyPublic(base.origin + base.pathname, timeoutMs);
    const rows = checks.map((c) => ({ url: c.url, ok: c.ok ? 'ok' : 'FAILED', status: c.detail }));
    const failed = checks.filter((c) => !c.ok);
    if (failed.length > 0) {
      throw new UserError(
        `${env.name} smoke check failed: ${failed.map((c) => `${c.url} answered ${c.detail}`).join('; ')}`,
        { hint: `roll back with make rollback-${env.name}` },
      );
    }
    if (flags.json) out.data(rows);
    else {
      out.table(rows);
      out.ok(`${env.name} answers through ${base.origin}`);
    }
  },
);
