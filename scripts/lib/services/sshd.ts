// OpenSSH's sshd from the Debian binary as a deploy target on loopback: its own host key
// (generated into its directory, never committed), its own sshd_config, key authentication only.
//   stack.start('sshd', { options: { authorizedKeysFile: '/tmp/…/authorized_keys', user?: 'root' } })
// info: { host, port, user, hostKeyFile, hostPublicKey, knownHostsLine }
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.js';
import { requireTool } from '../tools.js';
import { runOnce } from './process.js';
import { tcpProbe } from './probes.js';
import type { ServiceContext, ServiceSpec } from './types.js';

export interface SshdServiceOptions {
  /** authorized_keys of the login user (absolute path). */
  authorizedKeysFile: string;
  /** The only user allowed to log in; default the current user. */
  user?: string;
}

export interface SshdInfo extends Record<string, unknown> {
  host: string;
  port: number;
  user: string;
  hostKeyFile: string;
  /** "ssh-ed25519 AAAA…" */
  hostPublicKey: string;
  /** A known_hosts line for this server ("[127.0.0.1]:PORT ssh-ed25519 AAAA…"). */
  knownHostsLine: string;
}

function files(ctx: ServiceContext) {
  return {
    hostKey: path.join(ctx.dir, 'ssh_host_ed25519_key'),
    config: path.join(ctx.dir, 'sshd_config'),
    pidFile: path.join(ctx.dir, 'sshd.pid'),
  };
}

function options(ctx: ServiceContext): Required<SshdServiceOptions> {
  const o = ctx.options as Partial<SshdServiceOptions>;
  if (!o.authorizedKeysFile || !path.isAbsolute(o.authorizedKeysFile))
    throw new UserError('sshd needs options.authorizedKeysFile (an absolute path)');
  return { authorizedKeysFile: o.authorizedKeysFile, user: o.user ?? os.userInfo().username };
}

export const sshdService: ServiceSpec<SshdInfo> = {
  kind: 'sshd',
  tools: ['sshd', 'ssh-keygen'],
  readyTimeoutMs: 10_000,

  async prepare(ctx) {
    const o = options(ctx);
    const f = files(ctx);
    // sshd's privilege separation directory; Debian creates it only when its own service starts.
    if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    if (!existsSync(f.hostKey))
      await runOnce(requireTool('ssh-keygen'), [
        '-q',
        '-t',
        'ed25519',
        '-N',
        '',
        '-C',
        'mytv-test-host',
        '-f',
        f.hostKey,
      ]);
    writeFileSync(
      f.config,
      [
        `Port ${ctx.port}`,
        `ListenAddress ${ctx.host}`,
        `HostKey ${f.hostKey}`,
        `PidFile ${f.pidFile}`,
        `AuthorizedKeysFile ${o.authorizedKeysFile}`,
        `AllowUsers ${o.user}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // The key files live in a temporary directory whose modes sshd would otherwise reject.
        'StrictModes no',
        'PrintMotd no',
        'Subsystem sftp internal-sftp',
        // Debian's bash reads ~/.bashrc for every command sshd runs unless it is a nested shell;
        // this machine's own rc files are no part of a deploy target (and can take seconds).
        'SetEnv SHLVL=1',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
  },

  command(ctx) {
    // Absolute binary and config paths: sshd re-executes itself for every connection.
    return { bin: requireTool('sshd'), args: ['-D', '-e', '-f', files(ctx).config] };
  },

  ready(ctx) {
    return tcpProbe(ctx.host, ctx.port, undefined, undefined);
  },

  info(ctx) {
    const f = files(ctx);
    const pub = existsSync(`${f.hostKey}.pub`) ? readFileSync(`${f.hostKey}.pub`, 'utf8').trim() : '';
    const [type, key] = pub.split(/\s+/);
    return {
      host: ctx.host,
      port: ctx.port,
      user: options(ctx).user,
      hostKeyFile: f.hostKey,
      hostPublicKey: `${type} ${key}`,
      knownHostsLine: `[${ctx.host}]:${ctx.port} ${type} ${key}`,
    };
  },
};
