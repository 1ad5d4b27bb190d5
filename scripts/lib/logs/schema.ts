// The one log schema of the platform: what a JSON line of the API (winston, app/src/logging) and of
// the Nginx edge (nginx/snippets/json-log.conf) carries. Documented once, in loki/README.md ("Log
// schema"); test/logs/schema.test.ts checks that table against this schema and real lines of both.
import { z } from 'zod';

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];
export const LOG_TYPES = ['access', 'app', 'audit'] as const;
export type LogType = (typeof LOG_TYPES)[number];

/** ISO 8601 with a zone: "2026-11-29T19:41:46.123Z" (API) or "2026-11-29T20:41:46.123+01:00" (Nginx). */
const isoTimestamp = z
  .string()
  .regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, 'expected ISO 8601 with a zone');

/** Fields every line has. */
const common = {
  timestamp: isoTimestamp,
  level: z.enum(LEVELS),
  msg: z.string(),
  log_type: z.enum(LOG_TYPES),
  request_id: z.string().min(1).max(128).optional(),
};

/** An access line (one per HTTP request), from the API or from Nginx. */
const access = {
  method: z.string().min(1),
  path: z.string(),
  status: z.number().int().min(100).max(599),
  duration_ms: z.number().min(0),
  client_ip: z.string().optional(),
  user_agent: z.string().optional(),
};

export const apiAccessLine = z.looseObject({
  ...common,
  log_type: z.literal('access'),
  request_id: z.string().min(1),
  ...access,
  /** The route template (`/v2/channels/:slug`); `(unmatched)` for a 404. */
  route: z.string().min(1),
});

export const nginxAccessLine = z.looseObject({
  ...common,
  log_type: z.literal('access'),
  request_id: z.string().min(1),
  ...access,
  client_ip: z.string().min(1),
  peer_ip: z.string(),
  host: z.string(),
  protocol: z.string(),
  bytes_sent: z.number().int().min(0),
  request_length: z.number().int().min(0),
  upstream_addr: z.string(),
  upstream_status: z.string(),
  upstream_response_time: z.string(),
  upstream_connect_time: z.string(),
  /** The micro-cache's verdict (HIT, MISS, BYPASS …); empty where no cache applies. */
  upstream_cache_status: z.string(),
  cf_ray: z.string(),
  tls: z.string(),
});

export const auditLine = z.looseObject({
  ...common,
  log_type: z.literal('audit'),
  request_id: z.string().min(1),
  actor: z.string(),
  action: z.string(),
  target: z.string().optional(),
  outcome: z.enum(['success', 'failure']),
  status: z.number().int().optional(),
});

export const appLine = z.looseObject({ ...common, log_type: z.literal('app') });

/** Any line of the schema; which kind it is follows from log_type (and, for access, `route`). */
export const logLine = z.union([apiAccessLine, nginxAccessLine, auditLine, appLine]);
export type LogLine = z.infer<typeof logLine>;

/** Every field name the schema defines (the documentation table lists exactly these). */
export function schemaFields(): string[] {
  const shapes = [apiAccessLine, nginxAccessLine, auditLine, appLine].map((s) => Object.keys(s.shape));
  return [...new Set(shapes.flat())].sort();
}

/** Problems of one parsed line against the schema, as "field: message" strings; [] when it conforms. */
export function schemaProblems(line: unknown): string[] {
  const type = (line as { log_type?: unknown } | null)?.log_type;
  const schema =
    type === 'audit'
      ? auditLine
      : type === 'app'
        ? appLine
        : type === 'access'
          ? 'route' in (line as object)
            ? apiAccessLine
            : nginxAccessLine
          : logLine;
  const r = schema.safeParse(line);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(line)'}: ${i.message}`);
}
