import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The route label for requests that matched no route: one fixed value, never the raw path. */
export const UNMATCHED_ROUTE = 'unmatched';

interface PendingCount<T extends string> {
  labels: Partial<Record<T, string>>;
  n: number;
}

/** All application metrics live in one registry owned by this class (one per app instance). */
export class AppMetrics {
  readonly registry = new Registry();
  /** Per counter, the series counted by deferredIncrement and not yet added to it. */
  private readonly pendingCounts = new Map<Counter<string>, unknown[]>();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly httpInFlight = new Gauge({
    name: 'http_requests_in_flight',
    help: 'HTTP requests currently being served',
    registers: [this.registry],
  });

  readonly cacheHits = new Counter({
    name: 'app_cache_hits_total',
    help: 'Read-through cache hits by cache family and layer (local process memory or redis)',
    labelNames: ['cache', 'layer'] as const,
    registers: [this.registry],
  });

  readonly cacheMisses = new Counter({
    name: 'app_cache_misses_total',
    help: 'Read-through cache misses by cache family',
    labelNames: ['cache'] as const,
    registers: [this.registry],
  });

  readonly cacheErrors = new Counter({
    name: 'app_cache_errors_total',
    help: 'Cache operations that failed (Redis unavailable or slow) by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  readonly dependencyUnavailable = new Counter({
    name: 'app_dependency_unavailable_total',
    help: 'Requests answered 503 because a dependency (postgres, redis, r2) was unreachable or refusing work',
    labelNames: ['dependency'] as const,
    registers: [this.registry],
  });

  readonly pgPool = new Gauge({
    name: 'app_pg_pool_connections',
    help: 'PostgreSQL pool clients by state (total, idle, waiting requests) and the configured maximum',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  readonly redisUp = new Gauge({
    name: 'app_redis_up',
    help: '1 when the Redis connection is ready, 0 when the API serves without cache',
    registers: [this.registry],
  });

  readonly appInfo = new Gauge({
    name: 'app_info',
    help: 'Build information of the running API; always 1',
    labelNames: ['version', 'commit'] as const,
    registers: [this.registry],
  });

  readonly shuttingDown = new Gauge({
    name: 'app_shutting_down',
    help: '1 once the process received SIGTERM and is draining',
    registers: [this.registry],
  });

  constructor(info: { version: string; commit: string }) {
    collectDefaultMetrics({ register: this.registry });
    // These three are gauges named like counters, which `promtool check metrics` rejects; the
    // same numbers remain available as sum(nodejs_active_handles) and friends.
    for (const name of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      this.registry.removeSingleMetric(name);
    }
    this.appInfo.set({ version: info.version, commit: info.commit }, 1);
    this.shuttingDown.set(0);
    for (const dependency of ['postgres', 'redis', 'r2']) this.dependencyUnavailable.inc({ dependency }, 0);
  }

  /** Called at scrape time so gauges report the live pool state. */
  setPoolCollector(read: () => { total: number; idle: number; waiting: number; max: number }): void {
    const gauge = this.pgPool;
    const collect = () => {
      const s = read();
      gauge.set({ state: 'total' }, s.total);
      gauge.set({ state: 'idle' }, s.idle);
      gauge.set({ state: 'waiting' }, s.waiting);
      gauge.set({ state: 'max' }, s.max);
    };
    // prom-client calls `collect` on every scrape
    (gauge as unknown as { collect: () => void }).collect = collect;
  }

  /**
   * A hot-path increment of one labelled series of `counter` (no label lookup per call): the count
   * is kept in a plain number and added to the counter whenever the counter is collected, which
   * prom-client does at every scrape and every `get()` (its documented `collect` hook), so a
   * scrape always sees every increment made before it.
   */
  deferredIncrement<T extends string>(counter: Counter<T>, labels: Partial<Record<T, string>>): () => void {
    let pending = this.pendingCounts.get(counter) as PendingCount<T>[] | undefined;
    if (pending === undefined) {
      const list: PendingCount<T>[] = [];
      pending = list;
      this.pendingCounts.set(counter, list);
      const own = (counter as unknown as { collect?: () => void }).collect;
      (counter as unknown as { collect: () => void }).collect = () => {
        for (const p of list) {
          if (p.n === 0) continue;
          counter.inc(p.labels, p.n);
          p.n = 0;
        }
        own?.call(counter);
      };
    }
    const entry: PendingCount<T> = { labels, n: 0 };
    pending.push(entry);
    return () => void entry.n++;
  }

  setRedisCollector(read: () => boolean): void {
    const gauge = this.redisUp;
    (gauge as unknown as { collect: () => void }).collect = () => gauge.set(read() ? 1 : 0);
  }
}

export const APP_METRICS = Symbol('APP_METRICS');
