// SSH to the servers we deploy to (node-ssh over ssh2): key authentication only, the host key
// checked against a known_hosts file (an unknown or changed key is refused, never accepted
// silently), remote commands as shell strings, uploads over SFTP, and an atomic deploy lock.
import { createHash, createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeSSH } from 'node-ssh';
import { UserError } from './errors.js';
import { maskSecrets } from './secrets.js';
import { waitFor } from './wait.js';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  keyFile: string;
  knownHostsFile: string;
}

export interface RemoteResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Quotes a word for the remote POSIX shell. */
export function shq(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

// ---------------------------------------------------------------------------------------------
// known_hosts (OpenSSH format): plain or hashed host patterns, [host]:port, wildcards, @revoked.

interface KnownHostEntry {
  marker?: string;
  patterns: string[];
  keyType: string;
  key: Buffer;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0].startsWith('@') ? fields.shift() : undefined;
    if (fields.length < 3) continue;
    entries.push({ marker, patterns: fields[0].split(','), keyType: fields[1], key: Buffer.from(fields[2], 'base64') });
  }
  return entries;
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(value);
}

/** True when a known_hosts host field matches the host name as ssh writes it ("host" or "[host]:port"). */
function hostMatches(patterns: string[], hostKey: string): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('|1|')) {
      const [, , salt, hash] = p.split('|');
      const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(hostKey).digest('base64');
      if (mac === hash) matched = true;
    } else if (p.startsWith('!')) {
      if (globMatch(p.slice(1), hostKey)) return false;
    } else if (globMatch(p, hostKey)) matched = true;
  }
  return matched;
}

function keyTypeOf(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

export type HostKeyVerdict = { ok: true } | { ok: false; reason: 'unknown' | 'changed' | 'revoked' };

export function verifyHostKey(entries: KnownHostEntry[], host: string, port: number, blob: Buffer): HostKeyVerdict {
  // ssh lowercases the host name before matching or hashing it (ssh.c: lowercase(host)), and
  // writes lowercase names into known_hosts; hashed entries only match the lowercased form.
  const name = host.toLowerCase();
  const hostKey = port === 22 ? name : `[${name}]:${port}`;
  const forHost = entries.filter((e) => hostMatches(e.patterns, hostKey));
  if (forHost.some((e) => e.marker === '@revoked' && e.key.equals(blob))) return { ok: false, reason: 'revoked' };
  const plain = forHost.filter((e) => !e.marker);
  if (plain.some((e) => e.key.equals(blob))) return { ok: true };
  return { ok: false, reason: plain.some((e) => e.keyType === keyTypeOf(blob)) ? 'changed' : 'unknown' };
}

/** Host key algorithms to offer: only the types known_hosts has for this host (as OpenSSH does). */
function hostKeyAlgorithms(entries: KnownHostEntry[], host: string, port: number): string[] | undefined {
  // ssh lowercases the host name before matching or hashing it (ssh.c: lowercase(host)), and
  // writes lowercase names into known_hosts; hashed entries only match the lowercased form.
  const name = host.toLowerCase();
  const hostKey = port === 22 ? name : `[${name}]:${port}`;
  const types = new Set(entries.filter((e) => !e.marker && hostMatches(e.patterns, hostKey)).map((e) => e.keyType));
  if (types.size === 0) return undefined;
  const algos: string[] = [];
  for (const t of types) algos.push(...(t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]));
  return algos;
}

// ---------------------------------------------------------------------------------------------

export class LockHeldError extends UserError {
  constructor(
    readonly lockPath: string,
    readonly holder: string,
    target: string,
  ) {
    super(`another deploy holds the lock on ${target}: ${holder}`, {
      hint: `wait for it to finish (or pass --wait-lock=SECONDS); if it died, remove ${lockPath} on the host after checking`,
    });
    this.name = 'LockHeldError';
  }
}

export class SshClient {
  private readonly ssh = new NodeSSH();
  readonly label: string;

  private constructor(readonly target: SshTarget) {
    this.label = `${target.user}@${target.host}:${target.port}`;
  }

  /**
   * Checks key and known_hosts files, connects, verifies the host key; errors name the fix.
   * `o.configKey` is where the environment file describes this target (hints name it; default nginx.ssh).
   */
  static async connect(target: SshTarget, o: { timeoutMs?: number; configKey?: string } = {}): Promise<SshClient> {
    const configKey = o.configKey ?? 'nginx.ssh';
    const keyFile = expandHome(target.keyFile);
    const knownHostsFile = expandHome(target.knownHostsFile);
    if (!existsSync(keyFile))
      throw new UserError(`SSH key ${keyFile} does not exist`, {
        hint: `set ${configKey}.keyFile for this environment (or the *_SSH_KEY variable it names)`,
      });
    if (!existsSync(knownHostsFile))
      throw new UserError(`known_hosts file ${knownHostsFile} does not exist`, {
        hint: `add the host's key after checking its fingerprint: ssh-keyscan -p ${target.port} ${target.host} >> ${knownHostsFile}`,
      });
    const entries = parseKnownHosts(readFileSync(knownHostsFile, 'utf8'));
    const client = new SshClient(target);
    let refused: { reason: string; fp: string } | undefined;
    const algorithms = hostKeyAlgorithms(entries, target.host, target.port);
    try {
      await client.ssh.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        privateKeyPath: keyFile,
        readyTimeout: o.timeoutMs ?? 15_000,
        tryKeyboard: false,
        ...(algorithms ? { algorithms: { serverHostKey: algorithms as never } } : {}),
        hostVerifier: (key: Buffer) => {
          const verdict = verifyHostKey(entries, target.host, target.port, key);
          if (!verdict.ok) refused = { reason: verdict.reason, fp: fingerprint(key) };
          return verdict.ok;
        },
      });
    } catch (err) {
      client.ssh.dispose();
      if (refused) {
        const what =
          refused.reason === 'changed'
            ? `the host key of ${client.label} CHANGED (now ${refused.fp}); this may be an attack`
            : refused.reason === 'revoked'
              ? `the host key of ${client.label} is revoked in ${knownHostsFile}`
              : `the host key of ${client.label} (${refused.fp}) is not in ${knownHostsFile}`;
        throw new UserError(`refusing to connect: ${what}`, {
          hint:
            refused.reason === 'unknown'
              ? `verify the fingerprint with the host's owner, then: ssh-keyscan -p ${target.port} ${target.host} >> ${knownHostsFile}`
              : `verify the new key out of band before editing ${knownHostsFile}`,
        });
      }
      const message = err instanceof Error ? err.message : String(err);
      throw new UserError(`could not connect to ${client.label}: ${maskSecrets(message)}`, {
        hint: /authentication/i.test(message)
          ? `the host refused key ${keyFile} for user ${target.user}`
          : `check the host, port and network (${configKey} in the environment file)`,
        cause: err,
      });
    }
    return client;
  }

  /** Runs a remote shell command; never throws on a non-zero exit (check .code). */
  async run(command: string, o: { stdin?: string } = {}): Promise<RemoteResult> {
    const r = await this.ssh.execCommand(command, { stdin: o.stdin });
    return { stdout: r.stdout, stderr: r.stderr, code: r.code ?? (r.signal ? 128 : 0) };
  }

  /** Runs a remote command that must succeed; the error names what failed and its last output lines. */
  async must(command: string, what: string): Promise<string> {
    const r = await this.run(command);
    if (r.code !== 0) {
      const tail = (r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ');
      throw new UserError(
        `${what} failed on ${this.target.host} (exit ${r.code})${tail ? `: ${maskSecrets(tail)}` : ''}`,
      );
    }
    return r.stdout;
  }

  /** Uploads a local directory's files into a remote directory (created). */
  async uploadDirectory(localDir: string, remoteDir: string): Promise<void> {
    await this.must(`mkdir -p ${shq(remoteDir)}`, `creating ${remoteDir}`);
    const failed: string[] = [];
    const ok = await this.ssh.putDirectory(localDir, remoteDir, {
      recursive: true,
      concurrency: 4,
      tick: (local, _remote, error) => {
        if (error) failed.push(`${path.relative(localDir, local)}: ${error.message}`);
      },
    });
    if (!ok || failed.length > 0)
      throw new UserError(`upload to ${this.target.host}:${remoteDir} failed: ${failed.join('; ') || 'unknown error'}`);
  }

  /**
   * Takes an exclusive lock: mkdir is atomic on the host, so of two deploys exactly one wins.
   * The directory holds who took it; waits up to waitMs, then throws LockHeldError naming the holder.
   */
  async lock(
    lockDir: string,
    owner: string,
    o: { waitMs?: number; onWait?: (holder: string) => void } = {},
  ): Promise<void> {
    const waitMs = o.waitMs ?? 0;
    const deadline = Date.now() + waitMs;
    let holder = '';
    let told = false;
    const taken = await waitFor(
      async () => {
        const r = await this.run(
          `mkdir ${shq(lockDir)} 2>/dev/null && printf '%s\\n' ${shq(owner)} > ${shq(lockDir)}/owner`,
        );
        if (r.code === 0) return true;
        holder = (await this.run(`cat ${shq(lockDir)}/owner 2>/dev/null`)).stdout.trim();
        if (!told && Date.now() < deadline) o.onWait?.(holder || '(unknown holder)');
        told = true;
        return false;
      },
      { timeoutMs: waitMs, intervalMs: 1000 },
    );
    if (!taken) throw new LockHeldError(lockDir, holder || '(unknown holder, lock just taken)', this.label);
  }

  async unlock(lockDir: string): Promise<void> {
    await this.run(`rm -rf ${shq(lockDir)}`);
  }

  dispose(): void {
    this.ssh.dispose();
  }
}

/** "user@machine pid N since ISO": who holds a deploy lock. */
export function lockOwner(what: string): string {
  return `${what} by ${os.userInfo().username}@${os.hostname()} pid ${process.pid} since ${new Date().toISOString()}`;
}
