// make build-ops: builds the ops image (ops/Dockerfile: the scripts, environments, Node, pgBackRest,
// psql, ssh) that the backup CronJobs and compose's backup profile run, with Docker or podman (on
// the local base image from make image-base, made when missing). Tagged with a hash of its inputs:
// a second run with the same files only finds it. Tags: <hash>, the version, the commit, local.
import { appVersion, npmBuildSecrets, sourceRevision } from './lib/api-image.js';
import { ensureBaseImage } from './lib/base-image.js';
import { formatBytes, imageSize, requireContainerEngine } from './lib/container-engine.js';
import { runScript } from './lib/main.js';
import { ensureOpsImage, opsReleaseTags } from './lib/ops-image.js';

await runScript(
  {
    summary:
      'Build the ops image (ops/Dockerfile) the scheduled backup jobs run; reused when its inputs are unchanged.',
    usage: 'make build-ops [BASE_IMAGE=ref] [ARGS=--force] [DRY_RUN=1]',
    options: { 'base-image': { type: 'string' }, force: { type: 'boolean' } },
    optionsHelp:
      "      --base-image REF  the Dockerfile's NODE_IMAGE (default: the local base from make image-base with podman)\n" +
      '      --force           build even when an image of the same inputs exists',
  },
  async ({ exec, out, flags, values }) => {
    const engine = await requireContainerEngine();
    let baseImage = values['base-image'] ? String(values['base-image']) : undefined;
    if (!baseImage && engine.name === 'podman') baseImage = (await ensureBaseImage(exec, out, engine)).image;
    const version = appVersion();
    const revision = await sourceRevision(exec);
    const r = await out.task(`${engine.name} build ops/Dockerfile${baseImage ? ` (base ${baseImage})` : ''}`, () =>
      ensureOpsImage(exec, engine, {
        version,
        revision,
        baseImage,
        force: Boolean(values.force),
        alsoTag: opsReleaseTags(version, revision),
        secrets: () => npmBuildSecrets(exec),
      }),
    );
    const size = exec.dryRun ? '(dry run)' : formatBytes(await imageSize(exec, engine, r.image));
    const result = { image: r.image, tags: r.tags, reused: !r.built, engine: engine.name, baseImage, size };
    if (flags.json) return out.data(result);
    out.table(
      [
        { what: 'image', value: r.tags.join(', ') },
        { what: 'reused', value: r.built ? 'no (built now)' : 'yes (same inputs)' },
        { what: 'engine', value: engine.name },
        { what: 'base', value: baseImage ?? 'Dockerfile default' },
        { what: 'size', value: size },
      ],
      ['what', 'value'],
    );
    out.ok(`ops image ${r.image}`);
  },
);
