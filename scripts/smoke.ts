// make smoke ENV=…: after a deploy, the API as its users reach it (environments/<env>.yaml
// api.publicUrl): readiness and one read endpoint answer 200, retried until a deadline.
import { loadEnvironment } from './lib/environments.js';
import { intOption } from './lib/cli.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';

const CHECKS = [
  { path: '/health/ready', what: 'readiness' },
  { path: '/v2/channels?limit=1', what: 'a read endpoint' },
];

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
    const deadline = Date.now() + intOption(values.timeout, 'timeout', { default: 120, min: 1, max: 3600 }) * 1000;
    const rows: { check: string; url: string; status: string }[] = [];
    for (const c of CHECKS) {
      const url = new URL(c.path, base).toString();
      let last: string;
      for (;;) {
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { 'user-agent': 'mytv-smoke' } });
          await res.arrayBuffer();
          last = String(res.status);
          if (res.status === 200) break;
        } catch (err) {
          last = (err as Error).message;
        }
        if (Date.now() > deadline) {
          throw new UserError(`${env.name} smoke check failed: ${c.what} ${url} answered ${last}`, {
            hint: `roll back with make rollback-${env.name}`,
          });
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
      rows.push({ check: c.what, url, status: last });
    }
    if (flags.json) out.data(rows);
    else {
      out.table(rows);
      out.ok(`${env.name} answers through ${base.origin}`);
    }
  },
);
