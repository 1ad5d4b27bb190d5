// make migrate: applies app/migrations/*.sql that are not yet applied (the same runner the API
// image runs as its deploy job: `node dist/migrate.js`).
import { runMigrations } from '../app/src/db/migrator.js';
import { databaseUrlFrom, redactDatabaseUrl } from './lib/db-url.js';
import { loadEnvironment } from './lib/environments.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Apply pending SQL migrations (app/migrations) to a PostgreSQL database.',
    usage: 'make migrate [DATABASE_URL=postgres://…]  |  scripts/migrate.ts --database-url URL',
    options: { 'database-url': { type: 'string' } },
    optionsHelp: '  --database-url URL   target database (default: $DATABASE_URL)',
  },
  async ({ values, out, flags }) => {
    const url = databaseUrlFrom(values, loadEnvironment(flags.env).vars);
    out.step(`migrating ${redactDatabaseUrl(url)}`);
    if (flags.dryRun) {
      out.info('dry run: nothing applied');
      return;
    }
    const result = await runMigrations(url, { log: (line) => out.ok(line) });
    if (flags.json) out.data(result);
    out.ok(
      result.applied.length
        ? `schema is current (${result.applied.length} applied, ${result.alreadyApplied} already there)`
        : `schema is current (nothing to apply, ${result.alreadyApplied} migrations already there)`,
    );
  },
);
