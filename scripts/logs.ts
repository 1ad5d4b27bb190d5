// make logs (and the canned views logs-errors, logs-slow, logs-audit, logs-request): the logs of
// any environment with one set of options — Loki's HTTP API where the environment has Loki, the
// local stack's files otherwise. The whole mechanism is in scripts/lib/logs/.
import { logsDefinition, runLogs } from './lib/logs/command.js';
import { runScript } from './lib/main.js';

await runScript(logsDefinition, (ctx) => runLogs(ctx));
