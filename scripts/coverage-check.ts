// make coverage-check: the quality gate's coverage rule — coverage/coverage-summary.json (written
// by `make test`, c8's json-summary reporter) against minimum percentages.
import { existsSync, readFileSync } from 'node:fs';
import { UsageError, UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { fromRoot } from './lib/paths.js';

type Metric = 'lines' | 'statements' | 'functions' | 'branches';
const METRICS: Metric[] = ['lines', 'statements', 'functions', 'branches'];

function percent(raw: unknown, flag: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 100)
    throw new UsageError(
      `--${flag} must be a percentage from 0 to 100 (got ${JSON.stringify(raw)})`,
      `pass --${flag}=80`,
    );
  return n;
}

await runScript(
  {
    summary: 'Fail when test coverage (coverage/coverage-summary.json from make test) is below the minimum.',
    usage: 'make coverage-check ARGS="--min-lines=70 [--min-branches=60] [--summary=FILE]"',
    options: {
      'min-lines': { type: 'string' },
      'min-statements': { type: 'string' },
      'min-functions': { type: 'string' },
      'min-branches': { type: 'string' },
      summary: { type: 'string' },
    },
    optionsHelp:
      '      --min-METRIC=PCT  minimum for lines, statements, functions or branches (at least one)\n      --summary=FILE    default coverage/coverage-summary.json',
  },
  async ({ values, flags, out }) => {
    const mins = Object.fromEntries(
      METRICS.map((m) => [m, percent(values[`min-${m}`], `min-${m}`)]).filter(([, v]) => v !== undefined),
    ) as Partial<Record<Metric, number>>;
    if (Object.keys(mins).length === 0)
      throw new UsageError('no minimum given', 'pass --min-lines=PCT (and others as needed)');
    const file = (values.summary as string | undefined) ?? fromRoot('coverage', 'coverage-summary.json');
    if (!existsSync(file))
      throw new UserError(`no coverage summary at ${file}`, {
        hint: 'run `make test` first (it writes coverage/coverage-summary.json)',
      });
    const total = (JSON.parse(readFileSync(file, 'utf8')) as { total?: Record<Metric, { pct: number }> }).total;
    if (!total)
      throw new UserError(`${file} has no "total" section`, { hint: 'it should come from c8 --reporter=json-summary' });
    const rows = (Object.entries(mins) as [Metric, number][]).map(([m, min]) => ({
      metric: m,
      covered: total[m].pct,
      minimum: min,
      ok: total[m].pct >= min ? 'ok' : 'BELOW',
    }));
    if (flags.json) out.data(rows);
    else out.table(rows);
    const below = rows.filter((r) => r.ok !== 'ok');
    if (below.length)
      throw new UserError(
        `coverage below the minimum: ${below.map((r) => `${r.metric} ${r.covered} % < ${r.minimum} %`).join(', ')}`,
        { hint: 'add tests for the uncovered code' },
      );
    out.ok('coverage meets every minimum');
  },
);
