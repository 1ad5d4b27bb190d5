// The deploy tests' world: kubectl and helm replaced on PATH by test/fixtures/kube-standin.cjs (no
// Kubernetes API server can run here; offline subcommands still run the real binaries), the
// environments' public URL served by a loopback HTTP server, a throwaway git checkout (GIT_DIR),
// and environment files pointing at that server. Everything lives in one temp directory.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { environmentsDir, fromRoot, toolsBinDir } from '../../scripts/lib/paths.js';
import { freePort } from '../../scripts/lib/services/index.js';
import { runEntryScript, type ScriptResult } from './run-script.js';

export interface Scenario {
  currentContext?: string;
  contexts?: string[];
  secret?: boolean;
  diff?: 'none' | 'changes';
  apply?: 'ok' | 'fail';
  migration?: 'ok' | 'fail';
  rollout?: 'ok' | 'fail';
  undo?: 'ok' | 'fail';
  upgrade?: 'ok' | 'fail-atomic';
  helmTest?: 'ok' | 'fail';
  initial?: { revision?: string; image?: string; helmRevision?: number };
  /** The app Secret's data (base64 values, as the API returns them). */
  secretData?: Record<string, string>;
  /** kubectl rollout status after a rollout restart: fail every time or only the first. */
  restartRollout?: 'ok' | 'fail' | 'fail-first';
  /** The backup CronJobs in the cluster: name and the value of their label mytv.app/backup-job. */
  backupCronJobs?: { name: string; job: string }[];
  /** How a Job created from a CronJob ends (after one look at it running). */
  backupJob?: 'complete' | 'failed' | 'running';
  /** What `kubectl logs job/…` prints for such a Job. */
  jobLog?: string;
}

export interface Call {
  tool: 'kubectl' | 'helm';
  args: string[];
}

export interface RunResult extends ScriptResult {
  calls: Call[];
  state: Record<string, unknown>;
}

export class KubeWorld {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-kube-'));
  readonly binDir = path.join(this.dir, 'bin');
  readonly envDir = path.join(this.dir, 'environments');
  readonly gitDir = path.join(this.dir, 'checkout');
  readonly runDir = path.join(this.dir, 'run');
  /** What the public URL answers on /health/ready. */
  readyStatus = 200;
  /** Answers a request first when set and it returns true (e.g. the JWT probe of a rotation test). */
  handler?: (req: IncomingMessage, res: ServerResponse) => boolean;
  private server?: Server;
  port = 0;
  /** The stand-in's directory of the latest run (calls.jsonl, state.json). */
  standinDir = '';

  async start(): Promise<void> {
    mkdirSync(this.binDir);
    const standin = fromRoot('test/fixtures/kube-standin.cjs');
    chmodSync(standin, 0o755);
    for (const tool of ['kubectl', 'helm']) symlinkSync(standin, path.join(this.binDir, tool));
    this.port = await freePort();
    this.server = createServer((req, res) => {
      if (this.handler?.(req, res)) return;
      if (req.url === '/health/ready')
        res.writeHead(this.readyStatus, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      else if (req.url?.startsWith('/v2/channels'))
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[{"slug":"seed-0001"}]}');
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    mkdirSync(this.envDir);
    for (const name of ['dev', 'staging', 'prod']) {
      const doc = parseDocument(readFileSync(path.join(environmentsDir(), `${name}.yaml`), 'utf8'));
      if (name !== 'dev') doc.setIn(['api', 'publicUrl'], `http://127.0.0.1:${this.port}`);
      writeFileSync(path.join(this.envDir, `${name}.yaml`), doc.toString());
    }
    mkdirSync(this.gitDir);
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', '-C', this.gitDir, ...args], {
        stdio: 'ignore',
      });
    git('init', '-q');
    writeFileSync(path.join(this.gitDir, 'README'), 'test checkout\n');
    git('add', 'README');
    git('commit', '-q', '-m', 'release');
  }

  commit(): string {
    return execFileSync('git', ['-C', this.gitDir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  }

  makeDirty(): void {
    writeFileSync(path.join(this.gitDir, 'uncommitted.txt'), 'x\n');
  }

  async run(
    script: 'deploy' | 'rollback' | 'rotate-secret' | 'backup-job',
    args: string[],
    scenario: Scenario,
  ): Promise<RunResult> {
    const standinDir = mkdtempSync(path.join(this.dir, 'standin-'));
    this.standinDir = standinDir;
    writeFileSync(path.join(standinDir, 'scenario.json'), JSON.stringify(scenario));
    const r = await runEntryScript(`scripts/${script}.ts`, args, {
      timeoutMs: 120_000,
      env: {
        PATH: `${this.binDir}${path.delimiter}${process.env.PATH ?? ''}`,
        STANDIN_DIR: standinDir,
        REAL_KUBECTL: path.join(toolsBinDir, 'kubectl'),
        REAL_HELM: path.join(toolsBinDir, 'helm'),
        MYTV_ENVIRONMENTS_DIR: this.envDir,
        MYTV_RUN_DIR: this.runDir,
        GIT_DIR: path.join(this.gitDir, '.git'),
        GIT_WORK_TREE: this.gitDir,
        GITHUB_ACTOR: 'test-actor',
        ENV: undefined,
        DRY_RUN: undefined,
        YES: undefined,
        KUBECONFIG: path.join(this.dir, 'no-kubeconfig'),
      },
    });
    const callsFile = path.join(standinDir, 'calls.jsonl');
    const calls = existsSync(callsFile)
      ? readFileSync(callsFile, 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Call)
      : [];
    const stateFile = path.join(standinDir, 'state.json');
    const state = existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>) : {};
    return { ...r, calls, state };
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The words of a call without the global flags and their values (--context X, --namespace X …). */
export function words(c: Call): string[] {
  const out: string[] = [];
  for (let i = 0; i < c.args.length; i++) {
    if (['--context', '--namespace', '-n', '--kube-context'].includes(c.args[i])) i++;
    else out.push(c.args[i]);
  }
  return out;
}

/** Calls that change the cluster (everything but reads and offline renders). */
export function changingCalls(calls: Call[]): Call[] {
  return calls.filter((c) => {
    const [cmd, sub] = words(c);
    if (c.tool === 'kubectl')
      return (
        ['apply', 'wait', 'annotate', 'create', 'delete'].includes(cmd) ||
        (cmd === 'rollout' && sub !== 'history' && sub !== 'status')
      );
    return ['upgrade', 'install', 'test', 'rollback', 'uninstall'].includes(cmd);
  });
}
