import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { CacheService, type CacheLookup } from '../cache/cache.service.js';
import { ChannelsService } from '../channels/channels.service.js';
import { DatabaseService } from '../db/database.service.js';
import {
  type ImportProgrammes,
  type NowNextQuery,
  type ProgrammeRow,
  type ProgrammeView,
  toProgrammeView,
} from './programme.schemas.js';

interface NowNextRow extends Partial<ProgrammeRow> {
  slug: string;
  name: string;
  category_name: string;
  position: number;
  logo_key: string | null;
}

interface NowNextEntry {
  channel: { slug: string; name: string; category: string; position: number; logo_url: string | null };
  now: ProgrammeView | null;
  next: ProgrammeView | null;
}

@Injectable()
export class ProgrammesService {
  constructor(
    @Inject(DatabaseService) private readonly db: DatabaseService,
    @Inject(CacheService) private readonly cache: CacheService,
    @Inject(ChannelsService) private readonly channels: ChannelsService,
  ) {}

  /** A channel's schedule for [from, to): programmes overlapping the window. */
  schedule(slug: string, from: Date, to: Date): Promise<CacheLookup> {
    return this.cache.getOrLoad('epg', `schedule:${slug}:${from.getTime()}:${to.getTime()}`, async () => {
      const channel = await this.channels.findRow(slug);
      const { rows } = await this.db.query<ProgrammeRow>(
        `SELECT title, starts_at, ends_at, description, category FROM programmes
         WHERE channel_id = $1 AND starts_at < $3 AND ends_at > $2
         ORDER BY starts_at`,
        [channel.id, from, to],
      );
      return {
        body: JSON.stringify({
          channel: slug,
          from: from.toISOString(),
          to: to.toISOString(),
          data: rows.map(toProgrammeView),
        }),
      };
    });
  }

  /**
   * Now and next for one channel (slug) or every active channel. Without `at` the answer is for
   * the current time and is cached only until the earliest programme boundary it contains.
   */
  nowNext(query: NowNextQuery, slug?: string): Promise<CacheLookup> {
    const field = `nownext:${slug ?? '*'}:${query.category ?? ''}:${query.at ? Date.parse(query.at) : 'now'}`;
    return this.cache.getOrLoad('epg', field, async () => {
      const at = query.at ? new Date(query.at) : new Date();
      const where: string[] = [];
      const values: unknown[] = [at];
      if (slug !== undefined) {
        values.push(slug);
        where.push(`c.slug = $${values.length}`);
      } else {
        where.push('c.active');
      }
      if (query.category !== undefined) {
        values.push(query.category);
        where.push(`c.category = $${values.length}`);
      }
      const { rows } = await this.db.query<NowNextRow>(
        `SELECT c.slug, c.name, c.category AS category_name, c.position, c.logo_key,
                p.title, p.starts_at, p.ends_at, p.description, p.category
         FROM channels c
         LEFT JOIN LATERAL (
           SELECT title, starts_at, ends_at, description, category FROM programmes
           WHERE channel_id = c.id AND ends_at > $1
           ORDER BY starts_at LIMIT 2
         ) p ON true
         WHERE ${where.join(' AND ')}
         ORDER BY c.position, c.slug, p.starts_at`,
        values,
      );
      if (slug !== undefined && rows.length === 0) {
        throw new NotFoundException(`channel ${slug} not found`);
      }
      const entries = new Map<string, NowNextEntry>();
      let validUntil = at.getTime() + 3600_000;
      for (const row of rows) {
        let entry = entries.get(row.slug);
        if (!entry) {
          entry = {
            channel: {
              slug: row.slug,
              name: row.name,
              category: row.category_name,
              position: row.position,
              logo_url: null,
            },
            now: null,
            next: null,
          };
          entry.channel.logo_url = await this.channels.logoUrl(row.logo_key);
          entries.set(row.slug, entry);
        }
        if (!row.starts_at || !row.ends_at) continue;
        const view = toProgrammeView(row as ProgrammeRow);
        if (!entry.now && !entry.next && row.starts_at <= at) {
          entry.now = view;
          validUntil = Math.min(validUntil, row.ends_at.getTime());
        } else if (!entry.next) {
          entry.next = view;
          if (!entry.now) validUntil = Math.min(validUntil, row.starts_at.getTime());
        }
      }
      const data = [...entries.values()];
      const body = JSON.stringify(
        slug !== undefined ? { at: at.toISOString(), data: data[0] } : { at: at.toISOString(), data },
      );
      return { body, validUntil: query.at ? undefined : validUntil };
    });
  }

  /**
   * Bulk import: replaces the channel's programmes overlapping the imported span with the given
   * list, in one transaction.
   */
  async import(
    slug: string,
    input: ImportProgrammes,
  ): Promise<{ imported: number; replaced: number; from: string; to: string }> {
    const channel = await this.channels.findRow(slug);
    const starts = input.programmes.map((p) => new Date(p.start));
    const ends = input.programmes.map((p) => new Date(p.end));
    const from = new Date(Math.min(...starts.map((d) => d.getTime())));
    const to = new Date(Math.max(...ends.map((d) => d.getTime())));
    const result = await this.db.transaction(async (client) => {
      const removed = await client.query(
        'DELETE FROM programmes WHERE channel_id = $1 AND starts_at < $3 AND ends_at > $2',
        [channel.id, from, to],
      );
      const inserted = await client.query(
        `INSERT INTO programmes (channel_id, title, starts_at, ends_at, description, category)
         SELECT $1, * FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[])`,
        [
          channel.id,
          input.programmes.map((p) => p.title),
          starts,
          ends,
          input.programmes.map((p) => p.description ?? null),
          input.programmes.map((p) => p.category ?? null),
        ],
      );
      return { imported: inserted.rowCount ?? 0, replaced: removed.rowCount ?? 0 };
    });
    await this.cache.invalidate('epg');
    return { ...result, from: from.toISOString(), to: to.toISOString() };
  }
}
