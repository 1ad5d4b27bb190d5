// The ops image (ops/Dockerfile) built for real (podman here, Docker where it answers) and run:
// the tools the backup jobs need answer with their versions, and the scripts start inside it with
// the environments, as the non-root user, on a read-only root filesystem. The image is tagged with
// a hash of its inputs: a run with unchanged files reuses it (and the build's layer cache reuses
// the apt and npm layers when only scripts changed).
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { appVersion, npmBuildSecrets } from '../../scripts/lib/api-image.js';
import { ensureBaseImage } from '../../scripts/lib/base-image.js';
import {
  engineRun,
  findContainerEngine,
  noEngineReason,
  type ContainerEngine,
} from '../../scripts/lib/container-engine.js';
import { Exec } from '../../scripts/lib/exec.js';
import { Output } from '../../scripts/lib/output.js';
import { ensureOpsImage, opsDockerfile, opsInputsHash, OPS_IMAGE_REPO } from '../../scripts/lib/ops-image.js';

describe('image: ops/Dockerfile (static)', function () {
  it('has no dockerfile-utils diagnostics; Node 22 by default, non-root, tini before node', function () {
    const text = readFileSync(opsDockerfile, 'utf8');
    const problems = validate(text, { deprecatedMaintainer: ValidationSeverity.ERROR });
    expect(problems.map((p) => `${p.range.start.line + 1}: ${JSON.stringify(p.message)}`)).to.deep.equal([]);
    expect(text).to.match(/ARG NODE_IMAGE=node:22[.\d]*-bookworm-slim/);
    expect(text).to.match(/^USER node$/m);
    expect(text).to.match(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node"/m);
  });
});

describe('image: ops/Dockerfile built and run (real container engine)', function () {
  const out = new Output(false);
  const exec = new Exec({ dryRun: false, verbose: false, out });
  let engine: ContainerEngine;
  let image = '';
  let baseImage: string | undefined;

  before(async function () {
    // Cold: apt-get of pgBackRest, psql and ssh plus npm ci on a busy machine; warm: seconds.
    this.timeout(1_200_000);
    const lookup = await findContainerEngine();
    if (!lookup.engine) throw new Error(`${noEngineReason(lookup)} (make setup installs podman)`);
    engine = lookup.engine;
    if (engine.name === 'podman') baseImage = (await ensureBaseImage(exec, out, engine)).image;
    const r = await ensureOpsImage(exec, engine, {
      version: appVersion(),
      revision: 'ops-image-test',
      baseImage,
      secrets: () => npmBuildSecrets(exec),
    });
    image = r.image;
  });

  /** `run --rm` as the jobs run it: read-only root, /tmp writable, host network; never leaves a container. */
  async function run(args: string[], entrypoint?: string) {
    return engineRun(
      exec,
      engine,
      [
        'run',
        '--rm',
        ...engine.networkArgs,
        '--read-only',
        '--tmpfs',
        '/tmp',
        ...(entrypoint !== undefined ? ['--entrypoint', entrypoint] : []),
        image,
        ...args,
      ],
      { nothrow: true, timeoutMs: 120_000 },
    );
  }

  it('is tagged with the hash of its inputs, and the same inputs find the same image', async function () {
    this.timeout(60_000);
    expect(image).to.equal(`${OPS_IMAGE_REPO}:${opsInputsHash(baseImage)}`);
    const again = await ensureOpsImage(exec, engine, {
      version: appVersion(),
      revision: 'ops-image-test',
      baseImage,
      secrets: () => Promise.reject(new Error('a reuse must not prepare a build')),
    });
    expect(again).to.deep.include({ image, built: false });
    expect(opsInputsHash('another-base')).to.not.equal(opsInputsHash(baseImage));
  });

  it('pgbackrest version, psql --version and ssh -V answer inside it', async function () {
    this.timeout(300_000);
    const pgbackrest = await run(['version'], 'pgbackrest');
    expect(pgbackrest.exitCode, pgbackrest.stderr).to.equal(0);
    expect(pgbackrest.stdout).to.match(/^pgBackRest 2\.\d+/);
    const psql = await run(['--version'], 'psql');
    expect(psql.exitCode, psql.stderr).to.equal(0);
    expect(psql.stdout).to.match(/^psql \(PostgreSQL\) 15\.\d+/);
    const ssh = await run(['-V'], 'ssh');
    expect(ssh.exitCode, ssh.stderr).to.equal(0);
    // OpenSSH prints its version on stderr.
    expect(ssh.stderr).to.match(/^OpenSSH_\d+\.\d+/);
  });

  it('its default command is backup-status --help: the scripts start, as uid 1000, on a read-only root', async function () {
    this.timeout(300_000);
    const help = await run([]);
    expect(help.exitCode, help.stderr).to.equal(0);
    expect(help.stdout).to.match(/make backup-status/);
    expect(help.stdout).to.match(/--publish/);
    const id = await run(['-u'], 'id');
    expect(id.stdout.trim()).to.equal('1000');
    // The environments are in the image and validate there, as a job loads them.
    const env = await run(['scripts/env-check.ts', '--env=prod', '--json']);
    expect(env.exitCode, env.stderr).to.equal(0);
    expect(env.stdout).to.match(/"name":\s*"prod"/);
    const files = await run(
      ['-c', 'ls -a /opt/mytv-ops; test ! -e /opt/mytv-ops/test && test ! -e /opt/mytv-ops/.git'],
      'sh',
    );
    expect(files.exitCode, files.stdout).to.equal(0);
    expect(files.stdout.split('\n')).to.include.members(['scripts', 'environments', 'node_modules', 'package.json']);
  });

  it('runs the compose backup-scheduler service’s command: the schedule of dev listed (croner, docker-modem installed)', async function () {
    this.timeout(300_000);
    const r = await run(['scripts/backup-scheduler.ts', '--env=dev', '--compose-project=mytv', '--list', '--json']);
    expect(r.exitCode, r.stderr).to.equal(0);
    const plan = JSON.parse(r.stdout) as { composeProject: string; jobs: { job: string }[] };
    expect(plan.composeProject).to.equal('mytv');
    expect(plan.jobs.map((j) => j.job)).to.include.members(['backup-full', 'backup-incr', 'backup-status']);
  });
});
