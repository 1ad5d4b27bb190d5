// make deploy-staging / deploy-prod / rollback-*: the runbook's every path, offline. kubectl and helm
// are stand-ins on PATH (no API server runs here) that answer with the real tools' documented exit
// codes and messages; renders use the real kubectl kustomize and helm template; the public URL is a
// loopback server. The real cluster calls run only in the GitHub Actions workflow (README).
import { expect } from 'chai';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { fromRoot } from '../../scripts/lib/paths.js';
import { changingCalls, KubeWorld, words, type Call } from '../support/kube-world.js';

const STAGING = { currentContext: 'mytv-staging' } as const;
const PROD = { currentContext: 'mytv-prod' } as const;
const sub = (c: Call) => words(c).slice(0, 2).join(' ');

describe('make deploy-staging / deploy-prod / rollback-* (kubectl and helm stand-ins, real renders)', function () {
  this.timeout(180_000);
  const world = new KubeWorld();
  before(async () => world.start());
  after(async () => world.stop());

  describe('--dry-run: preflight and plan offline, the exact commands printed', () => {
    it('staging: renders, validates and prints migration → apply → rollout status, changing nothing', async () => {
      const r = await world.run('deploy', ['--env=staging', '--dry-run'], STAGING);
      expect(r.code, r.stderr).to.equal(0);
      const tag = world.commit();
      const lines = r.stdout.split('\n').filter((l) => l.startsWith('would run: '));
      expect(lines[0]).to.match(
        /kubectl --context mytv-staging --namespace mytv-staging apply -f \S+\/migration\.yaml$/,
      );
      expect(lines[1]).to.include(`wait --for=condition=complete job/mytv-api-migrate-${tag} --timeout=600s`);
      expect(lines[2]).to.match(/apply -f \S+\/render\.yaml$/);
      expect(lines[3]).to.include('rollout status deployment/mytv-api --timeout=600s');
      expect(lines[4])
        .to.include('annotate deployment/mytv-api --overwrite')
        .and.include(`mytv.app/deployed-commit=${tag}`);
      expect(changingCalls(r.calls), 'nothing may change under --dry-run').to.deep.equal([]);
      const render = readFileSync(path.join(world.runDir, 'deploy', 'staging', tag, 'render.yaml'), 'utf8');
      expect(render).to.include(`image: ghcr.io/mytelevision/mytv-api:${tag}`).and.not.include('mytv-api:2.0.0');
      expect(render).to.include('mytv.app/deployed-by: test-actor (GitHub Actions)');
      expect(r.stdout).to.include('dry run: nothing was changed');
    });

    it('production: prints helm upgrade --install --atomic --wait --timeout --history-max and helm test', async () => {
      const r = await world.run('deploy', ['--env=prod', '--dry-run'], PROD);
      expect(r.code, r.stderr).to.equal(0);
      const upgrade = r.stdout.split('\n').find((l) => l.includes(' upgrade --install mytv-api '))!;
      expect(upgrade).to.be.a('string');
      for (const flag of [
        '--atomic',
        '--wait',
        '--timeout=600s',
        '--history-max=10',
        '--kube-context mytv-prod',
        '--namespace mytv-prod',
        `image.tag=${world.commit()}`,
      ])
        expect(upgrade).to.include(flag);
      expect(upgrade).to.include(path.join('helm', 'mytv-api', 'values-prod.yaml'));
      expect(r.stdout).to.match(/would run: \S*helm test mytv-api --logs --timeout=300s/);
      expect(changingCalls(r.calls)).to.deep.equal([]);
    });
  });

  describe('bad input: one line, non-zero, nothing applied', () => {
    it('a wrong kube context is refused before anything touches the cluster', async () => {
      const r = await world.run('deploy', ['--env=prod', '--yes'], {
        currentContext: 'mytv-staging',
        contexts: ['mytv-prod'],
      });
      expect(r.code).to.equal(1);
      expect(r.stderr.split('\n')[0]).to.equal(
        "error: the current kube context is 'mytv-staging' but prod.yaml names 'mytv-prod': refusing to touch the wrong cluster",
      );
      expect(changingCalls(r.calls)).to.deep.equal([]);
    });

    it('no current context at all is refused the same way', async () => {
      const r = await world.run('deploy', ['--env=staging'], {});
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^error: the current kube context is not set but staging\.yaml names 'mytv-staging'/);
      // The hint names the variable the environment file reads the context from.
      expect(r.stderr).to.include(
        'kubectl config use-context mytv-staging (or set STAGING_KUBE_CONTEXT to the context to use)',
      );
      expect(changingCalls(r.calls)).to.deep.equal([]);
    });

    it('an unknown environment and a local one are usage errors (exit 2)', async () => {
      const unknown = await world.run('deploy', ['--env=qa'], STAGING);
      expect(unknown.code).to.equal(2);
      expect(unknown.stderr.split('\n')[0]).to.match(/^error: unknown environment 'qa'/);
      const local = await world.run('deploy', ['--env=dev'], STAGING);
      expect(local.code).to.equal(2);
      expect(local.stderr.split('\n')[0]).to.include('environment dev is not deployed to Kubernetes');
      expect([...unknown.calls, ...local.calls]).to.deep.equal([]);
    });

    it('a dirty tree is refused unless --allow-dirty', async () => {
      world.makeDirty();
      try {
        const r = await world.run('deploy', ['--env=staging'], STAGING);
        expect(r.code).to.equal(1);
        expect(r.stderr.split('\n')[0]).to.match(
          /^error: the working tree has uncommitted changes \(uncommitted\.txt\)/,
        );
        expect(r.calls).to.deep.equal([]);
        const allowed = await world.run('deploy', ['--env=staging', '--dry-run', '--allow-dirty'], STAGING);
        expect(allowed.code, allowed.stderr).to.equal(0);
      } finally {
        rmSync(path.join(world.gitDir, 'uncommitted.txt'));
      }
    });

    it('a values file that violates the chart schema names the field', async () => {
      const dir = fromRoot('.run', `test-values-${process.pid}`);
      mkdirSync(dir, { recursive: true });
      const envFile = path.join(world.envDir, 'prod.yaml');
      const original = readFileSync(envFile, 'utf8');
      try {
        writeFileSync(path.join(dir, 'values.yaml'), 'replicaCount: 3\nreplicas: 3\n');
        const doc = parseDocument(original);
        doc.setIn(['deploy', 'valuesFile'], path.relative(fromRoot(), path.join(dir, 'values.yaml')));
        writeFileSync(envFile, doc.toString());
        const r = await world.run('deploy', ['--env=prod', '--yes'], PROD);
        expect(r.code).to.equal(1);
        expect(r.stderr.split('\n')[0]).to.match(
          /^error: helm template helm\/mytv-api -f \S+ failed: .*Additional property replicas is not allowed/,
        );
        expect(changingCalls(r.calls)).to.deep.equal([]);
      } finally {
        writeFileSync(envFile, original);
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a missing Secret stops the deploy before the first change, naming how to create it', async () => {
      const r = await world.run('deploy', ['--env=staging'], { ...STAGING, secret: false });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include('error: the Secret mytv-api does not exist in namespace mytv-staging');
      expect(r.stderr).to.include(
        'kubectl -n mytv-staging create secret generic mytv-api --from-env-file=.env.staging.secret',
      );
      expect(changingCalls(r.calls)).to.deep.equal([]);
    });
  });

  describe('staging (kustomize + kubectl)', () => {
    const live = { ...STAGING, initial: { revision: '4', image: 'ghcr.io/mytelevision/mytv-api:old' } };

    it('deploys: migration job first and awaited, then apply and rollout status, verified, recorded', async () => {
      const r = await world.run('deploy', ['--env=staging'], live);
      expect(r.code, r.stderr).to.equal(0);
      expect(changingCalls(r.calls).map(sub)).to.deep.equal([
        'apply -f',
        'wait --for=condition=complete',
        'apply -f',
        'annotate deployment/mytv-api',
      ]);
      const applies = r.calls.filter((c) => words(c)[0] === 'apply').map((c) => words(c)[2]);
      expect(applies[0]).to.match(/migration\.yaml$/);
      expect(applies[1]).to.match(/render\.yaml$/);
      expect(r.calls.some((c) => words(c).join(' ').startsWith('rollout status deployment/mytv-api'))).to.equal(true);
      expect(
        r.calls.every(
          (c) =>
            words(c)[0] === 'kustomize' ||
            words(c).join(' ') === 'config current-context' ||
            c.args.includes('mytv-staging'),
        ),
      ).to.equal(true);
      const annotate = r.calls.find((c) => words(c)[0] === 'annotate')!;
      expect(annotate.args).to.include('mytv.app/deploy-result=succeeded');
      expect(r.stdout).to.match(/^Deployment\/mytv-api\s+update$/m);
      expect(r.stdout).to.match(new RegExp(`✓ ${world.commit()} is live on staging .*previously revision 4`));
      expect(r.state.image).to.equal(`ghcr.io/mytelevision/mytv-api:${world.commit()}`);
    });

    it('a failing rollout status is undone to the revision that ran before, and the message says so', async () => {
      const r = await world.run('deploy', ['--env=staging'], { ...live, rollout: 'fail' });
      expect(r.code).to.equal(1);
      const undo = r.calls.find((c) => sub(c) === 'rollout undo')!;
      expect(words(undo)).to.include('--to-revision=4');
      expect(r.stderr).to.match(
        /^error: the rollout of deployment\/mytv-api failed: error: deployment "mytv-api" exceeded its progress deadline/,
      );
      expect(r.stderr).to.include('hint: rolled back: staging runs revision 4 of deployment/mytv-api again, ready');
      expect(r.calls.find((c) => words(c)[0] === 'annotate')!.args).to.include(
        'mytv.app/deploy-result=failed at rollout',
      );
    });

    it('a failed migration rolls nothing out: the Deployment is never applied', async () => {
      const r = await world.run('deploy', ['--env=staging'], { ...live, migration: 'fail' });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(
        /^error: the migration job\/mytv-api-migrate-\S+ did not complete: error: timed out waiting for the condition on jobs\//,
      );
      expect(r.stderr).to.include('(last log: {"level":"error"');
      expect(r.stderr).to.include(
        'hint: nothing was rolled out; staging still runs revision 4 (ghcr.io/mytelevision/mytv-api:old)',
      );
      const applies = r.calls.filter((c) => words(c)[0] === 'apply');
      expect(applies).to.have.length(1);
      expect(r.state.revision).to.equal('4');
    });

    it('a rollout that passes but fails verification through the public URL is undone', async () => {
      world.readyStatus = 503;
      try {
        const r = await world.run('deploy', ['--env=staging', '--verify-timeout=1'], live);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.match(/failed verification: http:\/\/127\.0\.0\.1:\d+\/health\/ready answered HTTP 503/);
        expect(r.stderr).to.include('hint: rolled back: staging runs revision 4');
        expect(r.calls.some((c) => sub(c) === 'rollout undo')).to.equal(true);
      } finally {
        world.readyStatus = 200;
      }
    });

    it('a failed first deploy says there is nothing to return to', async () => {
      const r = await world.run('deploy', ['--env=staging'], { ...STAGING, rollout: 'fail' });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include('hint: first deploy: there is no earlier revision to return to');
      expect(r.calls.some((c) => sub(c) === 'rollout undo')).to.equal(false);
    });

    it('make rollback-staging undoes to the previous revision (or --to) and verifies', async () => {
      const r = await world.run('rollback', ['--env=staging', '--to=3'], live);
      expect(r.code, r.stderr).to.equal(0);
      expect(words(r.calls.find((c) => sub(c) === 'rollout undo')!)).to.include('--to-revision=3');
      expect(r.stdout).to.include('✓ staging runs revision 3 of deployment/mytv-api again, ready');
      const bad = await world.run('rollback', ['--env=staging', '--to=three'], live);
      expect(bad.code).to.equal(2);
    });
  });

  describe('production (Helm)', () => {
    const live = { ...PROD, initial: { helmRevision: 7 } };

    it('asks for confirmation: without a terminal and without --yes it refuses after the plan', async () => {
      const r = await world.run('deploy', ['--env=prod'], live);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(/^error: refusing to go on without confirmation: deploy \S+ to prod/);
      expect(r.stdout).to.include('live: release mytv-api revision 7 (deployed)');
      expect(changingCalls(r.calls)).to.deep.equal([]);
    });

    it('deploys with --yes: helm upgrade --atomic --wait, helm test, public checks, recorded', async () => {
      const r = await world.run('deploy', ['--env=prod', '--yes'], live);
      expect(r.code, r.stderr).to.equal(0);
      expect(changingCalls(r.calls).map((c) => `${c.tool} ${words(c)[0]}`)).to.deep.equal([
        'helm upgrade',
        'helm test',
        'kubectl annotate',
      ]);
      const upgrade = r.calls.find((c) => words(c)[0] === 'upgrade')!;
      for (const flag of ['--install', '--atomic', '--wait', '--history-max=10', '--create-namespace'])
        expect(upgrade.args).to.include(flag);
      expect(upgrade.args.join(' '))
        .to.include(`--set image.tag=${world.commit()}`)
        .and.include('--kube-context mytv-prod');
      expect(upgrade.args.join(' ')).to.include(
        '--description ' + world.commit() + ' by test-actor (GitHub Actions) at ',
      );
      expect(r.stdout).to.include('ServiceAccount/mytv-api').and.include('Deployment/mytv-api');
      expect(r.stdout).to.match(/✓ \S+ is live on prod .*previously release mytv-api revision 7 \(deployed\)/);
    });

    it('a failing upgrade is rolled back by Helm itself (--atomic); the message says so', async () => {
      const r = await world.run('deploy', ['--env=prod', '--yes'], { ...live, upgrade: 'fail-atomic' });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(
        /^error: helm upgrade of mytv-api failed: Error: UPGRADE FAILED: release mytv-api failed, and has been rolled back due to atomic being set/,
      );
      expect(r.stderr).to.include('hint: Helm rolled back by itself (--atomic): prod runs the previous revision again');
      expect(r.calls.some((c) => words(c)[0] === 'rollback' || words(c)[0] === 'test')).to.equal(false);
    });

    it('a failing first install is removed by Helm (--atomic); the message says there is no release', async () => {
      const r = await world.run('deploy', ['--env=prod', '--yes'], { ...PROD, upgrade: 'fail-atomic' });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include(
        'hint: first install: Helm removed the failed release (--atomic); prod has no release',
      );
    });

    it('a failing helm test rolls back to the revision that ran before', async () => {
      const r = await world.run('deploy', ['--env=prod', '--yes'], { ...live, helmTest: 'fail' });
      expect(r.code).to.equal(1);
      expect(words(r.calls.find((c) => words(c)[0] === 'rollback')!)).to.deep.include.members([
        'rollback',
        'mytv-api',
        '7',
        '--wait',
      ]);
      expect(r.stderr).to.match(
        /failed verification: helm test mytv-api failed: Error: 1 error occurred: \* pod mytv-api-test-ready failed/,
      );
      expect(r.stderr).to.include('hint: rolled back: prod runs revision 7 of release mytv-api again');
      expect(r.state.helmRolledBackTo).to.equal('7');
    });

    it('make rollback-prod asks unless --yes, then helm rollback --wait', async () => {
      const refused = await world.run('rollback', ['--env=prod'], live);
      expect(refused.code).to.equal(1);
      expect(changingCalls(refused.calls)).to.deep.equal([]);
      const r = await world.run('rollback', ['--env=prod', '--yes'], live);
      expect(r.code, r.stderr).to.equal(0);
      expect(words(r.calls.find((c) => words(c)[0] === 'rollback')!).slice(0, 3)).to.deep.equal([
        'rollback',
        'mytv-api',
        '--wait',
      ]);
      expect(r.stdout).to.include('✓ prod runs the previous revision of release mytv-api again');
    });
  });
});
