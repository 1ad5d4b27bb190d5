// SLO recording and alerting rules, rendered from an environment's `slo` block (no objective is
// typed by hand anywhere): the SLIs over every window, the error budget left over the SLO period,
// the burn rate, and the multi-window multi-burn-rate alerts of the Google SRE Workbook
// (chapter "Alerting on SLOs", table 5-8: page on 2 % of the 30-day budget in 1 h or 5 % in 6 h,
// ticket on 10 % in 3 d … as burn rates 14.4 / 6 / 3 / 1, each long window paired with a short
// window of 1/12 of it so the alert resets quickly).
import { stringify } from 'yaml';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import { DASHBOARD_UIDS, dashboardUrl, runbookUrl } from './links.js';

/** SLI windows recorded; the last one is the SLO period (error budget). */
export const SLI_WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d'] as const;
export type SliWindow = (typeof SLI_WINDOWS)[number];
export const SLO_PERIOD: SliWindow = '30d';

/** Buckets of http_request_duration_seconds in app/src/metrics/metrics.ts (the latency threshold must be one). */
export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Requests that count for the SLIs: the API's own routes, not its probes or scrapes. */
export const SLI_SELECTOR = 'job="api",route!~"/health.*|/metrics"';

export interface BurnRateAlert {
  severity: 'critical' | 'warning';
  longWindow: SliWindow;
  shortWindow: SliWindow;
  factor: number;
  /** `for:` of the rule; the Workbook's short window already debounces, so only tickets wait. */
  for?: string;
}

/** SRE Workbook table 5-8 (30-day SLO): page at 14.4x (1h/5m) or 6x (6h/30m); ticket at 3x (1d/2h) or 1x (3d/6h). */
export const BURN_RATE_ALERTS: BurnRateAlert[] = [
  { severity: 'critical', longWindow: '1h', shortWindow: '5m', factor: 14.4 },
  { severity: 'critical', longWindow: '6h', shortWindow: '30m', factor: 6 },
  { severity: 'warning', longWindow: '1d', shortWindow: '2h', factor: 3, for: '15m' },
  { severity: 'warning', longWindow: '3d', shortWindow: '6h', factor: 1, for: '1h' },
];

export interface SloDefinition {
  /** Value of the `slo` label. */
  slo: 'availability' | 'latency';
  alert: string;
  /** Good-event ratio to keep, 0–1. */
  objective: number;
  /** Human statement for annotations. */
  statement: string;
  /** Good events / all events over a range [w]. */
  goodRatio: (w: string) => string;
}

/** Rounds away binary noise (99.9 / 100 = 0.9990000000000001). */
const ratio = (percent: number): number => Number((percent / 100).toPrecision(12));

export function sloDefinitions(env: Pick<Environment, 'name' | 'slo'>): SloDefinition[] {
  const le = env.slo.latencyP95Ms / 1000;
  if (!HTTP_DURATION_BUCKETS.includes(le)) {
    throw new UserError(
      `environments/${env.name}.yaml slo.latencyP95Ms=${env.slo.latencyP95Ms} is not a bucket of http_request_duration_seconds`,
      {
        hint: `use one of ${HTTP_DURATION_BUCKETS.map((b) => b * 1000).join(', ')} ms, or add the bucket in app/src/metrics/metrics.ts and HTTP_DURATION_BUCKETS`,
      },
    );
  }
  const count = (w: string, extra = ''): string =>
    `sum by (job) (rate(http_request_duration_seconds_count{${SLI_SELECTOR}${extra}}[${w}]))`;
  return [
    {
      slo: 'availability',
      alert: 'ApiAvailabilityBudgetBurn',
      objective: ratio(env.slo.availabilityPercent),
      statement: `${env.slo.availabilityPercent}% of API requests answer without a 5xx`,
      // No 5xx series at all must read as "no errors", not as no data: `or` a zero of the same shape.
      goodRatio: (w) =>
        `1 - (\n  (\n    ${count(w, ',status_code=~"5.."')}\n    or 0 * ${count(w)}\n  )\n  / ${count(w)}\n)`,
    },
    {
      slo: 'latency',
      alert: 'ApiLatencyBudgetBurn',
      // "P95 < X ms" = at least 95 % of requests faster than X.
      objective: 0.95,
      statement: `95% of API requests answer within ${env.slo.latencyP95Ms} ms`,
      goodRatio: (w) =>
        `sum by (job) (rate(http_request_duration_seconds_bucket{${SLI_SELECTOR},le="${le}"}[${w}]))\n/ ${count(w)}`,
    },
  ];
}

type Rule = Record<string, unknown>;

/** The rules file for one environment (prometheus/rules/slo/<env>.yml), as YAML text. */
export function renderSloRules(env: Pick<Environment, 'name' | 'slo'>): string {
  const groups: { name: string; interval?: string; rules: Rule[] }[] = [];
  for (const d of sloDefinitions(env)) {
    const labels = { slo: d.slo };
    const recording: Rule[] = [
      { record: 'job:slo_objective:ratio', expr: `vector(${d.objective})`, labels: { job: 'api', ...labels } },
    ];
    for (const w of SLI_WINDOWS) {
      recording.push({ record: `job:slo_sli:ratio_rate${w}`, expr: d.goodRatio(w), labels });
    }
    for (const w of SLI_WINDOWS) {
      recording.push({
        record: `job:slo_burn_rate:ratio_rate${w}`,
        expr: `(1 - job:slo_sli:ratio_rate${w}{slo="${d.slo}"})\n/ on (job, slo) (1 - job:slo_objective:ratio{slo="${d.slo}"})`,
        labels,
      });
    }
    recording.push({
      record: `job:slo_error_budget_remaining:ratio_rate${SLO_PERIOD}`,
      expr: `1 - job:slo_burn_rate:ratio_rate${SLO_PERIOD}{slo="${d.slo}"}`,
      labels,
    });
    groups.push({ name: `slo-${d.slo}-recording`, rules: recording });

    const alerts: Rule[] = BURN_RATE_ALERTS.map((a) => ({
      alert: d.alert,
      expr:
        `job:slo_burn_rate:ratio_rate${a.longWindow}{slo="${d.slo}"} > ${a.factor}\n` +
        `and\njob:slo_burn_rate:ratio_rate${a.shortWindow}{slo="${d.slo}"} > ${a.factor}\n`,
      ...(a.for ? { for: a.for } : {}),
      labels: {
        severity: a.severity,
        service: 'api',
        slo: d.slo,
        long_window: a.longWindow,
        short_window: a.shortWindow,
      },
      annotations: {
        summary: `API ${d.slo} SLO burning its error budget ${a.factor}x too fast (${a.longWindow} and ${a.shortWindow})`,
        description:
          `SLO: ${d.statement} over ${SLO_PERIOD}. Burn rate is {{ printf "%.1f" $value }}x over ${a.longWindow} ` +
          `(and above ${a.factor}x over ${a.shortWindow}); at ${a.factor}x the ${SLO_PERIOD} budget lasts ` +
          `${budgetLasts(a.factor)}.`,
        runbook_url: runbookUrl(d.alert),
        dashboard_url: dashboardUrl(DASHBOARD_UIDS.slo),
      },
    }));
    groups.push({ name: `slo-${d.slo}-alerts`, rules: alerts });
  }
  groups.push(drDrillGroup(env));
  const header =
    `# GENERATED by make generate from environments/${env.name}.yaml (slo block) through\n` +
    `# scripts/lib/monitoring/slo.ts — do not edit; change the environment file and run make generate.\n`;
  return header + stringify({ groups }, { lineWidth: 150, minContentWidth: 40, aliasDuplicateObjects: false });
}

/** DR objectives of the `slo` block, in seconds, as make dr-drill measures them (scripts/dr-drill.ts). */
export function drObjectives(
  env: Pick<Environment, 'slo'>,
): { objective: 'rpo' | 'rto'; seconds: number; metric: string }[] {
  return [
    { objective: 'rpo', seconds: env.slo.rpoMinutes * 60, metric: 'mytv_dr_drill_rpo_seconds' },
    { objective: 'rto', seconds: env.slo.rtoMinutes * 60, metric: 'mytv_dr_drill_rto_seconds' },
  ];
}

/**
 * Recording `slo:dr_objective:seconds{objective}` (the dashboard's threshold series) and the alert
 * DrDrillOutsideObjective when the last drill's measured RPO/RTO (pushed by make dr-drill, label
 * environment) exceeds the environment's objective.
 */
function drDrillGroup(env: Pick<Environment, 'name' | 'slo'>): { name: string; rules: Rule[] } {
  const rules: Rule[] = [];
  for (const o of drObjectives(env)) {
    rules.push({
      record: 'slo:dr_objective:seconds',
      expr: `vector(${o.seconds})`,
      labels: { objective: o.objective },
    });
  }
  for (const o of drObjectives(env)) {
    const name = o.objective.toUpperCase();
    rules.push({
      alert: 'DrDrillOutsideObjective',
      expr: `max by (environment) (${o.metric}) > ${o.seconds}`,
      labels: { severity: 'warning', service: 'postgres', objective: o.objective },
      annotations: {
        summary: `The last DR drill measured ${name} {{ humanizeDuration $value }}, above the ${o.seconds / 60} min objective`,
        description:
          `make dr-drill in {{ $labels.environment }} measured ${name} {{ humanizeDuration $value }}; the ` +
          `${env.name} slo block allows ${o.seconds / 60} minutes. A real loss would likely miss it too.`,
        runbook_url: runbookUrl('DrDrillOutsideObjective'),
        dashboard_url: dashboardUrl(DASHBOARD_UIDS.backups),
      },
    });
  }
  return { name: 'dr-drill-objectives', rules };
}

/** "the 30d budget lasts 2.1 days" for a burn factor. */
function budgetLasts(factor: number): string {
  const days = 30 / factor;
  return days >= 1 ? `${Number(days.toFixed(1))} days` : `${Number((days * 24).toFixed(1))} hours`;
}

/** Repository path of the generated SLO rules of an environment. */
export function sloRulesPath(envName: string): string {
  return `prometheus/rules/slo/${envName}.yml`;
}
