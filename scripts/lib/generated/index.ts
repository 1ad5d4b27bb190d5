// Every committed file that is derived from another source in the repository (alert rules from the
// environments' SLO blocks, the chart's copy of prometheus/ rules, Terraform variables from the
// environment files …). One registry, so `make generate` rewrites them all and `make generate
// ARGS=--check` (CI, and test/generated) fails when a committed copy drifts from its source.
// Add a generator: one module in this folder exporting a `Generator`, one line in `generators`.
import { backupJobsGenerator } from './backup-jobs.js';
import { chartRulesGenerator } from './chart-rules.js';
import { terraformTfvars } from './terraform-tfvars.js';
import { grafanaDashboardsGenerator } from './grafana-dashboards.js';
import { lokiEnvGenerator } from './loki-env.js';
import { prometheusConfigGenerator } from './prometheus-config.js';
import { sloRulesGenerator } from './slo-rules.js';

export { COMMITTED, formatLikeRepo, type GeneratedFile, type Generator } from './common.js';
import type { Generator } from './common.js';

export const generators: Generator[] = [
  sloRulesGenerator,
  chartRulesGenerator,
  prometheusConfigGenerator,
  grafanaDashboardsGenerator,
  terraformTfvars,
  lokiEnvGenerator,
  backupJobsGenerator,
];
