// make seed: loads the deterministic dataset (N channels and their programmes around now).
import { Redis } from 'ioredis';
import { seedDatabase } from '../app/src/db/seed.js';
import { UsageError } from './lib/errors.js';
import { databaseUrlFrom, redactDatabaseUrl } from './lib/db-url.js';
import { loadEnvironment } from './lib/environments.js';
import { runScript } from './lib/main.js';

function positiveInt(name: string, raw: unknown, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new UsageError(`--${name} must be an integer between 0 and ${max} (got ${JSON.stringify(raw)})`);
  }
  return n;
}

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
    const channels = positiveInt('channels', values.channels ?? process.env.SEED_CHANNELS, 50, 100_000);
    const seed = positiveInt('seed', values.seed, 42, 2 ** 31);
    const hoursBefore = positiveInt('hours-before', values['hours-before'], 12, 24 * 30);
    const hoursAfter = positiveInt('hours-after', values['hours-after'], 36, 24 * 30);
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
