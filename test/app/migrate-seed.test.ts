// Migrations and seed data against a real PostgreSQL, through the library and the entry scripts.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import pg from 'pg';
import { defaultMigrationsDir, runMigrations } from '../../app/src/db/migrator.js';
import { generateSeedData, seedDatabase } from '../../app/src/db/seed.js';
import { useServices } from '../support/services.js';
import { ROOT } from './support.js';

const run = promisify(execFile);
const script = (name: string, args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--import', '@swc-node/register/esm-register', path.join(ROOT, 'scripts', name), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });

describe('app: migrations and seed data', function () {
  const stack = useServices(['postgres']);
  const url = () => stack().info<{ url: string }>('postgres').url;
  const query = async <R extends pg.QueryResultRow>(sql: string, values?: unknown[]) => {
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      return (await client.query<R>(sql, values)).rows;
    } finally {
      await client.end();
    }
  };

  it('make migrate (scripts/migrate.ts) applies the schema once, then has nothing to do', async function () {
    const first = await script('migrate.ts', ['--database-url', url()]);
    expect(first.stdout).to.match(/applied 001_init/);
    expect(first.stdout).to.not.include(new URL(url()).password);
    const second = await script('migrate.ts', [], { DATABASE_URL: url() });
    expect(second.stdout).to.match(/nothing to apply/);
    const rows = await query<{ version: number }>('SELECT version FROM schema_migrations');
    expect(rows.map((r) => r.version)).to.deep.equal([1]);
  });

  it('refuses to run without a database, as a usage error', async function () {
    try {
      await script('migrate.ts', []);
      expect.fail('should have failed');
    } catch (err) {
      const e = err as { code: number; stderr: string };
      expect(e.code).to.equal(2);
      expect(e.stderr).to.match(/^error: no database given\n\s+hint: .*DATABASE_URL/);
    }
  });

  it('serialises concurrent runners and rejects an edited, already applied migration', async function () {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-migrations-'));
    try {
      copyFileSync(path.join(defaultMigrationsDir(), '001_init.sql'), path.join(dir, '001_init.sql'));
      writeFileSync(path.join(dir, '002_slow.sql'), 'SELECT pg_sleep(0.5); CREATE TABLE concurrency_probe (id int);');
      const results = await Promise.all([runMigrations(url(), { dir }), runMigrations(url(), { dir })]);
      expect(results.map((r) => r.applied).flat()).to.deep.equal(['002_slow']);
      writeFileSync(path.join(dir, '002_slow.sql'), 'CREATE TABLE concurrency_probe (id bigint);');
      let message = '';
      await runMigrations(url(), { dir }).catch((e: Error) => (message = e.message));
      expect(message).to.match(/002_slow was changed after it was applied/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await query('DROP TABLE IF EXISTS concurrency_probe');
      await query('DELETE FROM schema_migrations WHERE version > 1');
    }
  });

  it('generates the same data for the same seed and anchor', function () {
    const anchor = new Date('2030-06-01T10:20:00Z');
    const a = generateSeedData({ channels: 20, anchor });
    const b = generateSeedData({ channels: 20, anchor });
    expect(JSON.stringify(a)).to.equal(JSON.stringify(b));
    expect(JSON.stringify(generateSeedData({ channels: 20, anchor, seed: 7 }))).to.not.equal(JSON.stringify(a));
    // Gapless, non-overlapping grid per channel covering the window.
    const first = a.programmes.filter((p) => p.slug === 'seed-0001');
    for (let i = 1; i < first.length; i++) expect(first[i].start.getTime()).to.equal(first[i - 1].end.getTime());
    expect(first[0].start.toISOString()).to.equal('2030-05-31T22:00:00.000Z');
  });

  it('make seed (scripts/seed.ts) replaces only the seed set, idempotently', async function () {
    await query(
      `INSERT INTO channels (slug, name, category, country, position) VALUES ('kept-channel', 'Kept', 'news', 'GB', 0)`,
    );
    const out = await script('seed.ts', [
      '--database-url',
      url(),
      '--channels',
      '25',
      '--anchor',
      '2030-06-01T10:00:00Z',
    ]);
    expect(out.stdout).to.match(/25 channels, \d+ programmes/);
    const snapshot = () =>
      query<{ slug: string; n: number; titles: string }>(
        `SELECT c.slug, count(p.id)::int AS n, string_agg(p.title || p.starts_at::text, ',' ORDER BY p.starts_at) AS titles
         FROM channels c LEFT JOIN programmes p ON p.channel_id = c.id GROUP BY c.slug ORDER BY c.slug`,
      );
    const before = await snapshot();
    const again = await seedDatabase(url(), { channels: 25, anchor: new Date('2030-06-01T10:00:00Z') });
    expect(again.channels).to.equal(25);
    expect(await snapshot()).to.deep.equal(before);
    expect(before.map((r) => r.slug)).to.include('kept-channel');
    expect(before.filter((r) => r.slug.startsWith('seed-'))).to.have.length(25);
    await seedDatabase(url(), { channels: 5 });
    const slugs = (await query<{ slug: string }>('SELECT slug FROM channels ORDER BY slug')).map((r) => r.slug);
    expect(slugs).to.deep.equal(['kept-channel', 'seed-0001', 'seed-0002', 'seed-0003', 'seed-0004', 'seed-0005']);
  });
  it('onlyIntoEmpty (make up) loads an empty database and never overwrites one that has channels', async function () {
    await query('DELETE FROM channels');
    const first = await seedDatabase(url(), {
      channels: 3,
      anchor: new Date('2030-06-01T10:00:00Z'),
      onlyIntoEmpty: true,
    });
    expect(first.kept).to.equal(undefined);
    expect(first.channels).to.equal(3);
    await query(`UPDATE channels SET name = 'Edited by an operator' WHERE slug = 'seed-0002'`);
    const again = await seedDatabase(url(), { channels: 5, onlyIntoEmpty: true });
    expect(again.kept?.channels).to.equal(3);
    // The last programme ends at or after the generated window's end.
    expect(Date.parse(again.kept!.scheduleEnds!)).to.be.at.least(Date.parse(first.to));
    const rows = await query<{ slug: string; name: string }>('SELECT slug, name FROM channels ORDER BY slug');
    expect(rows.map((r) => r.slug)).to.deep.equal(['seed-0001', 'seed-0002', 'seed-0003']);
    expect(rows[1].name).to.equal('Edited by an operator');
  });
});
