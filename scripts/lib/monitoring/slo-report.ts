// The numbers of make slo-report: an environment's SLIs over a window, asked from its Prometheus
// with the same SLI selectors as the generated rules (slo.ts), against the environment's `slo` block.
import type { Environment } from '../environments.js';
import type { PrometheusClient } from './api.js';
import { SLI_SELECTOR, sloDefinitions } from './slo.js';

export interface SloReportRow {
  indicator: string;
  value: number | null;
  target: string;
  /** ok | breach | no data */
  status: 'ok' | 'breach' | 'no data';
  /** Human form of value. */
  shown: string;
}

export interface SloReport {
  environment: string;
  window: string;
  prometheus: string;
  requests: number | null;
  rows: SloReportRow[];
}

const pct = (v: number, digits = 3): string => `${(v * 100).toFixed(digits)} %`;

/**
 * Availability (non-5xx / all), P95 latency, error rate (5xx / all), error budget left and burn
 * rate over `window` (a Prometheus duration), at the current time. A window without requests has
 * no data rather than a perfect score.
 */
export async function sloReport(env: Environment, prom: PrometheusClient, window: string): Promise<SloReport> {
  const [availability, latency] = sloDefinitions(env);
  const all = `sum(increase(http_request_duration_seconds_count{${SLI_SELECTOR}}[${window}]))`;
  const requests = (await prom.value(all)) ?? null;
  const good = (await prom.value(availability.goodRatio(window))) ?? null;
  const p95 =
    (await prom.value(
      `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{${SLI_SELECTOR}}[${window}])))`,
    )) ?? null;
  const fast = (await prom.value(latency.goodRatio(window))) ?? null;
  const errorRate = good === null ? null : 1 - good;
  const budget = 1 - availability.objective;
  const burn = errorRate === null ? null : errorRate / budget;
  const latencyBurn = fast === null ? null : (1 - fast) / (1 - latency.objective);
  const row = (
    indicator: string,
    value: number | null,
    target: string,
    ok: (v: number) => boolean,
    shown: (v: number) => string,
  ): SloReportRow => ({
    indicator,
    value,
    target,
    status: value === null ? 'no data' : ok(value) ? 'ok' : 'breach',
    shown: value === null ? '–' : shown(value),
  });
  return {
    environment: env.name,
    window,
    prometheus: prom.baseUrl,
    requests,
    rows: [
      row(
        'availability',
        good,
        `≥ ${env.slo.availabilityPercent} %`,
        (v) => v >= availability.objective,
        (v) => pct(v),
      ),
      row(
        'latency P95',
        p95,
        `< ${env.slo.latencyP95Ms} ms`,
        (v) => v * 1000 < env.slo.latencyP95Ms,
        (v) => `${(v * 1000).toFixed(1)} ms`,
      ),
      row(
        'error rate',
        errorRate,
        `< ${env.slo.errorRatePercent} %`,
        (v) => v * 100 < env.slo.errorRatePercent,
        (v) => pct(v),
      ),
      row(
        'error budget left',
        burn === null ? null : 1 - burn,
        '> 0 %',
        (v) => v > 0,
        (v) => pct(v, 1),
      ),
      row(
        'burn rate (availability)',
        burn,
        '≤ 1',
        (v) => v <= 1,
        (v) => `${v.toFixed(2)}x`,
      ),
      row(
        'burn rate (latency)',
        latencyBurn,
        '≤ 1',
        (v) => v <= 1,
        (v) => `${v.toFixed(2)}x`,
      ),
    ],
  };
}
