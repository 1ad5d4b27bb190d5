// make image-base: the local base image for the API's Dockerfile where no registry can be reached.
//   preflight: a container engine (podman), debootstrap, this machine's Node and npm
//   plan:      the tag (a hash of every input); reused when it exists
//   act:       debootstrap --variant=minbase bookworm -> Node copied in -> podman import
//   verify:    the image answers `node --version`
import { ensureBaseImage, listBaseImages } from './lib/base-image.js';
import { engineRun, requireContainerEngine } from './lib/container-engine.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary:
      "Make the local base image (Debian 12 minbase + this machine's Node) once; reused while its inputs are unchanged.",
    usage: 'make image-base [DRY_RUN=1] [ARGS=--force]',
    options: { force: { type: 'boolean' } },
    optionsHelp: '      --force  make it again even when an image with the same inputs exists',
  },
  async ({ exec, out, flags, values }) => {
    const engine = await requireContainerEngine();
    const started = Date.now();
    const result = await ensureBaseImage(exec, out, engine, { force: Boolean(values.force) });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (result.created && !exec.dryRun) {
      const v = await engineRun(exec, engine, [
        'run',
        '--rm',
        ...engine.networkArgs,
        '--entrypoint',
        'node',
        result.image,
        '--version',
      ]);
      out.ok(`made ${result.image} in ${seconds}s (node ${v.stdout.trim()})`);
    } else if (!result.created) {
      out.ok(`${result.image} exists (inputs unchanged): reused, ${seconds}s`);
    }
    const images = await listBaseImages(exec, engine);
    if (flags.json) out.data({ ...result, seconds: Number(seconds), images });
    else if (images.length > 0) out.table(images, ['image', 'created', 'size']);
  },
);
