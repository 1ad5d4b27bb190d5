// Secret rotation on a Kubernetes environment (deploy.kind kustomize or helm): the app Secret
// object is the SecretStore (DATABASE_URL's user and password readable/writable as
// POSTGRES_APP_USER / POSTGRES_APP_PASSWORD), `kubectl rollout restart` + `rollout status` is the AppRoller. Every
// kubectl call names the environment's kube context and namespace explicitly, and the current
// context is checked against the environment first (the same guard as make deploy-*).
import { databaseUrlCredentials, withDatabaseCredentials } from '../db-url.js';
import type { Environment } from '../environments.js';
import { UserError } from '../errors.js';
import type { Exec, RunResult } from '../exec.js';
import { registerSecret } from '../secrets.js';
import { requireTool } from '../tools.js';
import type { AppRoller, RotationTarget, SecretStore } from '../rotation.js';
import { APP_DEPLOYMENT, APP_SECRET } from './deployers.js';
import { guardContext } from './preflight.js';
import { kubeDeploy } from './render.js';

const lastLine = (r: RunResult): string =>
  (r.stderr || r.stdout).trim().split('\n').filter(Boolean).pop() ?? `exit ${r.exitCode}`;

/** kubectl with the environment's --context and --namespace in front of every call. */
export class Kubectl {
  readonly context: string;
  readonly namespace: string;
  private readonly bin = requireTool('kubectl');
  constructor(
    private readonly exec: Exec,
    env: Environment,
  ) {
    const d = kubeDeploy(env);
    this.context = d.kubeContext;
    this.namespace = d.namespace;
  }
  run(args: string[], o: { readOnly?: boolean; input?: string } = {}): Promise<RunResult> {
    return this.exec.run(this.bin, ['--context', this.context, '--namespace', this.namespace, ...args], {
      readOnly: o.readOnly,
      input: o.input,
      nothrow: true,
    });
  }
  /** `kubectl config current-context` (reads the kubeconfig only). */
  async currentContext(): Promise<string | undefined> {
    const r = await this.exec.run(this.bin, ['config', 'current-context'], { readOnly: true, nothrow: true });
    return r.exitCode === 0 ? r.stdout.trim() : undefined;
  }
  /** The command as an operator types it (for hints). */
  hint(args: string): string {
    return `kubectl --context ${this.context} -n ${this.namespace} ${args}`;
  }
}

/**
 * Names the rotation uses that live inside the Secret's DATABASE_URL rather than as keys of their
 * own: the application role and its password (read and rebuilt with scripts/lib/db-url.ts).
 */
const IN_DATABASE_URL = { POSTGRES_APP_USER: 'user', POSTGRES_APP_PASSWORD: 'password' } as const;
type UrlPart = keyof typeof IN_DATABASE_URL;
const isUrlPart = (name: string): name is UrlPart => name in IN_DATABASE_URL;

interface SecretObject {
  apiVersion: string;
  kind: 'Secret';
  type?: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

/**
 * The app Secret (name APP_SECRET, what the chart's/overlay's secretKeyRef and `existingSecret`
 * name). Read with `kubectl get secret -o json` (data is base64, Secret API); written as a whole
 * object on kubectl's stdin (`kubectl apply -f -`): values never reach argv, a file or the log.
 * Keys not changed keep their value; the server's bookkeeping fields are dropped before apply.
 * POSTGRES_APP_USER / POSTGRES_APP_PASSWORD read and write the user / password inside DATABASE_URL
 * (host, port, database and query kept).
 */
export class KubeSecretStore implements SecretStore {
  private cached?: SecretObject;
  constructor(
    private readonly kubectl: Kubectl,
    readonly secret = APP_SECRET,
  ) {}
  get description(): string {
    return `Secret ${this.secret} in ${this.kubectl.context}/${this.kubectl.namespace}`;
  }
  private async object(): Promise<SecretObject> {
    if (this.cached) return this.cached;
    const r = await this.kubectl.run(['get', 'secret', this.secret, '-o', 'json'], { readOnly: true });
    if (r.exitCode !== 0)
      throw new UserError(`cannot read the Secret ${this.secret}: ${lastLine(r)}`, {
        hint: `check ${this.kubectl.hint(`get secret ${this.secret}`)}; nothing was changed`,
      });
    const o = JSON.parse(r.stdout) as SecretObject;
    for (const v of Object.values(o.data ?? {})) registerSecret(Buffer.from(v, 'base64').toString('utf8'));
    this.cached = o;
    return o;
  }
  async read(name: string): Promise<string | undefined> {
    if (isUrlPart(name)) {
      const url = await this.read('DATABASE_URL');
      return url ? databaseUrlCredentials(url)[IN_DATABASE_URL[name]] : undefined;
    }
    const b64 = (await this.object()).data?.[name];
    const v = b64 ? Buffer.from(b64, 'base64').toString('utf8') : '';
    return v || undefined;
  }
  async write(changes: Record<string, string | null>): Promise<void> {
    const o = await this.object();
    const data = { ...(o.data ?? {}) };
    const plain = Object.entries(changes).filter(([k]) => !isUrlPart(k));
    const inUrl = Object.entries(changes).filter(([k]) => isUrlPart(k)) as [UrlPart, string | null][];
    if (inUrl.length) {
      const base = changes.DATABASE_URL ?? (await this.read('DATABASE_URL'));
      if (!base)
        throw new UserError(`the Secret ${this.secret} has no DATABASE_URL to carry the new credentials`, {
          hint: `put one there first (${this.kubectl.hint(`apply -f -`)}); nothing was changed`,
        });
      const credentials: { user?: string; password?: string } = {};
      for (const [k, v] of inUrl) {
        if (v === null) throw new Error(`${k} cannot be removed from DATABASE_URL`);
        credentials[IN_DATABASE_URL[k]] = v;
      }
      plain.push(['DATABASE_URL', withDatabaseCredentials(base, credentials)]);
    }
    for (const [k, v] of plain) {
      if (v === null) delete data[k];
      else {
        registerSecret(v);
        data[k] = Buffer.from(v, 'utf8').toString('base64');
      }
    }
    const annotations = { ...(o.metadata.annotations ?? {}) };
    delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
    const next: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: o.type ?? 'Opaque',
      metadata: {
        name: this.secret,
        namespace: this.kubectl.namespace,
        ...(o.metadata.labels ? { labels: o.metadata.labels } : {}),
        ...(Object.keys(annotations).length ? { annotations } : {}),
      },
      data,
    };
    const r = await this.kubectl.run(['apply', '-f', '-'], { input: JSON.stringify(next) });
    if (r.exitCode !== 0)
      throw new UserError(`kubectl apply of the Secret ${this.secret} failed: ${lastLine(r)}`, {
        hint: `the Secret is unchanged; check ${this.kubectl.hint(`auth can-i update secret/${this.secret}`)}`,
      });
    this.cached = { ...next };
  }
}

/**
 * `kubectl rollout restart deployment/…` then `kubectl rollout status --timeout`: the Deployment's
 * RollingUpdate strategy (maxUnavailable 0, readiness probes) replaces pods one by one, each ready
 * before an old one stops. rollout status exits non-zero when the progress deadline is exceeded
 * or the timeout passes (kubectl rollout status docs).
 */
export class KubeRoller implements AppRoller {
  constructor(
    private readonly kubectl: Kubectl,
    private readonly publicUrl: string,
    readonly timeoutSeconds: number,
    readonly deployment = APP_DEPLOYMENT,
  ) {}
  get description(): string {
    return `kubectl rollout restart deployment/${this.deployment} + rollout status --timeout=${this.timeoutSeconds}s in ${this.kubectl.context}/${this.kubectl.namespace}`;
  }
  replicas(): string[] {
    return [`deployment/${this.deployment}`];
  }
  /** The pods sit behind one Service; verification goes through the environment's public URL. */
  replicaUrls(): string[] {
    return [this.publicUrl];
  }
  async roll(progress: (detail: string) => void): Promise<void> {
    progress(`rollout restart deployment/${this.deployment}`);
    const r = await this.kubectl.run(['rollout', 'restart', `deployment/${this.deployment}`]);
    if (r.exitCode !== 0)
      throw new UserError(`kubectl rollout restart failed: ${lastLine(r)}`, {
        hint: this.kubectl.hint(`get deployment ${this.deployment}`),
      });
    progress(`rollout status (up to ${this.timeoutSeconds} s)`);
    const s = await this.kubectl.run([
      'rollout',
      'status',
      `deployment/${this.deployment}`,
      `--timeout=${this.timeoutSeconds}s`,
    ]);
    if (s.exitCode !== 0)
      throw new UserError(`deployment/${this.deployment} did not become ready: ${lastLine(s)}`, {
        hint: this.kubectl.hint(`get pods`),
      });
  }
}

/**
 * The rotation target of a Kubernetes environment, after the kube-context guard. The PostgreSQL
 * side is the environment's database host (scripts/lib/db-roles.ts), which rotate-secret connects
 * to only for DATABASE_URL.
 */
export async function kubeRotationTarget(
  exec: Exec,
  env: Environment,
  timeoutSeconds: number,
): Promise<RotationTarget> {
  const kubectl = new Kubectl(exec, env);
  await guardContext(kubectl, env);
  return { store: new KubeSecretStore(kubectl), roller: new KubeRoller(kubectl, env.api.publicUrl, timeoutSeconds) };
}
