// Every committed file that is derived from another source in the repository (alert rules from the
// environments' SLO blocks, the chart's copy of prometheus/ rules, Terraform variables from the
// environment files …). One registry, so `make generate` rewrites them all and `make generate
// ARGS=--check` (CI, and test/generated) fails when a committed copy drifts from its source.
// Add a generator: one module in this folder exporting a `Generator`, one line in `generators`.
import { terraformTfvars } from './terraform-tfvars.js';

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

export const generators: Generator[] = [terraformTfvars];
