// The native local stack's log files merged into one stream by time (make logs-local).

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';

/** Time of a log line in any of the stack's formats (JSON, logfmt, PostgreSQL, Redis, Nginx); NaN if none. */
export function lineTime(line: string): number {
  let m = /"(?:timestamp|time|ts|time_iso8601)":"([^"]+)"/.exec(line) ?? /\bts=(\S+)/.exec(line);
  if (m) return Date.parse(m[1]);
  m = /^(\d{4})[-/](\d\d)[-/](\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(line); // PostgreSQL, nginx error log
  if (m) return Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}Z`);
  m = /(\d{1,2}) ([A-Z][a-z]{2}) (\d{4}) (\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(line); // Redis
  if (m) {
    const month = String(MONTHS.indexOf(m[2]) / 3 + 1).padStart(2, '0');
    return Date.parse(`${m[3]}-${month}-${m[1].padStart(2, '0')}T${m[4]}Z`);
  }
  m = /time="([^"]+)"/.exec(line); // logrus (redis exporter)
  return m ? Date.parse(m[1]) : NaN;
}

/** Lines of several services in time order; a line without a time keeps its predecessor's. */
export function mergeByTime(sources: { service: string; lines: string[] }[]): string[] {
  const width = Math.max(...sources.map((s) => s.service.length));
  const all: { t: number; seq: number; text: string }[] = [];
  let seq = 0;
  for (const s of sources) {
    let last = 0;
    for (const line of s.lines) {
      const t = lineTime(line);
      if (!Number.isNaN(t)) last = t;
      all.push({ t: last, seq: seq++, text: `${s.service.padEnd(width)} | ${line}` });
    }
  }
  return all.sort((a, b) => a.t - b.t || a.seq - b.seq).map((x) => x.text);
}
