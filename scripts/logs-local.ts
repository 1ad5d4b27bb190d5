// make logs-local: the local stack's logs — compose logs in docker mode, the native log files
// (.run/logs/*.log, and Nginx's own access/error logs) otherwise — merged by time when several
// services are asked for; --follow keeps printing what they append.
import { closeSync, existsSync, openSync, readSync, statSync, readFileSync } from 'node:fs';
import { intOption } from './lib/cli.js';
import { Compose, composeCommand } from './lib/docker.js';
import { UsageError, UserError } from './lib/errors.js';
import { mergeByTime } from './lib/local-stack/log-merge.js';
import { readState, runDirFrom } from './lib/local-stack/state.js';
import { runScript } from './lib/main.js';
import { readManifest, Stack } from './lib/services/index.js';

interface Source {
  service: string;
  file: string;
}

function nativeSources(runDir: string, wanted: string[]): Source[] {
  const stack = Stack.restore({ runDir, readOnly: true });
  const names = stack.names();
  const kinds = new Map(readManifest(runDir).map((m) => [m.name, m.kind]));
  const matches = (n: string, w: string): boolean => n === w || kinds.get(n) === w;
  const unknown = wanted.filter((w) => !names.some((n) => matches(n, w)));
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown service ${unknown.join(', ')}: the local stack has ${names.join(', ')}`,
      `pass SERVICE=${names.find((n) => kinds.get(n) === 'api') ? 'api' : (names[0] ?? 'api')} (a name or a kind)`,
    );
  }
  const chosen = wanted.length === 0 ? names : names.filter((n) => wanted.some((w) => matches(n, w)));
  const sources: Source[] = [];
  for (const n of chosen) {
    sources.push({ service: n, file: stack.logFile(n) });
    const info = stack.info<{ accessLog?: string; errorLog?: string }>(n);
    if (info.errorLog) sources.push({ service: `${n}:error`, file: info.errorLog });
    if (info.accessLog) sources.push({ service: `${n}:access`, file: info.accessLog });
  }
  return sources.filter((s) => existsSync(s.file));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

await runScript(
  {
    summary: 'Show the local stack logs (compose logs or the native log files), merged by time.',
    usage: 'make logs-local [SERVICE=api[,nginx…]] [FOLLOW=1] [LINES=200]',
    options: {
      service: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      lines: { type: 'string' },
      'run-dir': { type: 'string' },
    },
    optionsHelp: [
      '      --service S    one or more services, comma-separated (a kind, e.g. api, means every replica)',
      '  -f, --follow       keep printing new lines (Ctrl-C ends)',
      '      --lines N      last N lines of each service (default 200)',
      '      --run-dir DIR  run directory of the native stack (default .run/, or MYTV_RUN_DIR)',
    ].join('\n'),
  },
  async ({ values, exec, out }) => {
    const runDir = runDirFrom(values);
    const wanted = String(values.service ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const lines = intOption(values.lines, 'lines', { default: 200, min: 1, max: 1_000_000 });
    const follow = Boolean(values.follow);
    const state = readState(runDir);

    if (state?.mode === 'docker') {
      const compose = new Compose(exec, await composeCommand(), state.profile);
      const args = ['logs', '--timestamps', `--tail=${lines}`];
      if (follow) args.push('--follow');
      // Streams to the terminal: compose merges the services itself.
      const r = await compose.run([...args, ...wanted], { readOnly: true, nothrow: true });
      process.stdout.write(r.stdout);
      if (r.exitCode !== 0)
        throw new UserError(`docker compose logs failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
      return;
    }
    if (readManifest(runDir).length === 0) {
      throw new UserError(`no local stack in ${runDir}: there are no logs to show`, { hint: 'start it with: make up' });
    }
    const sources = nativeSources(runDir, wanted);
    const read = sources.map((s) => ({
      service: s.service,
      lines: readFileSync(s.file, 'utf8').split('\n').filter(Boolean).slice(-lines),
    }));
    for (const l of sources.length === 1 ? read[0].lines : mergeByTime(read)) out.line(l);
    if (!follow) return;

    // Follow: poll each file for appended bytes; print complete lines as they arrive.
    const offsets = sources.map((s) => statSync(s.file).size);
    const partial = sources.map(() => '');
    const width = Math.max(...sources.map((s) => s.service.length));
    for (;;) {
      await sleep(250);
      sources.forEach((s, i) => {
        const size = existsSync(s.file) ? statSync(s.file).size : 0;
        if (size < offsets[i]) offsets[i] = 0; // truncated
        if (size === offsets[i]) return;
        const fd = openSync(s.file, 'r');
        const buf = Buffer.alloc(size - offsets[i]);
        readSync(fd, buf, 0, buf.length, offsets[i]);
        closeSync(fd);
        offsets[i] = size;
        const text = partial[i] + buf.toString('utf8');
        const parts = text.split('\n');
        partial[i] = parts.pop() ?? '';
        for (const l of parts.filter(Boolean)) out.line(sources.length === 1 ? l : `${s.service.padEnd(width)} | ${l}`);
      });
    }
  },
);
