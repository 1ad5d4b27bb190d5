// How make logs prints entries: pretty (aligned columns, coloured by level on a TTY, one line per
// entry), json (one JSON object per line, for jq and other tools) or raw (the line as stored).
import { paint } from '../output.js';
import type { OutputFormat } from './query.js';
import type { LogEntry } from './local.js';

const LEVEL_COLOUR = { error: 'red', warn: 'yellow', info: 'green', debug: 'dim' } as const;

/** Fields shown by name after the message, in this order, when present. */
const SHOWN = [
  'method',
  'route',
  'path',
  'status',
  'duration_ms',
  'request_id',
  'upstream_addr',
  'actor',
  'action',
  'target',
  'outcome',
  'error',
];

function isoTime(ms: number): string {
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : ''.padEnd(24);
}

/** One entry as text in `format`; `serviceWidth` aligns the service column. */
export function formatEntry(e: LogEntry, format: OutputFormat, serviceWidth = 8, stream = process.stdout): string {
  if (format === 'raw') return e.line;
  if (format === 'json') {
    return JSON.stringify({
      time: isoTime(e.time).trim() || null,
      service: e.service,
      labels: e.labels,
      ...(e.fields ? { fields: e.fields } : { line: e.line }),
    });
  }
  const service = e.service.padEnd(serviceWidth);
  const f = e.fields;
  if (!f) return `${isoTime(e.time)}  ${service}  ${''.padEnd(5)}  ${e.line}`;
  const level = typeof f.level === 'string' ? f.level : '';
  const colour = LEVEL_COLOUR[level as keyof typeof LEVEL_COLOUR];
  const levelText = level.toUpperCase().padEnd(5);
  const details = SHOWN.filter((k) => f[k] !== undefined && f[k] !== '' && !(k === 'path' && f.route))
    .map((k) =>
      k === 'duration_ms'
        ? `${String(f[k])}ms`
        : k === 'method' || k === 'route' || k === 'path' || k === 'status'
          ? String(f[k])
          : `${k}=${String(f[k])}`,
    )
    .join(' ');
  const msg = typeof f.msg === 'string' ? f.msg : typeof f.message === 'string' ? f.message : '';
  return `${isoTime(e.time)}  ${service}  ${colour ? paint(levelText, colour, stream) : levelText}  ${msg}${details ? `  ${details}` : ''}`;
}
