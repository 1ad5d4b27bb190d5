import pg from 'pg';

/**
 * Deterministic dataset for tests, load and backup drills: N channels (slugs `seed-0001`…) and a
 * programme grid around an anchor time. Same seed + same N + same anchor = same rows. Re-running
 * replaces the seed set (and only it) in one transaction.
 */

export const SEED_SLUG_PREFIX = 'seed-';

export interface SeedOptions {
  channels: number;
  /** Pseudo-random seed. */
  seed?: number;
  /** Programmes are generated for [anchor - hoursBefore, anchor + hoursAfter]; anchor = start of the current hour. */
  anchor?: Date;
  hoursBefore?: number;
  hoursAfter?: number;
  /**
   * Load only into a database without any channel (what `make up` asks: it never overwrites data
   * an operator changed or restored). When channels exist nothing is written and `kept` says so.
   */
  onlyIntoEmpty?: boolean;
}

export interface SeedResult {
  channels: number;
  programmes: number;
  from: string;
  to: string;
  /** With onlyIntoEmpty on a database that has channels: how many, and where their schedule ends (ISO-8601, absent when none). */
  kept?: { channels: number; scheduleEnds?: string };
}

const CATEGORIES = ['news', 'sport', 'movies', 'kids', 'music', 'documentary', 'entertainment', 'lifestyle'];
const COUNTRIES = ['GB', 'FR', 'DE', 'ES', 'IT', 'NL', 'US', 'PT'];
const WORDS = ['One', 'Plus', 'Max', 'Prime', 'Live', 'World', 'City', 'Gold', 'Nova', 'Star', 'Wave', 'Arena'];
const TITLES = [
  'Morning Briefing',
  'Match Day',
  'The Late Show',
  'Wildlife Diaries',
  'Cartoon Club',
  'Top 40',
  'Evening News',
  'Cinema Classics',
  'Kitchen Stories',
  'Science Hour',
  'Weekend Review',
  'Night Jazz',
  'Travel Notes',
  'Quiz Time',
  'History Lens',
  'Market Watch',
];
const DURATIONS_MIN = [15, 30, 30, 45, 60, 60, 90, 120];

/** mulberry32: tiny, fast, good enough, and identical on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function startOfHour(date = new Date()): Date {
  return new Date(Math.floor(date.getTime() / 3600_000) * 3600_000);
}

export function generateSeedData(options: SeedOptions) {
  const random = prng(options.seed ?? 42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const anchor = startOfHour(options.anchor);
  const from = new Date(anchor.getTime() - (options.hoursBefore ?? 12) * 3600_000);
  const to = new Date(anchor.getTime() + (options.hoursAfter ?? 36) * 3600_000);
  const channels = [];
  const programmes = [];
  for (let i = 1; i <= options.channels; i++) {
    const category = pick(CATEGORIES);
    const slug = `${SEED_SLUG_PREFIX}${String(i).padStart(4, '0')}`;
    channels.push({
      slug,
      name: `${pick(WORDS)} ${category[0].toUpperCase()}${category.slice(1)} ${i}`,
      category,
      country: pick(COUNTRIES),
      position: i,
      active: random() > 0.05,
    });
    let start = from.getTime();
    while (start < to.getTime()) {
      const minutes = pick(DURATIONS_MIN);
      const end = start + minutes * 60_000;
      const title = pick(TITLES);
      programmes.push({
        slug,
        title,
        start: new Date(start),
        end: new Date(end),
        description: `${title} on channel ${i}.`,
        category,
      });
      start = end;
    }
  }
  return { channels, programmes, from, to };
}

export async function seedDatabase(databaseUrl: string, options: SeedOptions): Promise<SeedResult> {
  const data = generateSeedData(options);
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'mytv-seed' });
  await client.connect();
  try {
    await client.query('BEGIN');
    if (options.onlyIntoEmpty) {
      const present = await client.query<{ n: number; ends: Date | null }>(
        'SELECT (SELECT count(*)::int FROM channels) AS n, (SELECT max(ends_at) FROM programmes) AS ends',
      );
      const { n, ends } = present.rows[0];
      if (n > 0) {
        await client.query('ROLLBACK');
        return {
          channels: 0,
          programmes: 0,
          from: data.from.toISOString(),
          to: data.to.toISOString(),
          kept: { channels: n, ...(ends ? { scheduleEnds: ends.toISOString() } : {}) },
        };
      }
    }
    await client.query(`DELETE FROM channels WHERE slug LIKE $1`, [`${SEED_SLUG_PREFIX}%`]);
    const c = data.channels;
    await client.query(
      `INSERT INTO channels (slug, name, category, country, position, active)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bool[])`,
      [
        c.map((x) => x.slug),
        c.map((x) => x.name),
        c.map((x) => x.category),
        c.map((x) => x.country),
        c.map((x) => x.position),
        c.map((x) => x.active),
      ],
    );
    const p = data.programmes;
    const chunk = 20_000;
    for (let i = 0; i < p.length; i += chunk) {
      const part = p.slice(i, i + chunk);
      await client.query(
        `INSERT INTO programmes (channel_id, title, starts_at, ends_at, description, category)
         SELECT ch.id, x.title, x.starts_at, x.ends_at, x.description, x.category
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[])
           AS x(slug, title, starts_at, ends_at, description, category)
         JOIN channels ch ON ch.slug = x.slug`,
        [
          part.map((x) => x.slug),
          part.map((x) => x.title),
          part.map((x) => x.start),
          part.map((x) => x.end),
          part.map((x) => x.description),
          part.map((x) => x.category),
        ],
      );
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
  return {
    channels: data.channels.length,
    programmes: data.programmes.length,
    from: data.from.toISOString(),
    to: data.to.toISOString(),
  };
}
