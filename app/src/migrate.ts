import { defaultMigrationsDir, runMigrations } from './db/migrator.js';

/**
 * Deploy-time job: `node dist/migrate.js` with DATABASE_URL set. Safe to run from several
 * replicas at once (advisory lock); exits 0 when the schema is current.
 */
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  process.stderr.write('DATABASE_URL is required\n');
  process.exit(78);
}
try {
  const result = await runMigrations(databaseUrl, {
    dir: process.env.MIGRATIONS_DIR ?? defaultMigrationsDir(),
    log: (line) => process.stdout.write(`${JSON.stringify({ level: 'info', message: line, log_type: 'migrate' })}\n`),
  });
  process.stdout.write(
    `${JSON.stringify({ level: 'info', message: 'schema is current', log_type: 'migrate', applied: result.applied.length, already_applied: result.alreadyApplied })}\n`,
  );
} catch (err) {
  process.stderr.write(`${JSON.stringify({ level: 'error', message: (err as Error).message, log_type: 'migrate' })}\n`);
  process.exit(1);
}
