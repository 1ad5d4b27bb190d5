// make logs-local: make logs on the local stack's files (native run directory or compose), the same
// options and the same implementation (scripts/lib/logs/), whatever the environment has.
import { logsDefinition, runLogs } from './lib/logs/command.js';
import { runScript } from './lib/main.js';

await runScript(
  { ...logsDefinition, summary: 'Show the local stack logs (native files or compose), filtered and merged by time.' },
  (ctx) => runLogs(ctx, { forceLocal: true }),
);
