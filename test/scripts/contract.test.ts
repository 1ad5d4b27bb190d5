import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { intOption, parseCli } from '../../scripts/lib/cli.js';
import { UsageError } from '../../scripts/lib/errors.js';
import { runEntryScript } from '../support/run-script.js';

const fixture = 'test/fixtures/contract-script.ts';

describe('entry-script contract: errors, exit codes, confirmation, dry-run, secrets', () => {
  let tmp: string;
  before(() => (tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-contract-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('an operator error prints one line and a hint, no stack, exit 1', async () => {
    const r = await runEntryScript(fixture, ['--mode=user']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal('error: the widget is misconfigured\n  hint: set WIDGET=1 and run again\n');
  });

  it('a usage error (unknown flag) exits 2 with a hint', async () => {
    const r = await runEntryScript(fixture, ['--colour=blue']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/^error: Unknown option '--colour/);
    expect(r.stderr).to.contain('hint: run with --help');
    expect(r.stderr).not.to.contain('    at ');
  });

  it('an unknown environment exits 2 and names the known ones', async () => {
    const r = await runEntryScript('scripts/env-check.ts', ['--env=qa']);
    expect(r.code).to.equal(2);
    expect(r.stderr.split('\n')[0]).to.equal(
      "error: unknown environment 'qa': known environments are dev, prod, staging",
    );
  });

  it('a bug prints its stack and exits 1', async () => {
    const r = await runEntryScript(fixture, ['--mode=bug']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('TypeError: cannot read the widget');
    expect(r.stderr).to.match(/\n\s+at .*contract-script\.ts/);
  });

  it('a production confirmation is refused without a terminal and without --yes; nothing runs', async () => {
    const r = await runEntryScript(fixture, ['--mode=confirm']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain('refusing to go on without confirmation').and.contain('--yes');
    expect(r.stdout).not.to.contain('confirmed');
    const yes = await runEntryScript(fixture, ['--mode=confirm', '--yes']);
    expect(yes.code).to.equal(0);
    expect(yes.stdout).to.contain('confirmed');
    const viaEnv = await runEntryScript(fixture, ['--mode=confirm'], { env: { YES: '1' } });
    expect(viaEnv.stdout).to.contain('confirmed');
  });

  it('--dry-run prints the command instead of running it', async () => {
    const file = path.join(tmp, 'made-by-touch');
    const dry = await runEntryScript(fixture, ['--mode=touch', `--file=${file}`, '--dry-run']);
    expect(dry.code).to.equal(0);
    expect(dry.stdout).to.contain(`would run: touch ${file}`);
    expect(existsSync(file)).to.equal(false);
    const viaEnv = await runEntryScript(fixture, ['--mode=touch', `--file=${file}`], { env: { DRY_RUN: '1' } });
    expect(viaEnv.stdout).to.contain('would run: touch');
    expect(existsSync(file)).to.equal(false);
    const real = await runEntryScript(fixture, ['--mode=touch', `--file=${file}`]);
    expect(real.code).to.equal(0);
    expect(existsSync(file)).to.equal(true);
  });

  it('--verbose echoes commands with registered secrets masked, and output masks them too', async () => {
    const secret = 'tr0ub4dor-and-3';
    const r = await runEntryScript(fixture, ['--mode=echo-secret', `--secret=${secret}`, '--verbose']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.contain('$ true --password=***');
    expect(r.stdout).to.contain('the secret is ***');
    expect(r.stdout + r.stderr).not.to.contain(secret);
  });

  it('an invalid yes/no variable is a usage error', async () => {
    const r = await runEntryScript(fixture, [], { env: { DRY_RUN: 'maybe' } });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('DRY_RUN=maybe is not a yes/no value');
  });

  describe('parseCli', () => {
    it('takes flags first, then the environment, then defaults', () => {
      expect(parseCli([], {}, { env: {} }).flags).to.deep.equal({
        env: 'dev',
        dryRun: false,
        yes: false,
        json: false,
        verbose: false,
      });
      const fromEnv = parseCli([], {}, { env: { ENV: 'staging', DRY_RUN: 'true', JSON: '1' } }).flags;
      expect(fromEnv).to.include({ env: 'staging', dryRun: true, json: true });
      const flagWins = parseCli(['--env', 'prod', '-n'], {}, { env: { ENV: 'staging' } }).flags;
      expect(flagWins).to.include({ env: 'prod', dryRun: true });
    });
    it('intOption takes the default when absent and refuses non-integers and out-of-range values', () => {
      const range = { default: 3, min: 1, max: 20 };
      expect(intOption(undefined, 'rounds', range)).to.equal(3);
      expect(intOption('7', 'rounds', range)).to.equal(7);
      for (const bad of ['abc', '2.5', '0', '21', '-1']) {
        expect(() => intOption(bad, 'rounds', range), bad)
          .to.throw(UsageError)
          .with.property('message', `--rounds must be a whole number from 1 to 20 (got "${bad}")`);
      }
    });
    it('rejects unknown options and stray arguments', () => {
      expect(() => parseCli(['--nope'], {}, { env: {} })).to.throw(UsageError);
      expect(() => parseCli(['stray'], {}, { env: {} })).to.throw(UsageError);
    });
  });
});
