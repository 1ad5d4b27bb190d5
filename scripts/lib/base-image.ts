// The local base image for the API's Dockerfile where no image registry can be reached: Debian 12
// from `debootstrap --variant=minbase bookworm`, this machine's Node (binary + npm) copied into
// /usr/local like the official node image, the same unprivileged user (node, uid/gid 1000), then
// `podman import`. Production keeps `FROM node:22…`; this image is passed as NODE_IMAGE.
//
// The tag carries a hash of every input (this recipe's source, suite, mirror, Node and npm
// versions): an existing tag is reused as it is, so a second `make image-base` only looks.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { imageExists, engineRun, type ContainerEngine } from './container-engine.js';
import { UserError } from './errors.js';
import { CommandError, type Exec } from './exec.js';
import type { Output } from './output.js';
import { requireTool } from './tools.js';

export const BASE_IMAGE_REPO = 'localhost/mytv-node-base';
const SUITE = 'bookworm';
/** Debian's redirector; MYTV_DEBIAN_MIRROR points elsewhere (a local mirror). */
export function debianMirror(): string {
  return process.env.MYTV_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
}

/** The user of the official node images (uid/gid 1000, home /home/node); the Dockerfile's USER. */
const NODE_USER = { name: 'node', uid: 1000 };

export interface NodeInstallation {
  version: string;
  /** The node binary (symlinks resolved). */
  binary: string;
  /** The npm package directory (…/lib/node_modules/npm). */
  npmDir: string;
  npmVersion: string;
}

/** This machine's Node: the running binary and the npm installed beside it. */
export function machineNode(): NodeInstallation {
  const binary = process.execPath;
  const candidates = [
    path.resolve(path.dirname(binary), '..', 'lib', 'node_modules', 'npm'),
    '/usr/lib/node_modules/npm',
    '/usr/local/lib/node_modules/npm',
    '/usr/share/nodejs/npm',
  ];
  const npmDir = candidates.find((d) => existsSync(path.join(d, 'bin', 'npm-cli.js')));
  if (!npmDir) {
    throw new UserError(`npm is not installed beside ${binary} (looked in ${candidates.join(', ')})`, {
      hint: 'install Node with its npm (the nodesource or nodejs.org package), then run make image-base again',
    });
  }
  const npmVersion = (JSON.parse(readFileSync(path.join(npmDir, 'package.json'), 'utf8')) as { version: string })
    .version;
  return { version: process.versions.node, binary, npmDir, npmVersion };
}

/** Tag of the base image for these inputs: bookworm-node<version>-<hash of the inputs, 12 hex>. */
export function baseImageTag(node: NodeInstallation = machineNode()): string {
  const recipe = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const hash = createHash('sha256')
    .update(JSON.stringify({ recipe, suite: SUITE, mirror: debianMirror(), node: node.version, npm: node.npmVersion }))
    .digest('hex')
    .slice(0, 12);
  return `${BASE_IMAGE_REPO}:${SUITE}-node${node.version}-${hash}`;
}

export interface BaseImageResult {
  image: string;
  /** false: the image with this tag existed and was reused. */
  created: boolean;
}

/** Runs one step; a failure is one line naming the step and the command's last output. */
async function step<T>(out: Output, label: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await out.task(label, fn);
  } catch (err) {
    if (err instanceof CommandError) {
      const last = (err.result.stderr || err.result.stdout).trim().split('\n').slice(-3).join(' | ');
      throw new UserError(`base image step "${label}" failed (exit ${err.result.exitCode}): ${last}`, {
        hint:
          label.startsWith('debootstrap') && /resolve|connect|Failed getting release|Temporary failure/i.test(last)
            ? `the Debian mirror ${debianMirror()} cannot be reached from here (set MYTV_DEBIAN_MIRROR to one that can)`
            : 'run make image-base VERBOSE=1 to see every command',
      });
    }
    throw err;
  }
}

/**
 * Makes the base image unless an image with the same inputs exists.
 * @returns the image reference and whether it was made now.
 * @throws UserError naming the failing step (debootstrap, copy Node, import); nothing is left
 *   behind: the working directory is removed in every case.
 */
export async function ensureBaseImage(
  exec: Exec,
  out: Output,
  engine: ContainerEngine,
  o: { force?: boolean } = {},
): Promise<BaseImageResult> {
  const node = machineNode();
  const image = baseImageTag(node);
  if (!o.force && (await imageExists(exec, engine, image))) return { image, created: false };
  if (engine.name !== 'podman') {
    throw new UserError(`the local base image ${image} is made with podman, and the engine here is ${engine.name}`, {
      hint: 'with Docker, build on the real base (node:22-bookworm-slim): make build without BASE_IMAGE',
    });
  }
  const debootstrap = requireTool('debootstrap');
  const work = mkdtempSync(path.join(os.tmpdir(), 'mytv-base-'));
  const rootfs = path.join(work, 'rootfs');
  const tarball = path.join(work, 'rootfs.tar');
  try {
    const mirror = debianMirror();
    await step(out, `debootstrap --variant=minbase ${SUITE} (${mirror})`, () =>
      exec.run(debootstrap, ['--variant=minbase', SUITE, rootfs, mirror], { timeoutMs: 900_000 }),
    );
    await step(out, `copy Node ${node.version} (npm ${node.npmVersion}) and add user ${NODE_USER.name}`, async () => {
      await exec.change(`trim ${rootfs} and add Node`, () => {
        // What a slim image leaves out: downloaded packages, package lists, docs, man pages, locales.
        for (const dir of [
          'var/cache/apt/archives',
          'var/lib/apt/lists',
          'usr/share/doc',
          'usr/share/man',
          'usr/share/info',
          'usr/share/locale',
        ]) {
          rmSync(path.join(rootfs, dir), { recursive: true, force: true });
          mkdirSync(path.join(rootfs, dir), { recursive: true });
        }
        mkdirSync(path.join(rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
        writeFileSync(
          path.join(rootfs, 'etc/apt/sources.list'),
          [
            `deb ${mirror} ${SUITE} main`,
            `deb ${mirror} ${SUITE}-updates main`,
            `deb ${mirror.replace(/\/debian\/?$/, '/debian-security')} ${SUITE}-security main`,
            '',
          ].join('\n'),
        );
        const local = path.join(rootfs, 'usr/local');
        mkdirSync(path.join(local, 'bin'), { recursive: true });
        cpSync(node.binary, path.join(local, 'bin/node'));
        cpSync(node.npmDir, path.join(local, 'lib/node_modules/npm'), { recursive: true });
        symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(local, 'bin/npm'));
        symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(local, 'bin/npx'));
      });
      const id = String(NODE_USER.uid);
      await exec.run('chroot', [rootfs, 'groupadd', '--gid', id, NODE_USER.name]);
      await exec.run('chroot', [
        rootfs,
        'useradd',
        '--uid',
        id,
        '--gid',
        id,
        '--shell',
        '/bin/bash',
        '--create-home',
        NODE_USER.name,
      ]);
      // The copied binary must run on the new system's libraries.
      const v = await exec.run('chroot', [rootfs, '/usr/local/bin/node', '--version']);
      if (!v.skipped && v.stdout.trim() !== `v${node.version}`) {
        throw new UserError(`node in the base image answers ${v.stdout.trim()}, expected v${node.version}`);
      }
    });
    await step(out, `podman import ${image}`, async () => {
      await exec.run('tar', ['--numeric-owner', '-C', rootfs, '-cf', tarball, '.'], { timeoutMs: 300_000 });
      await engineRun(
        exec,
        engine,
        [
          'import',
          '--change',
          'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          '--change',
          `ENV NODE_VERSION=${node.version}`,
          '--change',
          `LABEL org.opencontainers.image.title=mytv-node-base org.opencontainers.image.base.name=debian:${SUITE} org.opencontainers.image.version=node-${node.version}`,
          '--change',
          'CMD ["node"]',
          '--message',
          `debootstrap --variant=minbase ${SUITE} + Node ${node.version} from this machine`,
          tarball,
          image,
        ],
        { timeoutMs: 600_000 },
      );
    });
    // Older base images (other inputs) go, unless an image built on them still needs them.
    for (const old of await listBaseImages(exec, engine)) {
      if (old.image !== image) await engineRun(exec, engine, ['rmi', old.image], { nothrow: true });
    }
    return { image, created: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Local base images made by ensureBaseImage (any inputs), newest first: for make build / status. */
export async function listBaseImages(
  exec: Exec,
  engine: ContainerEngine,
): Promise<{ image: string; created: string; size: string }[]> {
  if (engine.name !== 'podman') return [];
  const r = await engineRun(
    exec,
    engine,
    [
      'images',
      '--filter',
      `reference=${BASE_IMAGE_REPO}`,
      '--format',
      '{{.Repository}}:{{.Tag}}\t{{.CreatedSince}}\t{{.Size}}',
    ],
    { readOnly: true, nothrow: true },
  );
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [image, created, size] = l.split('\t');
      return { image, created, size };
    });
}
