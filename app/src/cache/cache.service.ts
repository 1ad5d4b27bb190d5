import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { APP_LOGGER, type AppLogger } from '../logging/logger.js';
import { APP_METRICS, type AppMetrics } from '../metrics/metrics.js';
import { withTimeout } from '../db/database.service.js';
import type { PreparedReplies, PreparedReply } from '../http/cached-reply.js';

/**
 * Cache-aside over Redis for the read endpoints. Each cache family is one Redis hash
 * (field = normalised query, value = the serialised response), so invalidating a family after a
 * write is a single DEL. Redis is optional at run time: every failure falls through to the loader,
 * so the API keeps answering from PostgreSQL while Redis is down.
 */

export type CacheFamily = 'channels' | 'epg';
export const CACHE_FAMILIES: readonly CacheFamily[] = ['channels', 'epg'];

export interface CachedBody {
  body: string;
  /** Epoch ms after which the entry is stale even if Redis still holds it (e.g. now/next). */
  validUntil?: number;
}

export interface CacheLookup {
  body: string;
  hit: boolean;
  /** Epoch ms the body stops being true (now/next), when it has such a limit. */
  validUntil?: number;
  /** Epoch ms until which this replica may answer the same URL from memory (set with keep). */
  keepUntil?: number;
  /**
   * Keeps the prepared HTTP answer for `url` in this replica's fast path until keepUntil; a no-op
   * once the family was invalidated after this lookup started (so a write is never undone).
   */
  keep?: (url: string, prepared: PreparedReply) => void;
}

const KEY_PREFIX = 'mytv:cache:v1:';
const INVALIDATION_CHANNEL = 'mytv:cache:v1:invalidate';
const SECOND_DELETE_DELAY_MS = 500;
const LOCAL_MAX_ENTRIES = 2000;

interface LocalEntry {
  body: string;
  /** Epoch ms: min(local TTL, the entry's own validity). */
  expires: number;
  validUntil?: number;
}

@Injectable()
export class CacheService implements OnModuleDestroy {
  readonly redis: Redis;
  /** Receives invalidations published by every replica (including this one). */
  private readonly subscriber: Redis;
  private readonly ttlSeconds: number;
  private readonly localTtlMs: number;
  /**
   * A small in-process layer in front of Redis, one Map per family: hot read endpoints are served
   * without a network round trip. Writes clear it at once on this replica and, through Redis
   * pub/sub, on the others; its short TTL bounds staleness when a message is lost.
   */
  private readonly local = new Map<CacheFamily, Map<string, LocalEntry>>(CACHE_FAMILIES.map((f) => [f, new Map()]));
  /**
   * Prepared HTTP answers (bytes + headers) by raw URL, for the fast path of http/cached-reply.ts;
   * cleared together with `local`, so they follow the same invalidation and the same TTL.
   */
  private readonly prepared = new Map<string, PreparedReply & { family: CacheFamily }>();
  /** Bumped on every clear of a family: a lookup started before a clear must not keep its answer. */
  private readonly generation = new Map<CacheFamily, number>(CACHE_FAMILIES.map((f) => [f, 0]));
  /** The fast path's view: an unexpired prepared answer, counted as a hit of the local layer. */
  readonly replies: PreparedReplies = {
    get: (url) => {
      const p = this.prepared.get(url);
      if (p === undefined || p.expires <= Date.now()) return undefined;
      this.fastPathHits[p.family]();
      return p;
    },
  };
  /** app_cache_hits_total{layer="local"} of the fast path, added at each scrape (hot path). */
  private readonly fastPathHits: Record<CacheFamily, () => void>;
  private wasReady = false;
  private reportedDown = false;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(APP_LOGGER) private readonly logger: AppLogger,
    @Inject(APP_METRICS) private readonly metrics: AppMetrics,
  ) {
    this.fastPathHits = {
      channels: metrics.deferredIncrement(metrics.cacheHits, { cache: 'channels', layer: 'local' }),
      epg: metrics.deferredIncrement(metrics.cacheHits, { cache: 'epg', layer: 'local' }),
    };
    this.ttlSeconds = config.cache.ttlSeconds;
    this.localTtlMs = config.cache.localTtlMs;
    const options = {
      // Fail fast instead of queueing while disconnected: the caller falls back to PostgreSQL.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: config.redis.commandTimeoutMs,
      connectTimeout: 2000,
      retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
      connectionName: 'mytv-api',
    };
    this.redis = new Redis(config.redis.url, options);
    this.subscriber = new Redis(config.redis.url, {
      ...options,
      enableOfflineQueue: true, // lets the SUBSCRIBE issued before the connection is up wait for it
      commandTimeout: undefined,
      connectionName: 'mytv-api-sub',
    });
    this.subscriber.on('error', () => undefined); // reported through the main connection
    this.subscriber.on('ready', () => this.clearLocal(CACHE_FAMILIES)); // messages may have been missed
    this.subscriber.on('message', (_channel: string, message: string) => {
      this.clearLocal(message.split(',').filter((f): f is CacheFamily => this.local.has(f as CacheFamily)));
    });
    this.subscriber.subscribe(INVALIDATION_CHANNEL).catch(() => undefined);
    this.redis.on('ready', () => {
      if (this.wasReady) {
        // Writes made while Redis was unreachable could not invalidate it: start clean.
        void this.invalidate(...CACHE_FAMILIES);
      }
      this.wasReady = true;
      if (this.reportedDown) {
        this.logger.info('redis connection restored; cache enabled', { log_type: 'app' });
      }
      this.reportedDown = false;
    });
    this.redis.on('error', (err: Error) => {
      if (!this.reportedDown && !this.closed) {
        this.reportedDown = true;
        this.logger.warn('redis unavailable; serving from PostgreSQL without cache', {
          log_type: 'app',
          error: err.message,
        });
      }
    });
    metrics.setRedisCollector(() => this.isReady());
  }

  isReady(): boolean {
    return this.redis.status === 'ready';
  }

  async getOrLoad(family: CacheFamily, field: string, load: () => Promise<CachedBody>): Promise<CacheLookup> {
    const key = KEY_PREFIX + family;
    const local = this.local.get(family)!;
    const generation = this.generation.get(family)!;
    if (this.localTtlMs > 0) {
      const entry = local.get(field);
      if (entry && entry.expires > Date.now()) {
        this.metrics.cacheHits.inc({ cache: family, layer: 'local' });
        return this.keepable(
          family,
          generation,
          { body: entry.body, hit: true, validUntil: entry.validUntil },
          entry.expires,
        );
      }
    }
    if (this.isReady()) {
      try {
        const raw = await this.redis.hget(key, field);
        if (raw !== null) {
          const entry = decode(raw);
          if (entry && (entry.validUntil === undefined || entry.validUntil > Date.now())) {
            this.metrics.cacheHits.inc({ cache: family, layer: 'redis' });
            const expires = this.remember(family, field, entry);
            return this.keepable(
              family,
              generation,
              { body: entry.body, hit: true, validUntil: entry.validUntil },
              expires,
            );
          }
        }
      } catch {
        this.metrics.cacheErrors.inc({ operation: 'get' });
      }
    }
    this.metrics.cacheMisses.inc({ cache: family });
    const loaded = await load();
    let expires: number | undefined;
    if (this.isReady()) {
      expires = this.remember(family, field, loaded);
      // Fire and forget: a slow or failing Redis must not delay the response.
      this.redis
        .multi()
        .hset(key, field, encode(loaded))
        .expire(key, this.ttlSeconds, 'NX')
        .exec()
        .catch(() => this.metrics.cacheErrors.inc({ operation: 'set' }));
    }
    return this.keepable(family, generation, { body: loaded.body, hit: false, validUntil: loaded.validUntil }, expires);
  }

  /** Adds `keep` to a lookup that this replica may answer from memory until `expires`. */
  private keepable(family: CacheFamily, generation: number, lookup: CacheLookup, expires?: number): CacheLookup {
    if (expires === undefined || this.localTtlMs <= 0) return lookup;
    lookup.keepUntil = expires;
    lookup.keep = (url, prepared) => {
      if (this.generation.get(family) !== generation || !this.isReady()) return;
      if (this.prepared.size >= LOCAL_MAX_ENTRIES) this.prepared.clear();
      this.prepared.set(url, { ...prepared, expires: Math.min(prepared.expires, expires), family });
    };
    return lookup;
  }

  /**
   * Only while Redis is up: without it, another replica's write could not reach this layer.
   * Returns the local expiry (epoch ms), or undefined when nothing was kept.
   */
  private remember(family: CacheFamily, field: string, entry: CachedBody): number | undefined {
    if (this.localTtlMs <= 0) return undefined;
    const local = this.local.get(family)!;
    if (local.size >= LOCAL_MAX_ENTRIES) local.clear();
    const expires = Math.min(Date.now() + this.localTtlMs, entry.validUntil ?? Infinity);
    local.set(field, { body: entry.body, expires, validUntil: entry.validUntil });
    return expires;
  }

  private clearLocal(families: readonly CacheFamily[]): void {
    for (const f of families) {
      this.local.get(f)?.clear();
      this.generation.set(f, this.generation.get(f)! + 1);
    }
    for (const [url, p] of this.prepared) if (families.includes(p.family)) this.prepared.delete(url);
  }

  /**
   * Drops whole families after a write. Deletes again shortly after, to evict a value that a
   * concurrent reader loaded from the old data and stored after the first delete.
   */
  async invalidate(...families: CacheFamily[]): Promise<void> {
    const keys = families.map((f) => KEY_PREFIX + f);
    this.clearLocal(families);
    await this.del(keys);
    if (this.isReady()) {
      await this.redis
        .publish(INVALIDATION_CHANNEL, families.join(','))
        .catch(() => this.metrics.cacheErrors.inc({ operation: 'publish' }));
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.clearLocal(families);
      void this.del(keys);
    }, SECOND_DELETE_DELAY_MS);
    timer.unref();
    this.timers.add(timer);
  }

  private async del(keys: string[]): Promise<void> {
    if (!this.isReady()) return; // cleaned on reconnect (see the 'ready' handler)
    try {
      await this.redis.del(...keys);
    } catch {
      this.metrics.cacheErrors.inc({ operation: 'invalidate' });
    }
  }

  async ping(timeoutMs: number): Promise<void> {
    if (!this.isReady()) throw new Error(`redis is ${this.redis.status}`);
    await withTimeout(this.redis.ping(), timeoutMs, 'redis');
  }

  async onModuleDestroy(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.subscriber.disconnect();
    try {
      if (this.isReady()) await this.redis.quit();
      else this.redis.disconnect();
    } catch {
      this.redis.disconnect();
    }
  }
}

function encode(entry: CachedBody): string {
  return `${entry.validUntil ?? 0}\n${entry.body}`;
}

function decode(raw: string): CachedBody | null {
  const nl = raw.indexOf('\n');
  if (nl < 0) return null;
  const validUntil = Number(raw.slice(0, nl));
  return { body: raw.slice(nl + 1), validUntil: validUntil > 0 ? validUntil : undefined };
}
