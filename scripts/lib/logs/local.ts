// The local backend of make logs (and make logs-local): the native stack's log files (.run/logs/*.log
// and Nginx's access/error logs), read, timed, filtered with the same LogQuery as Loki's backend
// (query.ts matchesQuery) and merged by time. One implementation of filtering and merging.
import { closeSync, existsSync, openSync, readSync, statSync, readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { Stack } from '../services/index.js';
import { jsonFields, matchesQuery, serviceMatches, type LogQuery } from './query.js';

export interface Source {
  /** Name shown for the file: the service (api-1), or nginx:access / nginx:error for Nginx's own logs. */
  service: string;
  file: string;
}

export interface LogEntry {
  /** ms since the epoch (NaN when the line carries no time; merge gives it its predecessor's). */
  time: number;
  service: string;
  line: string;
  fields?: Record<string, unknown>;
  labels?: Record<string, string>;
}

/** The native stack's log files in `runDir`, limited to `wanted` services (names or kinds). */
export function nativeSources(runDir: string, wanted: string[]): Source[] {
  const stack = Stack.restore({ runDir, readOnly: true });
  const names = stack.names();
  const unknown = wanted.filter((w) => !names.some((n) => serviceMatches(n, w)));
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown service ${unknown.join(', ')}: the local stack has ${names.join(', ')}`,
      `pass SERVICE=${names.some((n) => n.startsWith('api')) ? 'api' : (names[0] ?? 'api')} (a name or a kind)`,
    );
  }
  const chosen = wanted.length === 0 ? names : names.filter((n) => wanted.some((w) => serviceMatches(n, w)));
  const sources: Source[] = [];
  for (const n of chosen) {
    sources.push({ service: n, file: stack.logFile(n) });
    const info = stack.info<{ accessLog?: string; errorLog?: string }>(n);
    if (info.errorLog) sources.push({ service: `${n}:error`, file: info.errorLog });
    if (info.accessLog) sources.push({ service: `${n}:access`, file: info.accessLog });
  }
  return sources.filter((s) => existsSync(s.file));
}

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';

/** Local wall-clock time (the process's TZ, as the writing service used) to ms since the epoch. */
function localTime(y: string, mo: number, d: string, hms: string): number {
  const [h, mi, s] = hms.split(':');
  const sec = Number(s);
  return new Date(
    Number(y),
    mo - 1,
    Number(d),
    Number(h),
    Number(mi),
    Math.floor(sec),
    Math.round((sec % 1) * 1000),
  ).getTime();
}

/**
 * Time of a log line in any of the stack's formats, ms since the epoch; NaN if none.
 * JSON (timestamp/time/ts fields, ISO 8601 with a zone) and logfmt carry their zone. PostgreSQL
 * ("2026-11-29 20:41:46.123 CET"), the Nginx error log ("2026/11/29 20:41:46") and Redis
 * ("29 Nov 2026 20:41:46.123") write local time, without a zone or with an abbreviation that
 * Date cannot read: those are read in this process's time zone (TZ), which is the machine's, as
 * theirs is — unless the abbreviation says UTC/GMT or the zone is numeric.
 */
export function lineTime(line: string): number {
  let m = /"(?:timestamp|time|ts|time_iso8601)":"([^"]+)"/.exec(line) ?? /\bts=(\S+)/.exec(line);
  if (m) return Date.parse(m[1]);
  m = /^(\d{4})[-/](\d\d)[-/](\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)(?: ?(Z|UTC|GMT|[+-]\d\d(?::?\d\d)?)\b)?/.exec(line);
  if (m) {
    const zone = m[5];
    if (!zone) return localTime(m[1], Number(m[2]), m[3], m[4]);
    const offset =
      zone === 'Z' || zone === 'UTC' || zone === 'GMT'
        ? 'Z'
        : zone.length === 3
          ? `${zone}:00`
          : zone.replace(/(\d\d)(\d\d)$/, '$1:$2');
    return Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}${offset}`);
  }
  m = /(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(line); // Redis
  if (m) return localTime(m[3], MONTHS.indexOf(m[2]) / 3 + 1, m[1], m[4]);
  m = /time="([^"]+)"/.exec(line); // logrus (redis exporter)
  return m ? Date.parse(m[1]) : NaN;
}

/** One line of a source as an entry: its time and, for a JSON line, its fields. */
export function toEntry(service: string, line: string): LogEntry {
  return { time: lineTime(line), service, line, fields: jsonFields(line) };
}

/**
 * Entries of several sources in time order; a line without a time keeps its predecessor's (a stack
 * trace stays under its message). Stable: equal times keep their source order.
 */
export function mergeByTime(sources: LogEntry[][]): LogEntry[] {
  const all: { e: LogEntry; seq: number }[] = [];
  let seq = 0;
  for (const entries of sources) {
    let last = 0;
    for (const e of entries) {
      if (Number.isNaN(e.time)) e.time = last;
      else last = e.time;
      all.push({ e, seq: seq++ });
    }
  }
  return all.sort((a, b) => a.e.time - b.e.time || a.seq - b.seq).map((x) => x.e);
}

/**
 * One line of `docker compose logs --no-color --timestamps`: "api-1  | 2026-11-29T10:00:00.123456789Z {…}".
 * The service is the prefix without its replica number when it is 1 (api-1 -> api, api-2 stays);
 * the line's own time wins over compose's when it has one. Undefined for a line of another shape.
 */
export function composeLogEntry(text: string): LogEntry | undefined {
  const m = /^(\S+?)\s+\| (\d{4}-\d\d-\d\dT\S+) (.*)$/.exec(text);
  if (!m) return undefined;
  const entry = toEntry(m[1].replace(/-1$/, ''), m[3]);
  if (Number.isNaN(entry.time)) entry.time = Date.parse(m[2]);
  return entry;
}

/** Lines of a file (UTF-8; invalid bytes become U+FFFD, never an exception). */
export function readLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** What the query selects from the sources: filtered, merged by time, the last q.limit. */
export function queryLocal(q: LogQuery, sources: Source[]): LogEntry[] {
  const timed = mergeByTime(sources.map((s) => readLines(s.file).map((l) => toEntry(s.service, l))));
  return timed.filter((e) => matchesQuery(q, e)).slice(-q.limit);
}

/**
 * Follows files as they grow: appended bytes are split at newline bytes (0x0a never occurs inside a
 * multi-byte UTF-8 character) and only complete lines are decoded, so a character cut by a read
 * boundary is decoded whole once its last bytes arrive. A file that shrinks was truncated: read from 0.
 */
export class FileFollower {
  private readonly offsets: number[];
  private readonly pending: Buffer[];

  constructor(
    private readonly sources: Source[],
    o: { fromStart?: boolean } = {},
  ) {
    this.offsets = sources.map((s) => (o.fromStart || !existsSync(s.file) ? 0 : statSync(s.file).size));
    this.pending = sources.map(() => Buffer.alloc(0));
  }

  /** New complete lines since the last poll, as entries in source order (each source's in file order). */
  poll(maxBytes = 1 << 20): LogEntry[] {
    const out: LogEntry[] = [];
    this.sources.forEach((s, i) => {
      const size = existsSync(s.file) ? statSync(s.file).size : 0;
      if (size < this.offsets[i]) {
        this.offsets[i] = 0;
        this.pending[i] = Buffer.alloc(0);
      }
      while (size > this.offsets[i]) {
        const fd = openSync(s.file, 'r');
        const buf = Buffer.alloc(Math.min(size - this.offsets[i], maxBytes));
        const n = readSync(fd, buf, 0, buf.length, this.offsets[i]);
        closeSync(fd);
        if (n === 0) break;
        this.offsets[i] += n;
        let data = Buffer.concat([this.pending[i], buf.subarray(0, n)]);
        const cut = data.lastIndexOf(0x0a);
        if (cut < 0) {
          this.pending[i] = data;
          continue;
        }
        this.pending[i] = Buffer.from(data.subarray(cut + 1));
        data = data.subarray(0, cut);
        for (const line of data.toString('utf8').split('\n')) if (line) out.push(toEntry(s.service, line));
      }
    });
    return out;
  }
}
