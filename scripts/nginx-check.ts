// make nginx-check — every environment's Nginx config rendered from nginx/ and checked with
// `nginx -t` here (TLS sites get stand-in self-signed certificates): the same check deploy-nginx
// runs before it connects.
import { listEnvironments, loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { checkNginxConfig } from './lib/edge/check.js';

await runScript(
  { summary: 'Render nginx/ for every environment and run nginx -t on each.', usage: 'make nginx-check' },
  async ({ out, flags }) => {
    const rows: { environment: string; site: string; result: string }[] = [];
    const failed: string[] = [];
    for (const name of listEnvironments()) {
      const env = loadEnvironment(name);
      if (!env.nginx) {
        rows.push({ environment: name, site: '-', result: 'no nginx section' });
        continue;
      }
      const r = await checkNginxConfig(env);
      rows.push({ environment: name, site: r.rendered.site, result: r.ok ? 'nginx -t ok' : 'FAILED' });
      if (!r.ok)
        failed.push(
          `${name}: ${r.output
            .split('\n')
            .filter((l) => /emerg|error/.test(l))
            .join(' | ')}`,
        );
    }
    if (!flags.json) out.table(rows, ['environment', 'site', 'result']);
    if (flags.json) out.data(rows);
    if (failed.length > 0)
      throw new UserError(`nginx -t failed for ${failed.length} environment(s):\n  ${failed.join('\n  ')}`, {
        hint: 'fix nginx/ or the environment files; nothing was changed',
      });
    out.ok(`${rows.length} environment configs pass nginx -t`);
  },
);
