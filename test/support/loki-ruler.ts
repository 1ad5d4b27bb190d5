// A stand-in for Loki's ruler (Loki cannot run here; the real ruler runs only where Loki does, see
// loki/README.md): evaluates a recording rule's LogQL over log entries at an instant and
// remote-writes the samples to Prometheus with the remote-write protocol (snappy-compressed
// protobuf WriteRequest, library prometheus-remote-write), as the ruler does.
//
// The LogQL is parsed by Loki's grammar (@grafana/lezer-logql) and evaluated for the subset our
// rules use, following https://grafana.com/docs/loki/latest/query/metric_queries/:
//   - stream selector with =, !=, =~, !~ (regexes fully anchored, as Loki's label matchers);
//   - `| json` (every top-level field) or `| json a="path.to.field"`; a line that is not JSON gets
//     `__error__="JSONParserErr"`; numbers become their decimal text (500 -> "500");
//   - label filters with =, !=, =~, !~ (a missing label is "");
//   - rate (entries per second over the range) and count_over_time, over entries with a
//     timestamp in (t - range, t]; the series are the labels after the pipeline;
//   - sum/min/max/count/avg by|without; label_replace (Prometheus semantics: anchored regex on the
//     source label, $1/${1} expanded, series unchanged when it does not match).
// Anything else throws "not implemented by the stand-in": extend here, following the same docs.
import { parser } from '@grafana/lezer-logql';
import { pushTimeseries } from 'prometheus-remote-write';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];
type FetchBody = NonNullable<Parameters<typeof fetch>[1]>['body'];

export interface LogEntry {
  /** ms since the epoch (Alloy uses the line's own `timestamp`). */
  ts: number;
  /** Stream labels (env, service, log_type, level as loki/alloy/pipeline.alloy sets them). */
  labels: Record<string, string>;
  line: string;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

type Labels = Record<string, string>;
const key = (l: Labels): string =>
  JSON.stringify(
    Object.entries(l)
      .filter(([, v]) => v !== '')
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
const dropEmpty = (l: Labels): Labels => Object.fromEntries(Object.entries(l).filter(([, v]) => v !== ''));

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
function durationMs(text: string): number {
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d|w)/g)];
  if (!parts.length) throw new Error(`LogQL duration ${text} not understood`);
  return parts.reduce((s, p) => s + Number(p[1]) * UNITS[p[2]], 0);
}

/** A LogQL string literal: "Go quoted" or `raw`. */
function stringValue(src: string, node: SyntaxNode): string {
  const text = src.slice(node.from, node.to);
  return text.startsWith('`') ? text.slice(1, -1) : (JSON.parse(text) as string);
}

const anchored = (re: string): RegExp => new RegExp(`^(?:${re})$`);

function matcher(src: string, node: SyntaxNode): (labels: Labels) => boolean {
  const name = src.slice(node.getChild('Identifier')!.from, node.getChild('Identifier')!.to);
  const value = stringValue(src, node.getChild('String')!);
  const op = ['Eq', 'Neq', 'Re', 'Nre'].find((o) => node.getChild(o));
  const get = (l: Labels) => l[name] ?? '';
  switch (op) {
    case 'Eq':
      return (l) => get(l) === value;
    case 'Neq':
      return (l) => get(l) !== value;
    case 'Re':
      return (l) => anchored(value).test(get(l));
    case 'Nre':
      return (l) => !anchored(value).test(get(l));
    default:
      throw new Error(`matcher ${src.slice(node.from, node.to)} not implemented by the stand-in`);
  }
}

const unsupported = (src: string, node: SyntaxNode): Error =>
  new Error(`LogQL ${node.name} (${src.slice(node.from, node.to)}) not implemented by the stand-in`);

function jsonText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** One pipeline stage: labels in, labels out (undefined = line dropped). */
type Stage = (labels: Labels, line: string) => Labels | undefined;

function stage(src: string, node: SyntaxNode): Stage {
  const inner = node.lastChild!;
  const bareJson = inner.name === 'LabelParser' && inner.getChild('Json') !== null;
  if (inner.name === 'JsonExpressionParser' || bareJson) {
    const list = inner.getChild('LabelExtractionExpressionList');
    const wanted = list
      ? list.getChildren('LabelExtractionExpression').map((e) => ({
          label: src.slice(e.getChild('Identifier')!.from, e.getChild('Identifier')!.to),
          path: stringValue(src, e.getChild('String')!).split('.'),
        }))
      : undefined;
    return (labels, line) => {
      let doc: unknown;
      try {
        doc = JSON.parse(line);
      } catch {
        return { ...labels, __error__: 'JSONParserErr' };
      }
      if (typeof doc !== 'object' || doc === null) return { ...labels, __error__: 'JSONParserErr' };
      const out = { ...labels };
      const fields = wanted ?? Object.keys(doc).map((k) => ({ label: k, path: [k] }));
      for (const f of fields) {
        const v = f.path.reduce<unknown>((o, p) => (o && typeof o === 'object' ? (o as Labels)[p] : undefined), doc);
        // An extracted label that clashes with a stream label gets the suffix _extracted (Loki's rule).
        out[f.label in labels && !wanted ? `${f.label}_extracted` : f.label] = jsonText(v);
      }
      return out;
    };
  }
  if (inner.name === 'LabelFilter' && inner.firstChild?.name === 'Matcher') {
    const m = matcher(src, inner.firstChild);
    return (labels) => (m(labels) ? labels : undefined);
  }
  throw unsupported(src, inner);
}

function pipelineStages(src: string, node: SyntaxNode | null): Stage[] {
  if (!node) return [];
  // PipelineExpr is left-recursive: PipelineExpr(PipelineExpr(...), PipelineStage).
  const out: Stage[] = [];
  let cur: SyntaxNode | null = node;
  const stack: SyntaxNode[] = [];
  while (cur) {
    const s = cur.getChild('PipelineStage');
    if (s) stack.push(s);
    cur = cur.getChild('PipelineExpr');
  }
  for (const s of stack.reverse()) out.push(stage(src, s));
  return out;
}

function rangeAggregation(src: string, node: SyntaxNode, entries: LogEntry[], at: number): Sample[] {
  const op = node.getChild('RangeOp')!.firstChild!.name;
  const logRange = node.getChild('LogRangeExpr');
  if (!logRange || node.getChild('Grouping')) throw unsupported(src, node);
  const selector = logRange.getChild('Selector')!;
  const tests = collectMatchers(selector).map((m) => matcher(src, m));
  const stages = pipelineStages(src, logRange.getChild('PipelineExpr'));
  const rangeNode = logRange.getChild('Range')!;
  const range = durationMs(src.slice(rangeNode.getChild('Duration')!.from, rangeNode.getChild('Duration')!.to));
  const series = new Map<string, Sample>();
  for (const e of entries) {
    if (!(e.ts > at - range && e.ts <= at)) continue;
    if (!tests.every((t) => t(e.labels))) continue;
    let labels: Labels | undefined = { ...e.labels };
    for (const s of stages) {
      labels = s(labels, e.line);
      if (!labels) break;
    }
    if (!labels) continue;
    if (labels.__error__)
      throw new Error(`pipeline error ${labels.__error__} in a metric query (Loki fails the query)`);
    const k = key(labels);
    const prev = series.get(k) ?? { labels: dropEmpty(labels), value: 0 };
    prev.value += 1;
    series.set(k, prev);
  }
  if (op === 'CountOverTime') return [...series.values()];
  if (op === 'Rate') return [...series.values()].map((s) => ({ ...s, value: s.value / (range / 1000) }));
  throw unsupported(src, node);
}

function collectMatchers(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  const walk = (n: SyntaxNode) => {
    for (let c = n.firstChild; c; c = c.nextSibling) {
      if (c.name === 'Matcher') out.push(c);
      else if (c.name === 'Matchers') walk(c);
    }
  };
  walk(node.getChild('Matchers')!);
  return out;
}

function vectorAggregation(src: string, node: SyntaxNode, entries: LogEntry[], at: number): Sample[] {
  const op = node.getChild('VectorOp')!.firstChild!.name;
  const grouping = node.getChild('Grouping');
  const names = grouping
    ? (grouping.getChild('Labels')?.getChildren('Identifier') ?? []).map((i) => src.slice(i.from, i.to))
    : [];
  const without = grouping?.getChild('Without') !== null && grouping !== null;
  const input = metric(src, node.getChild('MetricExpr')!, entries, at);
  const groups = new Map<string, { labels: Labels; values: number[] }>();
  for (const s of input) {
    const labels = without
      ? Object.fromEntries(Object.entries(s.labels).filter(([k]) => !names.includes(k)))
      : Object.fromEntries(names.filter((n) => s.labels[n] !== undefined).map((n) => [n, s.labels[n]]));
    const k = key(labels);
    const g = groups.get(k) ?? { labels, values: [] };
    g.values.push(s.value);
    groups.set(k, g);
  }
  const fold: Record<string, (v: number[]) => number> = {
    Sum: (v) => v.reduce((a, b) => a + b, 0),
    Min: (v) => Math.min(...v),
    Max: (v) => Math.max(...v),
    Count: (v) => v.length,
    Avg: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  };
  if (!fold[op]) throw unsupported(src, node);
  return [...groups.values()].map((g) => ({ labels: g.labels, value: fold[op](g.values) }));
}

function labelReplace(src: string, node: SyntaxNode, entries: LogEntry[], at: number): Sample[] {
  const [dst, replacement, srcLabel, regex] = node.getChildren('String').map((s) => stringValue(src, s));
  const re = anchored(regex);
  return metric(src, node.getChild('MetricExpr')!, entries, at).map((s) => {
    const m = re.exec(s.labels[srcLabel] ?? '');
    if (!m) return s;
    const value = replacement.replace(/\$\{(\w+)\}|\$(\w+)/g, (_x, a?: string, b?: string) => {
      const ref = a ?? b ?? '';
      return (/^\d+$/.test(ref) ? m[Number(ref)] : m.groups?.[ref]) ?? '';
    });
    return { value: s.value, labels: dropEmpty({ ...s.labels, [dst]: value }) };
  });
}

function metric(src: string, node: SyntaxNode, entries: LogEntry[], at: number): Sample[] {
  const inner = node.name === 'MetricExpr' ? node.firstChild! : node;
  switch (inner.name) {
    case 'RangeAggregationExpr':
      return rangeAggregation(src, inner, entries, at);
    case 'VectorAggregationExpr':
      return vectorAggregation(src, inner, entries, at);
    case 'LabelReplaceExpr':
      return labelReplace(src, inner, entries, at);
    default:
      throw unsupported(src, inner);
  }
}

/** The instant result of a LogQL metric query over `entries` at `at` (ms). Throws on what it does not implement. */
export function evaluateLogQL(expr: string, entries: LogEntry[], at: number): Sample[] {
  const tree = parser.parse(expr);
  let error: number | undefined;
  tree.iterate({
    enter: (n) => {
      if (error === undefined && n.type.isError) error = n.from;
    },
  });
  if (error !== undefined) throw new Error(`LogQL syntax error at ${error}: ${expr}`);
  const top = tree.topNode.firstChild?.firstChild;
  if (top?.name !== 'MetricExpr') throw new Error(`not a metric query: ${expr}`);
  return metric(expr, top, entries, at);
}

/**
 * What the ruler records for a rule at `at`: each result series named `record`, the rule's labels
 * over the result's (Prometheus recording-rule semantics), one sample at `at`.
 */
export function recordingSeries(
  rule: { record: string; expr: string; labels: Record<string, string> },
  entries: LogEntry[],
  at: number,
): { labels: Record<string, string> & { __name__: string }; samples: { value: number; timestamp: number }[] }[] {
  return evaluateLogQL(rule.expr, entries, at).map((s) => {
    const merged = { ...s.labels, ...rule.labels, __name__: rule.record };
    const sorted = Object.fromEntries(Object.entries(merged).sort(([a], [b]) => (a < b ? -1 : 1)));
    return {
      labels: sorted as Record<string, string> & { __name__: string },
      samples: [{ value: s.value, timestamp: at }],
    };
  });
}

/**
 * Sends series to a Prometheus remote-write endpoint (`url` = …/api/v1/write). Throws with
 * Prometheus' answer when it does not accept them (2xx expected).
 */
export async function remoteWrite(url: string, series: Parameters<typeof pushTimeseries>[0]): Promise<void> {
  const result = await pushTimeseries(series, {
    url,
    // Node's fetch (the library's default is node-fetch, not installed); the body is the snappy block.
    fetch: (u, init) => fetch(u, { ...init, body: init?.body as FetchBody }),
    headers: { 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' },
  });
  if (result.status < 200 || result.status > 299)
    throw new Error(`remote write refused: ${result.status} ${result.statusText} ${result.errorMessage ?? ''}`);
}
