// make logs: the options an operator gives (SERVICE, LEVEL, SINCE or FROM/TO, GREP, REQUEST_ID,
// ROUTE, STATUS, SLOWER_THAN, LIMIT, FOLLOW), validated once into a LogQuery, and the LogQL that
// asks Loki for it — checked with Loki's own grammar (@grafana/lezer-logql) before it is sent.
// The local backend (local.ts) applies the same LogQuery with matchesQuery(): one meaning of each
// option for both backends.
import { parser } from '@grafana/lezer-logql';
import { UsageError } from '../errors.js';
import { LEVELS, LOG_TYPES, type Level, type LogType } from './schema.js';

export const OUTPUTS = ['pretty', 'json', 'raw'] as const;
export type OutputFormat = (typeof OUTPUTS)[number];

export interface StatusRange {
  min: number;
  max: number;
}

export interface LogQuery {
  env: string;
  /** Service names (stream label `service`); empty = every service. */
  services: string[];
  /** This level and the ones above it (LEVEL=warn -> warn, error); undefined = every line. */
  level?: Level;
  logType?: LogType;
  /** Window, ms since the epoch; `to` is the end (now unless TO=). */
  from: number;
  to: number;
  grep?: string;
  requestId?: string;
  /** A route template (/v2/channels/:slug) or a path (/v2/channels): matches `route` or `path`. */
  route?: string;
  status?: StatusRange;
  slowerThanMs?: number;
  limit: number;
  follow: boolean;
  output: OutputFormat;
}

export interface RawLogOptions {
  service?: string;
  level?: string;
  logType?: string;
  since?: string;
  from?: string;
  to?: string;
  grep?: string;
  requestId?: string;
  route?: string;
  status?: string;
  slowerThan?: string;
  limit?: string;
  follow?: boolean;
  output?: string;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A duration as Loki and Prometheus write it ("500ms", "15m", "2h", "1h30m", "7d") in milliseconds.
 * Throws UsageError naming `name` (the make variable) when it does not parse or is not positive.
 */
export function parseDuration(raw: string, name: string): number {
  const text = raw.trim();
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)];
  const total = parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]], 0);
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text || !(total > 0)) {
    throw new UsageError(
      `${name}=${raw} is not a duration`,
      `write it as a number and a unit: 500ms, 30s, 15m, 2h, 7d (or 1h30m)`,
    );
  }
  return total;
}

/** FROM= / TO=: an ISO 8601 time ("2026-11-29T14:00:00Z", local time when the zone is left out) or a duration ago ("2h"). */
function parseTime(raw: string, name: string, now: number): number {
  const text = raw.trim();
  if (/^\d+(?:\.\d+)?(ms|s|m|h|d|w)/.test(text)) return now - parseDuration(text, name);
  const t = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d:?\d\d)?$/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(t)) {
    throw new UsageError(
      `${name}=${raw} is not a time`,
      `give an ISO 8601 time (2026-11-29T14:00:00Z, or without Z for local time) or a duration ago (2h)`,
    );
  }
  return t;
}

/** STATUS=: one code (429), a class (5xx), or a range (500-504). */
export function parseStatus(raw: string): StatusRange {
  const text = raw.trim().toLowerCase();
  let m = /^([1-5])xx$/.exec(text);
  if (m) return { min: Number(m[1]) * 100, max: Number(m[1]) * 100 + 99 };
  m = /^([1-5]\d\d)(?:-([1-5]\d\d))?$/.exec(text);
  if (m && (!m[2] || Number(m[2]) >= Number(m[1]))) return { min: Number(m[1]), max: Number(m[2] ?? m[1]) };
  throw new UsageError(`STATUS=${raw} is not an HTTP status`, 'give a code (429), a class (5xx) or a range (500-504)');
}

function oneOf<T extends string>(raw: string, allowed: readonly T[], name: string): T {
  const v = raw.trim().toLowerCase();
  if (!(allowed as readonly string[]).includes(v)) {
    throw new UsageError(`unknown ${name.toLowerCase()} '${raw}'`, `pass ${name}=${allowed.join('|')}`);
  }
  return v as T;
}

const SERVICE_NAME = /^[a-z0-9][a-z0-9_.:-]*$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/; // the pattern Nginx and the API accept (nginx/snippets/request-id.conf)

/**
 * Validates the operator's options into a LogQuery; every problem is one UsageError line naming
 * the make variable. `now` is injectable for tests. Defaults: SINCE=1h, LIMIT=500, OUTPUT=pretty.
 */
export function buildLogQuery(env: string, o: RawLogOptions, now = Date.now()): LogQuery {
  const services = (o.service ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of services) {
    if (!SERVICE_NAME.test(s))
      throw new UsageError(`SERVICE=${s} is not a service name`, 'pass names such as api, nginx, postgres');
  }
  if (o.since && (o.from || o.to))
    throw new UsageError('SINCE= and FROM=/TO= both given', 'use SINCE=2h, or FROM= (and TO=), not both');
  const to = o.to ? parseTime(o.to, 'TO', now) : now;
  const from = o.from ? parseTime(o.from, 'FROM', now) : to - parseDuration(o.since || '1h', 'SINCE');
  if (from >= to) {
    throw new UsageError(
      `FROM (${new Date(from).toISOString()}) is not before TO (${new Date(to).toISOString()})`,
      'give a FROM earlier than TO',
    );
  }
  if (o.follow && o.to) throw new UsageError('FOLLOW=1 with TO=', 'following reads new lines: drop TO=');
  const requestId = o.requestId?.trim() || undefined;
  if (requestId && !REQUEST_ID.test(requestId))
    throw new UsageError(
      `REQUEST_ID=${requestId} is not a request id`,
      'copy it from an X-Request-Id header or a log line',
    );
  const route = o.route?.trim() || undefined;
  if (route && !route.startsWith('/'))
    throw new UsageError(`ROUTE=${route} does not start with /`, 'pass ROUTE=/v2/channels/:slug or a path');
  const limitRaw = o.limit?.trim();
  const limit = limitRaw ? Number(limitRaw) : 500;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
    throw new UsageError(`LIMIT=${o.limit} must be a whole number from 1 to 100000`, 'pass LIMIT=500');
  return {
    env,
    services,
    level: o.level ? oneOf(o.level, LEVELS, 'LEVEL') : undefined,
    logType: o.logType ? oneOf(o.logType, LOG_TYPES, 'LOG_TYPE') : undefined,
    from,
    to,
    grep: o.grep || undefined,
    requestId,
    route,
    status: o.status ? parseStatus(o.status) : undefined,
    slowerThanMs: o.slowerThan ? parseDuration(o.slowerThan, 'SLOWER_THAN') : undefined,
    limit,
    follow: Boolean(o.follow),
    output: o.output ? oneOf(o.output, OUTPUTS, 'OUTPUT') : 'pretty',
  };
}

/** Levels at or above `level`, in LEVELS order. */
export function levelsFrom(level: Level): Level[] {
  return LEVELS.slice(LEVELS.indexOf(level));
}

/** A LogQL string literal (Go quoting; JSON's escapes are a subset Loki accepts). */
const str = (s: string): string => JSON.stringify(s);
const regexEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The LogQL of a query (https://grafana.com/docs/loki/latest/query/log_queries/): stream selector on
 * the low-cardinality labels (env, service, log_type, level), line filters first (cheap), then
 * `| json` and label filters on the schema's fields. Checked with checkLogQL before it is returned.
 */
export function toLogQL(q: LogQuery): string {
  const matchers = [`env=${str(q.env)}`];
  matchers.push(q.services.length === 0 ? 'service=~".+"' : `service=~${str(q.services.map(regexEscape).join('|'))}`);
  if (q.logType) matchers.push(`log_type=${str(q.logType)}`);
  if (q.level) matchers.push(`level=~${str(levelsFrom(q.level).join('|'))}`);
  const stages: string[] = [];
  if (q.requestId) stages.push(`|= ${str(q.requestId)}`);
  if (q.grep) stages.push(`|= ${str(q.grep)}`);
  const filters: string[] = [];
  if (q.requestId) filters.push(`request_id=${str(q.requestId)}`);
  if (q.route) filters.push(`(route=${str(q.route)} or path=${str(q.route)})`);
  if (q.status) filters.push(`status >= ${q.status.min} and status <= ${q.status.max}`);
  if (q.slowerThanMs !== undefined) filters.push(`duration_ms > ${q.slowerThanMs}`);
  if (filters.length > 0) {
    stages.push('| json');
    for (const f of filters) stages.push(`| ${f}`);
  }
  const logql = [`{${matchers.join(', ')}}`, ...stages].join(' ');
  checkLogQL(logql);
  return logql;
}

/** Throws when Loki's grammar does not accept `logql` (a bug in toLogQL, not an operator error). */
export function checkLogQL(logql: string): void {
  const tree = parser.parse(logql);
  let errorAt = -1;
  tree.iterate({
    enter(node) {
      if (errorAt < 0 && node.type.isError) errorAt = node.from;
    },
  });
  if (errorAt >= 0) {
    throw new Error(
      `LogQL rejected by the grammar at ${errorAt}: ${logql.slice(0, errorAt)}⟨here⟩${logql.slice(errorAt)}`,
    );
  }
}

/** The parsed JSON fields of a line, or undefined when it is not a JSON object. */
export function jsonFields(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The same filter as toLogQL, on one line read locally (the local backend): `service` is the
 * source's name, `time` ms since the epoch. Non-JSON lines pass only filters that need no field.
 */
export function matchesQuery(
  q: LogQuery,
  e: { service: string; time: number; line: string; fields?: Record<string, unknown> },
): boolean {
  if (e.time < q.from || e.time > q.to) return false;
  if (q.services.length > 0 && !q.services.some((s) => serviceMatches(e.service, s))) return false;
  if (q.grep && !e.line.includes(q.grep)) return false;
  if (q.requestId && !e.line.includes(q.requestId)) return false;
  const f = e.fields;
  const needsFields = q.level || q.logType || q.requestId || q.route || q.status || q.slowerThanMs !== undefined;
  if (!needsFields) return true;
  if (!f) return false;
  if (q.level && !(levelsFrom(q.level) as unknown[]).includes(f.level)) return false;
  if (q.logType && f.log_type !== q.logType) return false;
  if (q.requestId && f.request_id !== q.requestId) return false;
  if (q.route && f.route !== q.route && f.path !== q.route) return false;
  if (q.status && !(typeof f.status === 'number' && f.status >= q.status.min && f.status <= q.status.max)) return false;
  if (q.slowerThanMs !== undefined && !(typeof f.duration_ms === 'number' && f.duration_ms > q.slowerThanMs))
    return false;
  return true;
}

/**
 * Whether a local source (api-1, nginx, nginx:access) is the asked service (api, nginx): its
 * name, its kind (name without the replica number) or the part before ':'.
 */
export function serviceMatches(source: string, wanted: string): boolean {
  const base = source.split(':')[0];
  return source === wanted || base === wanted || base.replace(/-\d+$/, '') === wanted;
}
