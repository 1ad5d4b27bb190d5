// make build: compiles the app (tsc -p app/tsconfig.build.json -> app/dist), then builds its image
// with Docker when an engine answers, else with podman (on the local base image from
// make image-base, made when missing), else says the image step was skipped and why.
//   BASE_IMAGE=… (--base-image) overrides the Dockerfile's NODE_IMAGE.
import { buildApp } from './lib/app-build.js';
import { appVersion, buildApiImage, imageTags, npmBuildSecrets, sourceRevision } from './lib/api-image.js';
import { ensureBaseImage, listBaseImages } from './lib/base-image.js';
import {
  findContainerEngine,
  formatBytes,
  imageSize,
  installEngineHint,
  noEngineReason,
} from './lib/container-engine.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Build the app (tsc) and its image with Docker or podman, tagged with the version and the git commit.',
    usage: 'make build [BASE_IMAGE=ref] [DRY_RUN=1]',
    options: { 'base-image': { type: 'string' } },
    optionsHelp:
      "      --base-image REF  the Dockerfile's NODE_IMAGE (default: node:22…-bookworm-slim with Docker,\n" +
      '                        the local base from make image-base with podman)',
  },
  async ({ exec, out, flags, values }) => {
    const version = appVersion();
    const revision = await sourceRevision(exec);
    const lookup = await findContainerEngine();

    await out.task('compile the app (tsc -p app/tsconfig.build.json)', () => buildApp(exec));
    const result: Record<string, unknown> = { app: 'app/dist', image: null };
    const engine = lookup.engine;
    if (!engine) {
      const reason = noEngineReason(lookup);
      out.warn(`image step skipped: ${reason}; app/dist is built (${installEngineHint})`);
      result.imageSkipped = reason;
    } else {
      let baseImage = values['base-image'] ? String(values['base-image']) : undefined;
      if (!baseImage && engine.name === 'podman') {
        // No registry here: the Dockerfile's node:22 base is replaced by the local one.
        baseImage = (await ensureBaseImage(exec, out, engine)).image;
      }
      const tags = imageTags(version, revision);
      const secrets = await npmBuildSecrets(exec);
      try {
        await out.task(`${engine.name} build ${tags.join(' ')}${baseImage ? ` (base ${baseImage})` : ''}`, () =>
          buildApiImage(exec, engine, { tags, version, revision, baseImage, secrets }),
        );
      } finally {
        secrets.cleanup();
      }
      Object.assign(result, {
        engine: engine.name,
        image: tags[1],
        tags,
        baseImage: baseImage ?? 'Dockerfile default',
      });
      if (!exec.dryRun) result.size = formatBytes(await imageSize(exec, engine, tags[1]));
      result.baseImages = await listBaseImages(exec, engine);
    }
    if (flags.json) {
      out.data(result);
      return;
    }
    if (result.image) {
      out.table(
        [
          { what: 'app', value: 'app/dist' },
          { what: 'image', value: (result.tags as string[]).join(', ') },
          { what: 'engine', value: engine?.name },
          { what: 'base', value: result.baseImage },
          { what: 'size', value: result.size ?? '(dry run)' },
        ],
        ['what', 'value'],
      );
      const bases = result.baseImages as { image: string; created: string; size: string }[];
      if (bases.length > 0) out.line(`local base images: ${bases.map((b) => `${b.image} (${b.size})`).join(', ')}`);
    }
    out.ok(`built app/dist${typeof result.image === 'string' ? ` and image ${result.image}` : ''}`);
  },
);
