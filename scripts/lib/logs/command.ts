// make logs / logs-errors / logs-slow / logs-audit / logs-request / logs-local: one command, two
// backends. Loki (environments/<env>.yaml logs.loki) through its HTTP API, or the local stack's
// files when the environment has no Loki (dev) or with --local. The same LogQuery filters both.
import type { Environment } from '../environments.js';
import { loadEnvironment } from '../environments.js';
import { UsageError, UserError } from '../errors.js';
import { Compose, composeCommand } from '../docker.js';
import { readState, runDirFrom } from '../local-stack/state.js';
import type { ScriptContext, ScriptDefinition } from '../main.js';
import { readManifest } from '../services/index.js';
import { formatEntry } from './format.js';
import { composeLogEntry, FileFollower, mergeByTime, nativeSources, queryLocal, type LogEntry } from './local.js';
import { LokiClient, type LokiEntry } from './loki-client.js';
import { buildLogQuery, jsonFields, matchesQuery, toLogQL, type LogQuery, type RawLogOptions } from './query.js';
import { sleep } from '../wait.js';

export const VIEWS = ['errors', 'slow', 'audit', 'request'] as const;
export type View = (typeof VIEWS)[number];

export const logsDefinition: ScriptDefinition = {
  summary: 'Query the logs of an environment (Loki, or the local stack files) with one set of options.',
  usage:
    'make logs [ENV=…] [SERVICE=api,nginx] [LEVEL=warn] [SINCE=15m | FROM=… TO=…] [GREP=text] [REQUEST_ID=…] ' +
    '[ROUTE=/v2/channels/:slug] [STATUS=5xx] [SLOWER_THAN=500ms] [LIMIT=500] [FOLLOW=1] [OUTPUT=pretty|json|raw]',
  options: {
    service: { type: 'string' },
    level: { type: 'string' },
    'log-type': { type: 'string' },
    since: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    grep: { type: 'string' },
    'request-id': { type: 'string' },
    route: { type: 'string' },
    status: { type: 'string' },
    'slower-than': { type: 'string' },
    limit: { type: 'string' },
    lines: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
    output: { type: 'string' },
    view: { type: 'string' },
    local: { type: 'boolean' },
    'print-query': { type: 'boolean' },
    'run-dir': { type: 'string' },
  },
  optionsHelp: [
    '      --service S        services, comma-separated (api, nginx, postgres…; a kind means every replica)',
    '      --level L          this level and above: debug, info, warn, error',
    '      --log-type T       access, app or audit',
    '      --since D          window ending now (default 1h): 500ms, 15m, 2h, 7d',
    '      --from T --to T    window: ISO 8601 (local time without a zone) or a duration ago',
    '      --grep TEXT        lines containing TEXT',
    '      --request-id ID    one request (Nginx and API lines)',
    '      --route R          route template or path (/v2/channels/:slug, /v2/channels)',
    '      --status S         HTTP status: 429, 5xx, 500-504',
    '      --slower-than D    access lines slower than D (500ms)',
    '      --limit N          newest N entries (default 500)',
    '  -f, --follow           keep printing new entries (Ctrl-C ends)',
    '      --output F         pretty (default), json (one object per line) or raw',
    '      --view V           canned view: errors, slow, audit, request',
    '      --local            read the local stack files even when the environment has Loki',
    '      --print-query      print the LogQL and stop',
    '      --run-dir DIR      run directory of the native stack (default .run/, or MYTV_RUN_DIR)',
    'Each option can also be given as its make variable (SERVICE=, LEVEL=, SINCE=, FROM=, TO=, GREP=,',
    'REQUEST_ID=, ROUTE=, STATUS=, SLOWER_THAN=, LIMIT=, FOLLOW=1, OUTPUT=, LOG_TYPE=).',
  ].join('\n'),
};

/** Option from its flag, else its make variable (exported to the script's environment by make). */
function opt(
  values: ScriptContext['values'],
  flag: string,
  variable: string,
  env: NodeJS.ProcessEnv,
): string | undefined {
  const v = values[flag];
  if (typeof v === 'string') return v;
  const e = env[variable];
  return e === undefined || e === '' ? undefined : e;
}

/** The raw options of a run: flags, make variables, then the view's defaults. */
export function rawOptions(
  values: ScriptContext['values'],
  env: NodeJS.ProcessEnv,
  environment: Pick<Environment, 'slo'>,
): { raw: RawLogOptions; view?: View } {
  const viewRaw = opt(values, 'view', 'VIEW', env);
  if (viewRaw !== undefined && !(VIEWS as readonly string[]).includes(viewRaw))
    throw new UsageError(`unknown view '${viewRaw}'`, `pass --view=${VIEWS.join('|')}`);
  const view = viewRaw as View | undefined;
  const followEnv = env.FOLLOW && ['1', 'true', 'yes', 'on'].includes(env.FOLLOW.toLowerCase());
  const raw: RawLogOptions = {
    service: opt(values, 'service', 'SERVICE', env),
    level: opt(values, 'level', 'LEVEL', env),
    logType: opt(values, 'log-type', 'LOG_TYPE', env),
    since: opt(values, 'since', 'SINCE', env),
    from: opt(values, 'from', 'FROM', env),
    to: opt(values, 'to', 'TO', env),
    grep: opt(values, 'grep', 'GREP', env),
    requestId: opt(values, 'request-id', 'REQUEST_ID', env),
    route: opt(values, 'route', 'ROUTE', env),
    status: opt(values, 'status', 'STATUS', env),
    slowerThan: opt(values, 'slower-than', 'SLOWER_THAN', env),
    limit: opt(values, 'limit', 'LIMIT', env) ?? opt(values, 'lines', 'LINES', env),
    follow: Boolean(values.follow) || Boolean(followEnv),
    output: opt(values, 'output', 'OUTPUT', env),
  };
  if (view === 'errors') raw.level ??= 'error';
  if (view === 'slow') {
    raw.logType ??= 'access';
    raw.slowerThan ??= `${environment.slo.latencyP95Ms}ms`; // the SLO's P95 target
  }
  if (view === 'audit') raw.logType ??= 'audit';
  if (view === 'request') {
    if (!raw.requestId)
      throw new UsageError(
        'make logs-request needs REQUEST_ID=',
        'copy it from an X-Request-Id header: make logs-request REQUEST_ID=…',
      );
    if (!raw.from) raw.since ??= '24h';
  }
  return { raw, view };
}

/** The body of every logs entry script; `forceLocal` = make logs-local. */
export async function runLogs(
  ctx: ScriptContext,
  o: { forceLocal?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const envVars = o.env ?? process.env;
  const environment = loadEnvironment(ctx.flags.env);
  const { raw } = rawOptions(ctx.values, envVars, environment);
  const q = buildLogQuery(environment.name, raw);
  const local = o.forceLocal || Boolean(ctx.values.local) || !environment.logs?.loki;
  if (ctx.values['print-query']) {
    ctx.out.line(local ? `(local files of ${runDirFrom(ctx.values)}) ${toLogQL(q)}` : toLogQL(q));
    return;
  }
  const width = 8;
  const print = (entries: LogEntry[]): void => {
    const w = Math.max(width, ...entries.map((e) => e.service.length));
    for (const e of entries) process.stdout.write(formatEntry(e, q.output, w) + '\n');
  };
  if (local) return runLocal(ctx, q, print);

  const loki = environment.logs!.loki!;
  const client = new LokiClient({
    url: loki.url,
    tenant: loki.tenant,
    username: environment.vars.LOKI_USERNAME,
    password: environment.vars.LOKI_PASSWORD,
    token: environment.vars.LOKI_TOKEN,
    onRetry: (attempt, why, wait) => ctx.out.warn(`Loki: ${why}; retry ${attempt} in ${wait} ms`),
  });
  const logql = toLogQL(q);
  if (ctx.flags.verbose) ctx.out.warn(`LogQL: ${logql}`);
  const toEntries = (list: LokiEntry[]): LogEntry[] =>
    list.map((e) => ({
      time: Number(e.ns / 1_000_000n),
      service: e.labels.service ?? '?',
      line: e.line,
      labels: e.labels,
      fields: jsonFields(e.line),
    }));
  const first = await client.queryRange(logql, q.from, q.to, q.limit);
  print(toEntries(first));
  if (!q.follow) {
    if (first.length === 0 && q.output === 'pretty') ctx.out.warn(`no entries for ${logql} in the window`);
    return;
  }
  let lastNs = first.length > 0 ? first[first.length - 1].ns : BigInt(q.to) * 1_000_000n;
  for (;;) {
    await sleep(2000);
    const next = await client.since(logql, lastNs, 1000);
    if (next.length > 0) lastNs = next[next.length - 1].ns;
    print(toEntries(next));
  }
}

async function runLocal(ctx: ScriptContext, q: LogQuery, print: (e: LogEntry[]) => void): Promise<void> {
  const runDir = runDirFrom(ctx.values);
  const state = readState(runDir);
  if (state?.mode === 'docker') {
    // Compose keeps the containers' logs: read them once and filter them here, as the native files.
    const compose = new Compose(ctx.exec, await composeCommand(), state.profile);
    const read = async (since?: number): Promise<LogEntry[]> => {
      const args = ['logs', '--no-color', '--timestamps'];
      if (since !== undefined) args.push(`--since=${new Date(since).toISOString()}`);
      const r = await compose.run([...args, ...q.services], { readOnly: true, nothrow: true });
      if (r.exitCode !== 0)
        throw new UserError(`docker compose logs failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
      return mergeByTime([r.stdout.split('\n').flatMap((l) => composeLogEntry(l) ?? [])]);
    };
    const first = (await read()).filter((e) => matchesQuery(q, e)).slice(-q.limit);
    print(first);
    if (!q.follow && first.length === 0 && q.output === 'pretty')
      ctx.out.warn(`no entries for ${toLogQL(q)} in the compose logs`);
    // Follow: ask compose for what came since the last entry printed (its --follow cannot be filtered).
    let last = first.at(-1)?.time ?? q.to;
    const open = { ...q, to: Number.POSITIVE_INFINITY };
    while (q.follow) {
      await sleep(2000);
      const next = (await read(last)).filter((e) => e.time > last && matchesQuery(open, e));
      if (next.length > 0) last = next[next.length - 1].time;
      print(next);
    }
    return;
  }
  if (readManifest(runDir).length === 0) {
    throw new UserError(`no local stack in ${runDir}: there are no logs to show`, {
      hint: 'start it with: make up (or give ENV= an environment with Loki)',
    });
  }
  const sources = nativeSources(runDir, q.services);
  const found = queryLocal(q, sources);
  print(found);
  if (!q.follow) {
    if (found.length === 0 && q.output === 'pretty')
      ctx.out.warn(`no entries for ${toLogQL(q)} in the local logs of ${runDir}`);
    return;
  }
  const follower = new FileFollower(sources);
  const open = { ...q, to: Number.POSITIVE_INFINITY };
  for (;;) {
    await sleep(250);
    print(follower.poll().filter((e) => matchesQuery(open, e)));
  }
}
