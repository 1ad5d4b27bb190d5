// make seed: loads the deterministic dataset (N channels and their programmes around now).
import { Redis } from 'ioredis';
import { seedDatabase } from '../app/src/db/seed.js';
import { intOption } from './lib/cli.js';
import { UsageError } from './lib/errors.js';
import { databaseUrlFrom, redactDatabaseUrl } from './lib/db-url.js';
import { loadEnvironment } from './lib/environments.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Replace the seed data set (channels seed-NNNN and their programmes) in PostgreSQL.',
    usage: 'make seed [CHANNELS=50] | scripts/seed.ts --database-url URL --channels 50',
    options: {
      'database-url': { type: 'string' },
      'redis-url': { type: 'string' },
      channels: { type: 'string' },
      seed: { type: 'string' },
      anchor: { type: 'string' },
      'hours-before': { type: 'string' },
      'hours-after': { type: 'string' },
    },
    optionsHelp: [
      '  --database-url URL   target database (default: $DATABASE_URL)',
      '  --channels N         number of channels (default: $SEED_CHANNELS or 50)',
      '  --seed N             pseudo-random seed (default 42): same seed, same data',
      '  --anchor ISO         centre of the programme grid (default: start of the current hour)',
      '  --hours-before H     programmes before the anchor (default 12)',
      '  --hours-after H      programmes after the anchor (default 36)',
      '  --redis-url URL      also drop the API cache there (default: $REDIS_URL, if set)',
    ].join('\n'),
  },
  async ({ values, out, flags }) => {
    const vars = loadEnvironment(flags.env).vars;
    const url = databaseUrlFrom(values, vars);
    const channels = intOption(values.channels ?? process.env.SEED_CHANNELS, 'channels', {
      default: 50,
      min: 0,
      max: 100_000,
    });
    const seed = intOption(values.seed, 'seed', { default: 42, min: 0, max: 2 ** 31 });
    const hoursBefore = intOption(values['hours-before'], 'hours-before', { default: 12, min: 0, max: 24 * 30 });
    const hoursAfter = intOption(values['hours-after'], 'hours-after', { default: 36, min: 0, max: 24 * 30 });
    let anchor: Date | undefined;
    if (values.anchor !== undefined) {
      anchor = new Date(String(values.anchor));
      if (Number.isNaN(anchor.getTime())) throw new UsageError('--anchor must be an ISO 8601 date-time');
    }
    out.step(`seeding ${channels} channels into ${redactDatabaseUrl(url)}`);
    if (flags.dryRun) return;
    const result = await seedDatabase(url, { channels, seed, anchor, hoursBefore, hoursAfter });
    const redisUrl = (values['redis-url'] as string | undefined) ?? vars.REDIS_URL;
    if (redisUrl) {
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        await redis.del('mytv:cache:v1:channels', 'mytv:cache:v1:epg');
        out.ok('API cache dropped');
      } finally {
        redis.disconnect();
      }
    }
    if (flags.json) out.data(result);
    out.ok(`${result.channels} channels, ${result.programmes} programmes from ${result.from} to ${result.to}`);
  },
);
