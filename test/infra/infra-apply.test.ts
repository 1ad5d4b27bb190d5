// make infra-plan / make infra-apply with `terraform` replaced on PATH by a stand-in that follows
// the CLI's documented contract (test/support/fake-terraform): plan -detailed-exitcode 0/1/2,
// show -json of the saved plan, apply of a saved plan. The state backend is a loopback HTTP
// server. Every path runs: summary, destroy guard, confirmation, dry run, errors, bad input.
import { expect } from 'chai';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fromRoot } from '../../scripts/lib/paths.js';
import { runEntryScript, type ScriptResult } from '../support/run-script.js';

const FAKE_BIN = fromRoot('test/support/fake-terraform/bin');
const TOKEN = 'cf-token-value-that-must-never-be-printed-0001';
const SECRET_KEY = 'state-secret-key-that-must-never-be-printed';

interface ResourceChange {
  address: string;
  type: string;
  actions: string[];
}

const planJson = (changes: ResourceChange[]): object => ({
  format_version: '1.2',
  terraform_version: '1.14.2',
  resource_changes: changes.map((c) => ({
    address: c.address,
    mode: 'managed',
    type: c.type,
    name: c.address.split('.').pop(),
    change: { actions: c.actions },
  })),
});

const creates: ResourceChange[] = [
  { address: 'cloudflare_dns_record.api', type: 'cloudflare_dns_record', actions: ['create'] },
  { address: 'cloudflare_r2_bucket.logos', type: 'cloudflare_r2_bucket', actions: ['create'] },
  { address: 'cloudflare_r2_bucket.backups', type: 'cloudflare_r2_bucket', actions: ['create'] },
  { address: 'cloudflare_ruleset.cache[0]', type: 'cloudflare_ruleset', actions: ['update'] },
];

interface Scenario {
  version?: string;
  plans: { exit: number; plan?: object; stderr?: string }[];
  apply?: { exit: number; stderr?: string };
}

interface Call {
  argv: string[];
  env: string[];
}

describe('make infra-plan / infra-apply against a terraform stand-in', function () {
  this.timeout(60_000);
  let backend: http.Server;
  let backendUrl: string;
  let work: string;

  before(async () => {
    backend = http.createServer((_req, res) => {
      res.statusCode = 403; // an unsigned request to R2 is refused: the endpoint answers, that is all
      res.end();
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  });
  beforeEach(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'mytv-infra-test-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  const credentials = (): Record<string, string> => ({
    CLOUDFLARE_API_TOKEN: TOKEN,
    CLOUDFLARE_ACCOUNT_ID: '0123456789abcdef0123456789abcdef',
    TF_STATE_ACCESS_KEY_ID: 'state-access-key-id',
    TF_STATE_SECRET_ACCESS_KEY: SECRET_KEY,
    TF_STATE_ENDPOINT: backendUrl,
  });

  async function run(
    script: 'infra-plan' | 'infra-apply',
    args: string[],
    scenario: Scenario,
    env: Record<string, string | undefined> = credentials(),
  ): Promise<ScriptResult & { calls: Call[]; applied: { file: string; fakePlan: number }[] }> {
    const dir = mkdtempSync(path.join(work, 'run-')); // one stand-in log per run
    const scenarioFile = path.join(dir, 'scenario.json');
    writeFileSync(scenarioFile, JSON.stringify({ version: '1.14.2', ...scenario }));
    const emptyDotenv = path.join(dir, 'dotenv');
    const r = await runEntryScript(`scripts/${script}.ts`, args, {
      timeoutMs: 180_000, // a loaded machine starts node slowly; no assertion depends on time
      env: {
        PATH: `${FAKE_BIN}${path.delimiter}${process.env.PATH}`,
        FAKE_TERRAFORM_SCENARIO: scenarioFile,
        MYTV_TERRAFORM_WORK_DIR: path.join(work, 'tf'),
        MYTV_DOTENV_DIR: emptyDotenv,
        CLOUDFLARE_API_TOKEN: undefined,
        CLOUDFLARE_ACCOUNT_ID: undefined,
        TF_STATE_ACCESS_KEY_ID: undefined,
        TF_STATE_SECRET_ACCESS_KEY: undefined,
        TF_STATE_ENDPOINT: undefined,
        ...env,
      },
    });
    const lines = (f: string): string[] =>
      existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8').trim().split('\n').filter(Boolean) : [];
    return {
      ...r,
      calls: lines('calls.jsonl').map((l) => JSON.parse(l) as Call),
      applied: lines('applied.jsonl').map((l) => JSON.parse(l) as { file: string; fakePlan: number }),
    };
  }

  const commands = (calls: Call[]): string[] => calls.map((c) => c.argv.find((a) => !a.startsWith('-')) ?? '');

  it('infra-plan: init with the environment’s state key, a saved plan, a summary per type and action; nothing applied', async () => {
    const r = await run('infra-plan', ['--env=staging'], { plans: [{ exit: 2, plan: planJson(creates) }] });
    expect(r.code, r.stderr).to.equal(0);
    expect(commands(r.calls)).to.deep.equal(['version', 'init', 'plan', 'show']);
    const [, init, plan] = r.calls;
    expect(init.argv).to.include('-backend-config=env/staging.s3.tfbackend');
    expect(plan.argv).to.include.members(['-detailed-exitcode', '-var-file=env/staging.tfvars']);
    expect(plan.env).to.include.members([
      'CLOUDFLARE_API_TOKEN',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'TF_VAR_account_id',
    ]);
    expect(r.stdout).to.match(/cloudflare_r2_bucket\s+create\s+2/);
    expect(r.stdout).to.match(/cloudflare_dns_record\s+create\s+1/);
    expect(r.stdout).to.match(/cloudflare_ruleset\s+update\s+1/);
    expect(r.stdout).to.include('plan saved');
    expect(existsSync(path.join(work, 'tf', 'staging', 'plan.tfplan'))).to.equal(true);
    expect(r.applied).to.deep.equal([]);
    // Secrets never on a command line nor in the output; the names are shown.
    for (const c of r.calls) expect(c.argv.join(' ')).to.not.include(TOKEN).and.not.include(SECRET_KEY);
    expect(r.stdout + r.stderr)
      .to.not.include(TOKEN)
      .and.not.include(SECRET_KEY);
    expect(r.stdout).to.include('CLOUDFLARE_API_TOKEN');
  });

  it('infra-plan --json prints one JSON document with the changes', async () => {
    const r = await run('infra-plan', ['--env=staging', '--json'], { plans: [{ exit: 2, plan: planJson(creates) }] });
    expect(r.code, r.stderr).to.equal(0);
    const doc = JSON.parse(r.stdout) as { outcome: string; changes: { address: string; action: string }[] };
    expect(doc.outcome).to.equal('changes');
    expect(doc.changes).to.deep.include({
      address: 'cloudflare_dns_record.api',
      type: 'cloudflare_dns_record',
      action: 'create',
    });
  });

  it('infra-apply applies exactly the saved plan, then verifies with a new plan', async () => {
    const r = await run('infra-apply', ['--env=staging'], {
      plans: [{ exit: 2, plan: planJson(creates) }, { exit: 0 }],
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(commands(r.calls)).to.deep.equal(['version', 'init', 'plan', 'show', 'apply', 'plan']);
    const planned = r.calls[2].argv.find((a) => a.startsWith('-out='))!.slice('-out='.length);
    expect(r.applied).to.deep.equal([{ file: planned, fakePlan: 1 }]);
    expect(r.stdout).to.include('applied 4 change(s) to staging; a new plan is clean');
  });

  it('a plan without changes applies nothing', async () => {
    const r = await run('infra-apply', ['--env=staging'], { plans: [{ exit: 0 }] });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('nothing to apply');
    expect(r.applied).to.deep.equal([]);
  });

  it('--dry-run stops after the plan', async () => {
    const r = await run('infra-apply', ['--env=staging', '--dry-run'], {
      plans: [{ exit: 2, plan: planJson(creates) }],
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('dry run: plan saved at');
    expect(commands(r.calls)).to.not.include('apply');
  });

  it('production asks before applying: without --yes and without a terminal it refuses, nothing applied', async function () {
    this.timeout(120_000);
    const r = await run('infra-apply', ['--env=prod'], { plans: [{ exit: 2, plan: planJson(creates) }] });
    expect(r.code).to.equal(1);
    expect(r.stderr.split('\n')[0]).to.match(
      /^error: refusing to go on without confirmation: apply these 4 change\(s\) to prod/,
    );
    expect(r.applied).to.deep.equal([]);
    const yes = await run('infra-apply', ['--env=prod', '--yes'], {
      plans: [{ exit: 2, plan: planJson(creates) }, { exit: 0 }],
    });
    expect(yes.code, yes.stderr).to.equal(0);
    expect(yes.applied).to.have.length(1);
    expect(yes.calls[1].argv).to.include('-backend-config=env/prod.s3.tfbackend');
  });

  it('a plan that destroys a DNS record, a zone setting or a bucket is flagged and refused without --allow-destroy', async function () {
    this.timeout(240_000);
    for (const destroyed of [
      { address: 'cloudflare_dns_record.api', type: 'cloudflare_dns_record', actions: ['delete'] },
      { address: 'cloudflare_zone_setting.ssl[0]', type: 'cloudflare_zone_setting', actions: ['delete'] },
      { address: 'cloudflare_r2_bucket.backups', type: 'cloudflare_r2_bucket', actions: ['delete', 'create'] },
    ]) {
      const scenario = { plans: [{ exit: 2, plan: planJson([...creates.slice(1, 2), destroyed]) }, { exit: 0 }] };
      const r = await run('infra-apply', ['--env=prod', '--yes'], scenario);
      expect(r.code, destroyed.address).to.equal(1);
      expect(r.stderr).to.include(`PLAN DESTROYS ${destroyed.address}`);
      expect(r.stderr).to.match(/^error: the plan destroys 1 protected resource\(s\) .*; refused$/m);
      expect(r.applied, destroyed.address).to.deep.equal([]);
      if (destroyed.type === 'cloudflare_dns_record') {
        const plan = await run('infra-plan', ['--env=prod'], scenario);
        expect(plan.code, 'a CI plan of it fails too').to.equal(1);
      }
    }
    const allowed = await run('infra-apply', ['--env=prod', '--yes', '--allow-destroy'], {
      plans: [
        {
          exit: 2,
          plan: planJson([
            { address: 'cloudflare_dns_record.api', type: 'cloudflare_dns_record', actions: ['delete'] },
          ]),
        },
        { exit: 0 },
      ],
    });
    expect(allowed.code, allowed.stderr).to.equal(0);
    expect(allowed.applied).to.have.length(1);
    // Destroying an unprotected resource (a ruleset) needs no flag.
    const ruleset = await run('infra-apply', ['--env=staging'], {
      plans: [
        {
          exit: 2,
          plan: planJson([{ address: 'cloudflare_ruleset.cache[0]', type: 'cloudflare_ruleset', actions: ['delete'] }]),
        },
        { exit: 0 },
      ],
    });
    expect(ruleset.code, ruleset.stderr).to.equal(0);
  });

  it('a failing plan (exit 1) or apply is one error line; a failed plan applies nothing', async function () {
    this.timeout(120_000);
    const plan = await run('infra-apply', ['--env=staging'], {
      plans: [{ exit: 1, stderr: 'Invalid provider configuration' }],
    });
    expect(plan.code).to.equal(1);
    expect(plan.stderr.split('\n')[0]).to.match(
      /^error: terraform plan failed for staging \(exit 1\): .*Invalid provider configuration/,
    );
    expect(plan.applied).to.deep.equal([]);
    const apply = await run('infra-apply', ['--env=staging'], {
      plans: [{ exit: 2, plan: planJson(creates) }],
      apply: { exit: 1, stderr: 'Error creating DNS record: 81057' },
    });
    expect(apply.code).to.equal(1);
    expect(apply.stderr.split('\n')[0]).to.match(/^error: terraform apply failed for staging: .*81057/);
    expect(apply.stderr).to.include('run make infra-plan ENV=staging to see what remains');
  });

  it('preflight: a terraform outside the pinned version is refused before init', async () => {
    const r = await run('infra-plan', ['--env=staging'], { version: '1.9.8', plans: [{ exit: 0 }] });
    expect(r.code).to.equal(1);
    expect(r.stderr.split('\n')[0]).to.match(
      /^error: terraform 1\.9\.8 does not satisfy required_version "~> 1\.14\.0"/,
    );
    expect(commands(r.calls)).to.deep.equal(['version']);
  });

  it('preflight: an unreachable state backend stops before terraform init', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await run(
      'infra-plan',
      ['--env=staging'],
      { plans: [{ exit: 0 }] },
      { ...credentials(), TF_STATE_ENDPOINT: `http://127.0.0.1:${port}` },
    );
    expect(r.code).to.equal(1);
    expect(r.stderr.split('\n')[0]).to.match(
      /^error: the state backend http:\/\/127\.0\.0\.1:\d+ is not reachable: ECONNREFUSED/,
    );
    expect(commands(r.calls)).to.not.include('init');
  });

  describe('bad input: one line, non-zero, terraform never runs', () => {
    it('missing token (names only, every missing one at once)', async () => {
      const env = credentials();
      const r = await run(
        'infra-plan',
        ['--env=staging'],
        { plans: [{ exit: 0 }] },
        { ...env, CLOUDFLARE_API_TOKEN: undefined, TF_STATE_SECRET_ACCESS_KEY: undefined },
      );
      expect(r.code).to.equal(1);
      expect(r.stderr.split('\n')[0]).to.match(
        /^error: missing CLOUDFLARE_API_TOKEN, TF_STATE_SECRET_ACCESS_KEY for environment staging/,
      );
      expect(r.stderr).to.include('hint: set them in .env.staging');
      expect(r.calls).to.deep.equal([]);
    });

    it('unknown environment', async () => {
      const r = await run('infra-plan', ['--env=qa'], { plans: [{ exit: 0 }] });
      expect(r.code).to.equal(2);
      expect(r.stderr.split('\n')[0]).to.match(/^error: unknown environment 'qa'/);
      expect(r.calls).to.deep.equal([]);
    });

    it('an environment Terraform does not manage (no cloudflare block)', async () => {
      const r = await run('infra-plan', ['--env=dev'], { plans: [{ exit: 0 }] });
      expect(r.code).to.equal(2);
      expect(r.stderr.split('\n')[0]).to.match(/^error: environment dev has no cloudflare block/);
      expect(r.calls).to.deep.equal([]);
    });

    it('a server name outside the zone', async () => {
      const dir = path.join(work, 'environments');
      cpSync(fromRoot('environments'), dir, { recursive: true });
      const file = path.join(dir, 'staging.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('zone: mytelevision.app', 'zone: example.org'));
      const r = await run(
        'infra-plan',
        ['--env=staging'],
        { plans: [{ exit: 0 }] },
        { ...credentials(), MYTV_ENVIRONMENTS_DIR: dir },
      );
      expect(r.code).to.equal(2);
      expect(r.stderr.split('\n')[0]).to.equal(
        'error: staging.yaml: nginx.serverName staging-api.mytelevision.app is not in the zone cloudflare.zone example.org',
      );
      expect(r.calls).to.deep.equal([]);
    });

    it('generated tfvars that no longer match the environment file', async () => {
      const dir = path.join(work, 'environments');
      cpSync(fromRoot('environments'), dir, { recursive: true });
      const file = path.join(dir, 'staging.yaml');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace('originAddress: 185.246.87.50', 'originAddress: 185.246.87.51'),
      );
      const r = await run(
        'infra-plan',
        ['--env=staging'],
        { plans: [{ exit: 0 }] },
        { ...credentials(), MYTV_ENVIRONMENTS_DIR: dir },
      );
      expect(r.code).to.equal(1);
      expect(r.stderr.split('\n')[0]).to.equal(
        'error: terraform/env/staging.tfvars does not match environments/staging.yaml and nginx/ (stale or missing)',
      );
      expect(r.calls).to.deep.equal([]);
    });
  });
});
