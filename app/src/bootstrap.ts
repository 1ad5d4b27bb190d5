import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppModule } from './app.module.js';
import { type AppConfig, trustedProxyMatcher } from './config/config.js';
import { CacheService } from './cache/cache.service.js';
import { CachedReplyFastPath, fastPathServerFactory, installNotModifiedHook } from './http/cached-reply.js';
import { installHttpHooks, RequestObserver, requestIdFrom } from './http/hooks.js';
import { type AppLogger, createLogger, NestWinstonLogger } from './logging/logger.js';
import { AppMetrics } from './metrics/metrics.js';
import { startMetricsServer } from './metrics/metrics.server.js';
import { Lifecycle } from './shutdown/lifecycle.js';
import { LOGO_CONTENT_TYPES } from './storage/storage.service.js';

export interface RunningApp {
  app: NestFastifyApplication;
  config: AppConfig;
  logger: AppLogger;
  metrics: AppMetrics;
  lifecycle: Lifecycle;
  /** Answers repeated cached reads in front of Fastify (http/cached-reply.ts). */
  fastPath: CachedReplyFastPath;
  /** The bound port (useful with PORT=0). */
  port: number;
  /** The bound port of the separate /metrics listener (METRICS_PORT; useful with 0). */
  metricsPort: number;
  /** Readiness 503 → pre-stop delay → stop accepting → drain → close backends. */
  shutdown(reason: string): Promise<void>;
}

const JSON_BODY_LIMIT = 8 * 1024 * 1024; // bulk EPG imports

export async function createApp(
  config: AppConfig,
  options: { logStream?: NodeJS.WritableStream } = {},
): Promise<RunningApp> {
  const logger = createLogger(config.logLevel, options.logStream);
  const metrics = new AppMetrics(config.app);
  const lifecycle = new Lifecycle();

  const observer = new RequestObserver(logger, metrics, trustedProxyMatcher(config.trustedProxies));
  // Repeated cached reads are answered in front of Fastify, with the same observability.
  const fastPath = new CachedReplyFastPath(observer, lifecycle);
  const adapter = new FastifyAdapter({
    logger: false,
    genReqId: requestIdFrom,
    requestIdHeader: false,
    trustProxy: false,
    bodyLimit: JSON_BODY_LIMIT,
    return503OnClosing: false,
    keepAliveTimeout: 75_000, // longer than the proxies' idle timeout (Nginx keepalive 60 s)
    serverFactory: fastPathServerFactory(fastPath),
  });
  const fastify = adapter.getInstance();
  installHttpHooks(fastify, { observer, metrics, lifecycle });
  installNotModifiedHook(fastify);
  fastify.addContentTypeParser(
    Object.keys(LOGO_CONTENT_TYPES),
    { parseAs: 'buffer', bodyLimit: config.r2.logoMaxBytes },
    (_request, body, done) => done(null, body),
  );

  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot({ config, logger, metrics, lifecycle }),
    adapter,
    {
      // Nest's start-up chatter (every mapped route) only at debug level.
      logger: new NestWinstonLogger(logger, config.logLevel === 'debug' ? undefined : ['warn', 'error']),
      abortOnError: false,
    },
  );
  fastPath.use(app.get(CacheService).replies);
  await app.listen(config.port, config.host);
  const server = app.getHttpServer();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  // After the API listens: a scrape never sees a process that cannot serve yet.
  const metricsServer = await startMetricsServer(metrics, config.host, config.metrics.port).catch(
    async (err: unknown) => {
      await app.close();
      throw err;
    },
  );

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (reason: string) =>
    (shutdownPromise ??= gracefulShutdown({ app, server, config, logger, metrics, lifecycle, reason }).finally(() =>
      metricsServer.close(),
    ));

  return { app, config, logger, metrics, lifecycle, fastPath, port, metricsPort: metricsServer.port, shutdown };
}

async function gracefulShutdown(ctx: {
  app: NestFastifyApplication;
  server: Server;
  config: AppConfig;
  logger: AppLogger;
  metrics: AppMetrics;
  lifecycle: Lifecycle;
  reason: string;
}): Promise<void> {
  const { app, server, config, logger, metrics, lifecycle } = ctx;
  const { preStopDelayMs, drainTimeoutMs } = config.shutdown;
  lifecycle.shuttingDown = true;
  metrics.shuttingDown.set(1);
  logger.info('shutdown started: readiness is now 503', {
    log_type: 'app',
    reason: ctx.reason,
    prestop_delay_ms: preStopDelayMs,
    drain_timeout_ms: drainTimeoutMs,
  });
  // Keep serving while load balancers notice readiness and stop sending new connections.
  await sleep(preStopDelayMs);

  lifecycle.draining = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Connections that go idle after their last response are closed as soon as they do.
  const idleSweeper = setInterval(() => server.closeIdleConnections(), 100);
  server.closeIdleConnections();
  const inFlight = async () => (await metrics.httpInFlight.get()).values[0]?.value ?? 0;
  logger.info('stopped accepting connections; draining', {
    log_type: 'app',
    in_flight: await inFlight(),
  });
  const drained = await Promise.race([closed.then(() => true), sleep(drainTimeoutMs).then(() => false)]);
  if (!drained) {
    logger.warn('drain timeout reached; closing remaining connections', {
      log_type: 'app',
      in_flight: await inFlight(),
    });
    server.closeAllConnections();
    await closed;
  }
  clearInterval(idleSweeper);
  // Closes the pool and Redis (onModuleDestroy hooks); the HTTP server is already closed.
  await app.close();
  logger.info('shutdown complete', { log_type: 'app' });
}
