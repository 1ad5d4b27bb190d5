// make up: the local stack. Compose and native modes arrive with the local-stack issue.
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';

await runScript({ summary: 'Start the whole stack locally.', usage: 'make up [ENV=dev]' }, async ({ flags }) => {
  loadEnvironment(flags.env); // an unknown or invalid environment fails first, as everywhere
  throw new UserError('make up is not yet available: the local stack (compose and native mode) is still being built', {
    hint: 'meanwhile `make test` runs PostgreSQL and Redis through the service harness (scripts/lib/services)',
  });
});
