// Every committed file that is derived from another source in the repository (alert rules from the
// environments' SLO blocks, the chart's copy of prometheus/ rules, Terraform variables from the
// environment files …). One registry, so `make generate` rewrites them all and `make generate
// ARGS=--check` (CI, and test/generated) fails when a committed copy drifts from its source.
// Add a generator: one module in this folder exporting a `Generator`, one line in `generators`.
import { chartRulesGenerator } from './chart-rules.js';
import { terraformTfvars } from './terraform-tfvars.js';
import { format, resolveConfig } from 'prettier';
import { fromRoot } from '../paths.js';
import { grafanaDashboardsGenerator } from './grafana-dashboards.js';
import { prometheusConfigGenerator } from './prometheus-config.js';
import { sloRulesGenerator } from './slo-rules.js';

/** One derived file: path relative to the repository root, full content. */
export interface GeneratedFile {
  path: string;
  content: string;
}

export interface Generator {
  /** Short name shown in the report, e.g. "slo-rules". */
  name: string;
  /** What the files are made from, for the report (e.g. "environments/*.yaml slo"). */
  source: string;
  /** Renders every file this generator owns; must be deterministic (no timestamps). */
  render(): Promise<GeneratedFile[]>;
}

/** Formats a generated file as the repository's Prettier config does, so `make lint` agrees with it. */
export async function formatLikeRepo(file: string, text: string): Promise<string> {
  const options = await resolveConfig(fromRoot(file));
  return format(text, { ...options, filepath: fromRoot(file) });
}

/**
 * How generators load environments/*.yaml: with no variables and no .env files, so `${VAR:-default}`
 * renders its default and a committed file never depends on the machine that generated it.
 */
export const COMMITTED = { env: {}, dotenvDir: '/nonexistent' } as const;

export const generators: Generator[] = [
  sloRulesGenerator,
  chartRulesGenerator,
  prometheusConfigGenerator,
  grafanaDashboardsGenerator,
  terraformTfvars,
];
