import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type AppLogger, logAccess } from '../logging/logger.js';
import { type AppMetrics, UNMATCHED_ROUTE } from '../metrics/metrics.js';
import type { Lifecycle } from '../shutdown/lifecycle.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** X-Request-Id from the edge (Nginx) when it is sane, a fresh UUID otherwise. */
export function requestIdFrom(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  const value = Array.isArray(header) ? header[0] : header;
  return value && REQUEST_ID.test(value) ? value : randomUUID();
}

/**
 * The client address: the peer itself unless the peer is a trusted proxy, in which case
 * CF-Connecting-IP (Cloudflare) or else the right-most untrusted X-Forwarded-For hop.
 */
export function clientIp(
  peer: string | undefined,
  headers: IncomingMessage['headers'],
  isTrusted: (ip: string | undefined) => boolean,
): string | undefined {
  const plainPeer = peer?.startsWith('::ffff:') && isIP(peer.slice(7)) === 4 ? peer.slice(7) : peer;
  if (!isTrusted(peer)) return plainPeer;
  const cf = headers['cf-connecting-ip'];
  if (typeof cf === 'string' && isIP(cf.trim())) return cf.trim();
  const xff = headers['x-forwarded-for'];
  const hops = (Array.isArray(xff) ? xff.join(',') : (xff ?? ''))
    .split(',')
    .map((h) => h.trim())
    .filter((h) => isIP(h));
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!isTrusted(hops[i])) return hops[i];
  }
  return hops[0] ?? plainPeer;
}

/** Probes and scrapes are logged at debug level so they do not drown the access log. */
const QUIET_ROUTES = new Set(['/health/live', '/health/ready']);

declare module 'fastify' {
  interface FastifyRequest {
    startedAt?: bigint;
  }
}

/**
 * Per-request observability on the Fastify instance: request id echo, the duration histogram
 * labelled by route template, the in-flight gauge, and one JSON access log line per request.
 */
export function installHttpHooks(
  fastify: FastifyInstance,
  deps: {
    logger: AppLogger;
    metrics: AppMetrics;
    lifecycle: Lifecycle;
    isTrustedProxy: (ip: string | undefined) => boolean;
  },
): void {
  const { logger, metrics, lifecycle, isTrustedProxy } = deps;
  const debugEnabled = () => logger.isLevelEnabled('debug');

  fastify.addHook('onRequest', (request, reply, done) => {
    request.startedAt = process.hrtime.bigint();
    metrics.httpInFlight.inc();
    void reply.header('x-request-id', request.id);
    reply.raw.once('close', () => finish(request, reply.raw.statusCode));
    done();
  });

  // A response sent while draining closes its connection, so keep-alive clients move elsewhere.
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (lifecycle.draining) void reply.header('connection', 'close');
    done(null, payload);
  });

  function finish(request: FastifyRequest, statusCode: number): void {
    metrics.httpInFlight.dec();
    const seconds = Number(process.hrtime.bigint() - (request.startedAt ?? 0n)) / 1e9;
    const template = request.is404 ? undefined : request.routeOptions.url;
    const route = template ?? UNMATCHED_ROUTE;
    const status = statusCode;
    metrics.httpDuration.observe({ method: request.method, route, status_code: String(status) }, seconds);
    if (request.unavailableDependency) metrics.dependencyUnavailable.inc({ dependency: request.unavailableDependency });
    const quiet = QUIET_ROUTES.has(route) && status < 500;
    if (quiet && !debugEnabled()) return;
    // A failing readiness probe is expected during outages and shutdown: warn, not error.
    const level = status >= 500 ? (QUIET_ROUTES.has(route) ? 'warn' : 'error') : quiet ? 'debug' : 'info';
    const err = request.unhandledError as Error | undefined;
    const fields = {
      request_id: String(request.id),
      method: request.method,
      route,
      path: request.url.split('?', 1)[0],
      status,
      duration_ms: Math.round(seconds * 1e6) / 1e3,
      client_ip: clientIp(request.raw.socket?.remoteAddress, request.headers, isTrustedProxy),
      user_agent: request.headers['user-agent'],
    };
    if (err) logger.log(level, 'request', { log_type: 'access', ...fields, error: err.message, stack: err.stack });
    else logAccess(logger, level, fields);
  }
}
