// make env-check ENV=…: loads and validates one environment (or all with --all) and prints it.
import { loadEnvironment, listEnvironments } from './lib/environments.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Validate environment descriptions (environments/*.yaml + .env files) and show them.',
    usage: 'make env-check [ENV=dev|staging|prod] [ARGS=--all]',
    options: { all: { type: 'boolean' } },
    optionsHelp: '      --all        validate every environment',
  },
  async ({ flags, values, out }) => {
    const names = values.all ? listEnvironments() : [flags.env];
    const rows = names.map((name) => {
      const e = loadEnvironment(name);
      return {
        name: e.name,
        production: e.production,
        url: e.api.publicUrl,
        replicas: e.api.replicas,
        deploy: e.deploy.kind,
      };
    });
    if (flags.json) out.data(rows);
    else {
      out.table(rows);
      out.ok(`${rows.length} environment${rows.length > 1 ? 's' : ''} valid`);
    }
  },
);
