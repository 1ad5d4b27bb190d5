import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type AccessLineConstants, type AppLogger, logAccess } from '../logging/logger.js';
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

/** What one answered request leaves behind: a duration histogram sample and an access log line. */
export interface RequestRecord {
  requestId: string;
  method: string;
  /** The route template (`/v2/channels/:slug`), or UNMATCHED_ROUTE. */
  route: string;
  /** The raw request target (path and query); the log keeps the path only. */
  url: string;
  status: number;
  seconds: number;
  req: IncomingMessage;
  unavailableDependency?: string;
  error?: Error;
  /** The duration series' labels and the access line's constant parts, when the caller keeps them. */
  known?: { labels: DurationLabels; access: AccessLineConstants };
}

export type DurationLabels = { method: string; route: string; status_code: string };

/**
 * The per-request observability both ways of answering share (Fastify's hooks and the cached
 * reply fast path in front of Fastify): `http_request_duration_seconds` by method, route template
 * and status, `app_dependency_unavailable_total`, and one JSON access log line (loki/README.md,
 * "Log schema"). Kept cheap because it runs for every request: label objects are made once per
 * method/route/status, and the client address of a connection from an untrusted peer (which no
 * header can change) is worked out once per connection.
 */
export class RequestObserver {
  private readonly labels = new Map<string, DurationLabels>();
  /** Per connection: the client address, or null when the peer is a trusted proxy (read per request). */
  private readonly peerAddress = new WeakMap<Socket, string | null>();

  constructor(
    private readonly logger: AppLogger,
    private readonly metrics: AppMetrics,
    private readonly isTrustedProxy: (ip: string | undefined) => boolean,
  ) {}

  record(r: RequestRecord): void {
    const labels = r.known?.labels ?? this.durationLabels(r.method, r.route, r.status);
    this.metrics.httpDuration.observe(labels, r.seconds);
    if (r.unavailableDependency) this.metrics.dependencyUnavailable.inc({ dependency: r.unavailableDependency });
    const quiet = QUIET_ROUTES.has(r.route) && r.status < 500;
    if (quiet && !this.logger.isLevelEnabled('debug')) return;
    // A failing readiness probe is expected during outages and shutdown: warn, not error.
    const level = r.status >= 500 ? (QUIET_ROUTES.has(r.route) ? 'warn' : 'error') : quiet ? 'debug' : 'info';
    const q = r.url.indexOf('?');
    const fields = {
      request_id: r.requestId,
      method: r.method,
      route: r.route,
      path: q === -1 ? r.url : r.url.slice(0, q),
      status: r.status,
      duration_ms: Math.round(r.seconds * 1e6) / 1e3,
      client_ip: this.clientIp(r.req),
      user_agent: r.req.headers['user-agent'],
    };
    const err = r.error;
    if (err) this.logger.log(level, 'request', { log_type: 'access', ...fields, error: err.message, stack: err.stack });
    else logAccess(this.logger, level, fields, r.known?.access);
  }

  /** The label object of one duration series, made once. */
  durationLabels(method: string, route: string, status: number): DurationLabels {
    const key = `${method} ${status} ${route}`;
    let labels = this.labels.get(key);
    if (labels === undefined) {
      labels = { method, route, status_code: String(status) };
      this.labels.set(key, labels);
    }
    return labels;
  }

  private clientIp(req: IncomingMessage): string | undefined {
    const socket = req.socket as Socket | undefined;
    const peer = socket?.remoteAddress;
    if (socket === undefined || peer === undefined) return clientIp(peer, req.headers, this.isTrustedProxy);
    let known = this.peerAddress.get(socket);
    if (known === undefined) {
      // Behind a trusted proxy each request names its own client; otherwise the peer is the client.
      known = this.isTrustedProxy(peer) ? null : clientIp(peer, req.headers, this.isTrustedProxy)!;
      this.peerAddress.set(socket, known);
    }
    return known ?? clientIp(peer, req.headers, this.isTrustedProxy);
  }
}

/**
 * Per-request observability on the Fastify instance: request id echo, the in-flight gauge, and
 * the duration histogram sample and access line of `observer` when the response closes.
 */
export function installHttpHooks(
  fastify: FastifyInstance,
  deps: { observer: RequestObserver; metrics: AppMetrics; lifecycle: Lifecycle },
): void {
  const { observer, metrics, lifecycle } = deps;

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
    const template = request.is404 ? undefined : request.routeOptions.url;
    observer.record({
      requestId: String(request.id),
      method: request.method,
      route: template ?? UNMATCHED_ROUTE,
      url: request.url,
      status: statusCode,
      seconds: Number(process.hrtime.bigint() - (request.startedAt ?? 0n)) / 1e9,
      req: request.raw,
      unavailableDependency: request.unavailableDependency,
      error: request.unhandledError as Error | undefined,
    });
  }
}
