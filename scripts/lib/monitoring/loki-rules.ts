// Loki ruler rule files (loki/rules/*.yaml): the Prometheus rule-group format with LogQL
// expressions (https://grafana.com/docs/loki/latest/alert/). Their recordings are remote-written
// to Prometheus, where alerts read them: this module reads the files and checks that every
// expression is a LogQL metric query (Loki's grammar, @grafana/lezer-logql) and that the names the
// Loki ruler records and the names Prometheus alerts read agree (make check-monitoring and
// test/monitoring/loki-rules.test.ts).
import { readFileSync, readdirSync } from 'node:fs';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { parse } from 'yaml';
import { fromRoot } from '../paths.js';
import { alertRules, type CheckResult, queryError, ruleFiles } from './checks.js';

export const lokiRulesDir = fromRoot('loki', 'rules');

export interface LokiRecordingRule {
  /** Repository-relative file. */
  file: string;
  group: string;
  record: string;
  expr: string;
  labels: Record<string, string>;
}

/** Repository-relative paths of loki/rules/*.yaml (*.yml too), sorted. */
export function lokiRuleFiles(dir = lokiRulesDir): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => `loki/rules/${f}`);
}

interface RuleFileDoc {
  groups?: {
    name: string;
    rules?: { record?: string; alert?: string; expr: string; labels?: Record<string, string> }[];
  }[];
}

/** Every recording rule of the Loki rule files (alerting rules are not used by this repository). */
export function lokiRecordingRules(files = lokiRuleFiles()): LokiRecordingRule[] {
  const out: LokiRecordingRule[] = [];
  for (const file of files) {
    const doc = parse(readFileSync(fromRoot(file), 'utf8')) as RuleFileDoc | null;
    for (const g of doc?.groups ?? []) {
      for (const r of g.rules ?? []) {
        if (r.record) out.push({ file, group: g.name, record: r.record, expr: r.expr, labels: r.labels ?? {} });
      }
    }
  }
  return out;
}

/**
 * Why `expr` is not a LogQL metric query (a recording must produce samples, not log lines), or
 * undefined when it is one. The grammar's top node under `Expr` is `MetricExpr` for a metric
 * query and `LogExpr` for a log query (@grafana/lezer-logql, the grammar Grafana uses).
 */
export function metricQueryError(expr: string): string | undefined {
  const at = queryError('logql', expr);
  if (at !== undefined) return `LogQL syntax error at offset ${at}: ${JSON.stringify(expr.slice(at, at + 30))}`;
  const top = logqlParser.parse(expr).topNode.firstChild?.firstChild;
  if (top?.name !== 'MetricExpr')
    return `a log query (${top?.name ?? 'empty'}), not a metric query: it records nothing`;
  return undefined;
}

/** Metric names of the vector selectors in a PromQL expression (@prometheus-io/lezer-promql). */
export function promqlMetricNames(expr: string): string[] {
  const names = new Set<string>();
  promqlParser.parse(expr).iterate({
    enter(node) {
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.add(expr.slice(id.from, id.to));
      }
    },
  });
  return [...names];
}

/** Names recorded by Prometheus' own rule files (prometheus/rules, the generated SLO rules included). */
function prometheusRecordedNames(): Set<string> {
  const names = new Set<string>();
  for (const file of ruleFiles()) {
    const doc = parse(readFileSync(fromRoot(file), 'utf8')) as RuleFileDoc;
    for (const g of doc.groups ?? []) for (const r of g.rules ?? []) if (r.record) names.add(r.record);
  }
  return names;
}

const RECORDING_NAME = /^[a-zA-Z_]+:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+$/; // level:metric:operations (Prometheus naming practice)

/**
 * The checks: each Loki recording parses as a LogQL metric query, is named level:metric:operations,
 * is read by at least one Prometheus alert; and each level:metric:operations name an alert reads is
 * recorded by Prometheus or by Loki (an alert on a name nobody records never fires).
 */
export function checkLokiRules(): CheckResult[] {
  const recordings = lokiRecordingRules();
  const alerts = alertRules();
  const read = new Map<string, string[]>(); // name -> alerts reading it
  for (const a of alerts) for (const n of promqlMetricNames(a.expr)) read.set(n, [...(read.get(n) ?? []), a.alert]);
  const results: CheckResult[] = recordings.map((r) => {
    const problem =
      metricQueryError(r.expr) ??
      (RECORDING_NAME.test(r.record) ? undefined : `${r.record} is not named level:metric:operations`) ??
      (read.has(r.record) ? undefined : `no alert in prometheus/rules reads ${r.record}`);
    return {
      check: 'loki recording rule',
      target: `${r.file} ${r.record}`,
      ok: problem === undefined,
      detail: problem ?? `metric query, read by ${[...new Set(read.get(r.record))].join(', ')}`,
    };
  });
  const recorded = new Set([...prometheusRecordedNames(), ...recordings.map((r) => r.record)]);
  for (const [name, by] of read) {
    if (!name.includes(':')) continue; // a scraped metric, not a recording
    const ok = recorded.has(name);
    results.push({
      check: 'recording read by alerts',
      target: name,
      ok,
      detail: ok
        ? `recorded (read by ${[...new Set(by)].join(', ')})`
        : `read by ${[...new Set(by)].join(', ')} but recorded by no rule in prometheus/rules or loki/rules`,
    });
  }
  return results;
}
