// make soak: steady load at a fixed rate through Nginx for a while, then the stack's own
// Prometheus is asked for availability and P95 over exactly that window, with the SLI queries the
// SLO rules are generated from (monitoring/slo.ts, via slo-report.ts), against the SLA of the
// environment. The recording rules' fixed windows (5m, 30m …) do not match an arbitrary soak
// duration, so the window is queried directly from the histogram.
import { parse } from 'yaml';
import type { Environment } from './environments.js';
import { UserError } from './errors.js';
import { ConstantRateLoad, readMix, summarize, type LoadSummary } from './load.js';
import { parseDuration, PrometheusClient } from './monitoring/api.js';
import { sloReport, type SloReportRow } from './monitoring/slo-report.js';
import { sleep } from './wait.js';

/** Seconds between two scrapes (global.scrape_interval of the running Prometheus, /api/v1/status/config). */
export async function scrapeIntervalSeconds(prometheusUrl: string): Promise<number> {
  let yaml: string;
  try {
    const res = await fetch(new URL('/api/v1/status/config', prometheusUrl), { signal: AbortSignal.timeout(5000) });
    yaml = ((await res.json()) as { data: { yaml: string } }).data.yaml;
  } catch (err) {
    throw new UserError(`cannot read the configuration of Prometheus at ${prometheusUrl} (${(err as Error).message})`, {
      hint: 'make status',
    });
  }
  const raw = (parse(yaml) as { global?: { scrape_interval?: string } }).global?.scrape_interval ?? '1m';
  return parseDuration(raw, 'scrape_interval');
}

export interface SoakOptions {
  nginxUrl: string;
  prometheusUrl: string;
  /** Load duration in seconds. */
  durationS: number;
  rate: number;
  requestTimeoutMs: number;
  progress?: (line: string) => void;
  signal?: AbortSignal;
}

export interface SoakReport {
  environment: string;
  prometheus: string;
  startedAt: string;
  durationS: number;
  rate: number;
  /** The Prometheus range the figures cover (the load plus the scrapes after it). */
  window: string;
  /** What the load generator saw (every request through Nginx). */
  client: LoadSummary;
  /** Requests the API replicas counted (http_request_duration_seconds_count, SLI routes). */
  apiRequests: number | null;
  /** availability, latency P95, error rate: value, SLA target, ok | breach | no data. */
  sla: SloReportRow[];
  slaMet: boolean;
}

/**
 * Sends `rate` GET/s (readMix) through Nginx for `durationS`, waits two scrape intervals so the
 * last requests are scraped, then reads the SLIs over the whole window from Prometheus.
 * @throws UserError when the duration is shorter than two scrapes (no rate can be computed).
 */
export async function runSoak(env: Environment, o: SoakOptions): Promise<SoakReport> {
  const scrape = await scrapeIntervalSeconds(o.prometheusUrl);
  if (o.durationS < 2 * scrape) {
    throw new UserError(`a soak of ${o.durationS} s is shorter than two scrapes of Prometheus (${scrape} s each)`, {
      hint: `DURATION=${2 * scrape}s at least (a soak means minutes: DURATION=10m)`,
    });
  }
  const progress = o.progress ?? (() => undefined);
  const startedAt = Date.now();
  const load = new ConstantRateLoad(o.nginxUrl, readMix(), { rate: o.rate, timeoutMs: o.requestTimeoutMs });
  load.start();
  const endAt = startedAt + o.durationS * 1000;
  // A progress line every 5 s (10 min = 120 lines where there is no terminal).
  while (Date.now() < endAt && !o.signal?.aborted) {
    await sleep(Math.min(5000, endAt - Date.now()));
    const failed = load.records.filter((r) => typeof r.status !== 'number' || r.status >= 500).length;
    progress(
      `${Math.round((Date.now() - startedAt) / 1000)}/${o.durationS} s, ${load.records.length} answered, ${failed} failed`,
    );
  }
  const records = await load.stop();
  if (o.signal?.aborted) throw new UserError('soak interrupted; nothing was changed', {});
  progress(`load done; waiting ${2 * scrape} s for Prometheus to scrape the last requests`);
  await sleep(2 * scrape * 1000);
  const window = `${Math.ceil((Date.now() - startedAt) / 1000)}s`;
  const prom = new PrometheusClient(o.prometheusUrl);
  const report = await sloReport(env, prom, window);
  const sla = report.rows.filter((r) => ['availability', 'latency P95', 'error rate'].includes(r.indicator));
  return {
    environment: env.name,
    prometheus: o.prometheusUrl,
    startedAt: new Date(startedAt).toISOString(),
    durationS: o.durationS,
    rate: o.rate,
    window,
    client: summarize(records),
    apiRequests: report.requests === null ? null : Math.round(report.requests),
    sla,
    slaMet: sla.every((r) => r.status === 'ok'),
  };
}
