import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import pg from 'pg';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { APP_LOGGER, type AppLogger } from '../logging/logger.js';
import { APP_METRICS, type AppMetrics } from '../metrics/metrics.js';
import { isPostgresUnavailable, OutageReporter } from '../http/dependency.js';

/**
 * The PostgreSQL pool. Queries fail fast when the server is gone (connect timeout 2 s, client-side
 * query timeout = statement timeout + 1 s) and are thrown as DependencyUnavailable('postgres'),
 * which the error filter answers 503 + Retry-After; the pool reconnects by itself.
 */
@Injectable()
export class DatabaseService implements OnModuleDestroy {
  readonly pool: pg.Pool;
  private closed = false;
  private readonly outages: OutageReporter;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(APP_LOGGER) private readonly logger: AppLogger,
    @Inject(APP_METRICS) metrics: AppMetrics,
  ) {
    this.outages = new OutageReporter(logger);
    this.pool = new pg.Pool({
      connectionString: config.database.url,
      max: config.database.poolMax,
      connectionTimeoutMillis: 2000,
      idleTimeoutMillis: 30_000,
      statement_timeout: config.database.statementTimeoutMs,
      // a server that accepts but never answers (network partition) must not hold a request
      query_timeout: config.database.statementTimeoutMs + 1000,
      application_name: 'mytv-api',
    });
    // An idle client losing its server emits here; without a listener the process would crash.
    this.pool.on('error', (err) => {
      this.logger.warn('postgres idle client error', { log_type: 'app', error: err.message });
    });
    metrics.setPoolCollector(() => ({
      total: this.pool.totalCount,
      idle: this.pool.idleCount,
      waiting: this.pool.waitingCount,
      max: config.database.poolMax,
    }));
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(text, values).catch((err: unknown) => this.rethrow(err));
  }

  /** A connection-class failure becomes DependencyUnavailable('postgres'); anything else is rethrown as is. */
  private rethrow(err: unknown): never {
    throw isPostgresUnavailable(err) ? this.outages.unavailable('postgres', err) : err;
  }

  async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((err: unknown) => this.rethrow(err));
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      this.rethrow(err);
    } finally {
      client.release();
    }
  }

  /** Readiness probe: a trivial query bounded by `timeoutMs`. */
  async ping(timeoutMs: number): Promise<void> {
    await withTimeout(this.pool.query('SELECT 1'), timeoutMs, 'postgres');
  }

  async onModuleDestroy(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A query abandoned by the drain timeout would hold pool.end() until statement_timeout.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.pool.end(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 1000);
      }),
    ]);
    clearTimeout(timer);
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
