import { ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { CacheService, type CacheLookup } from '../cache/cache.service.js';
import { DatabaseService } from '../db/database.service.js';
import { StorageService } from '../storage/storage.service.js';
import type { ChannelRow, ChannelView, CreateChannel, ListChannelsQuery, UpdateChannel } from './channel.schemas.js';

const CHANNEL_COLUMNS = 'id, slug, name, category, country, position, logo_key, active, updated_at';

@Injectable()
export class ChannelsService {
  constructor(
    @Inject(DatabaseService) private readonly db: DatabaseService,
    @Inject(CacheService) private readonly cache: CacheService,
    @Inject(StorageService) private readonly storage: StorageService,
  ) {}

  async toView(row: ChannelRow): Promise<ChannelView> {
    return {
      slug: row.slug,
      name: row.name,
      category: row.category,
      country: row.country,
      position: row.position,
      active: row.active,
      logo_url: await this.logoUrl(row.logo_key),
      updated_at: row.updated_at.toISOString(),
    };
  }

  logoUrl(key: string | null): Promise<string | null> {
    return key ? this.storage.presignLogo(key) : Promise.resolve(null);
  }

  /** GET /v2/channels: cached per normalised query. */
  list(query: ListChannelsQuery): Promise<CacheLookup> {
    const field = `list:${query.limit}:${query.offset}:${query.category ?? ''}:${query.country ?? ''}:${query.active ?? ''}`;
    return this.cache.getOrLoad('channels', field, async () => {
      const where: string[] = [];
      const values: unknown[] = [];
      if (query.category !== undefined) {
        values.push(query.category);
        where.push(`category = $${values.length}`);
      }
      if (query.country !== undefined) {
        values.push(query.country);
        where.push(`country = $${values.length}`);
      }
      if (query.active !== undefined) {
        values.push(query.active);
        where.push(`active = $${values.length}`);
      }
      const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
      const [page, count] = await Promise.all([
        this.db.query<ChannelRow>(
          `SELECT ${CHANNEL_COLUMNS} FROM channels ${filter}
           ORDER BY position, slug LIMIT $${values.length + 1} OFFSET $${values.length + 2}`,
          [...values, query.limit, query.offset],
        ),
        this.db.query<{ total: number }>(`SELECT count(*)::int AS total FROM channels ${filter}`, values),
      ]);
      const data = await Promise.all(page.rows.map((r) => this.toView(r)));
      return {
        body: JSON.stringify({
          data,
          page: { limit: query.limit, offset: query.offset, total: count.rows[0]?.total ?? 0 },
        }),
      };
    });
  }

  /** GET /v2/channels/:slug: cached; a missing channel is a 404 and is not cached. */
  async get(slug: string): Promise<CacheLookup> {
    return this.cache.getOrLoad('channels', `slug:${slug}`, async () => {
      const row = await this.findRow(slug);
      return { body: JSON.stringify({ data: await this.toView(row) }) };
    });
  }

  async findRow(slug: string): Promise<ChannelRow> {
    const { rows } = await this.db.query<ChannelRow>(`SELECT ${CHANNEL_COLUMNS} FROM channels WHERE slug = $1`, [slug]);
    if (!rows[0]) throw new NotFoundException(`channel ${slug} not found`);
    return rows[0];
  }

  async create(input: CreateChannel): Promise<ChannelView> {
    try {
      const { rows } = await this.db.query<ChannelRow>(
        `INSERT INTO channels (slug, name, category, country, position, active)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${CHANNEL_COLUMNS}`,
        [input.slug, input.name, input.category, input.country, input.position, input.active],
      );
      await this.cache.invalidate('channels', 'epg');
      return this.toView(rows[0]);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new ConflictException(`channel ${input.slug} already exists`);
      }
      throw err;
    }
  }

  async update(slug: string, input: UpdateChannel): Promise<ChannelView> {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [column, value] of Object.entries(input)) {
      if (value === undefined) continue;
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    }
    values.push(slug);
    const { rows } = await this.db.query<ChannelRow>(
      `UPDATE channels SET ${sets.join(', ')}, updated_at = now()
       WHERE slug = $${values.length} RETURNING ${CHANNEL_COLUMNS}`,
      values,
    );
    if (!rows[0]) throw new NotFoundException(`channel ${slug} not found`);
    await this.cache.invalidate('channels', 'epg');
    return this.toView(rows[0]);
  }

  async remove(slug: string): Promise<void> {
    const { rowCount } = await this.db.query('DELETE FROM channels WHERE slug = $1', [slug]);
    if (!rowCount) throw new NotFoundException(`channel ${slug} not found`);
    await this.cache.invalidate('channels', 'epg');
  }

  async setLogo(slug: string, body: Buffer, contentType: string): Promise<ChannelView> {
    await this.findRow(slug);
    const key = this.storage.logoKey(slug, body, contentType);
    await this.storage.putLogo(key, body, contentType);
    const { rows } = await this.db.query<ChannelRow>(
      `UPDATE channels SET logo_key = $1, updated_at = now() WHERE slug = $2 RETURNING ${CHANNEL_COLUMNS}`,
      [key, slug],
    );
    if (!rows[0]) throw new NotFoundException(`channel ${slug} not found`);
    await this.cache.invalidate('channels', 'epg');
    return this.toView(rows[0]);
  }
}
