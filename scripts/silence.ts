// make silence ENV=… ARGS="--matcher alertname=X --duration 2h --comment '…'": a silence in the
// environment's Alertmanager, with an author, a comment and an expiry. --dry-run shows it and the
// alerts it would mute; production asks first unless --yes.
import os from 'node:os';
import { loadEnvironment } from './lib/environments.js';
import { UsageError, UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { AlertmanagerClient, monitoringUrl, parseDuration, parseMatcher, type Matcher } from './lib/monitoring/api.js';

function matches(m: Matcher, labels: Record<string, string>): boolean {
  const v = labels[m.name] ?? '';
  const hit = m.isRegex ? new RegExp(`^(?:${m.value})$`).test(v) : v === m.value;
  return hit === m.isEqual;
}

await runScript(
  {
    summary: "Add a silence to an environment's Alertmanager (author, comment, expiry).",
    usage:
      'make silence ENV=… ARGS="--matcher alertname=ApiDown [--matcher service=api] --duration 2h --comment \'deploying\' [--author NAME]" [DRY_RUN=1] [YES=1]',
    options: {
      matcher: { type: 'string', multiple: true },
      duration: { type: 'string' },
      comment: { type: 'string' },
      author: { type: 'string' },
    },
    optionsHelp: [
      'Options:',
      '  --matcher M     name=value, name!=value, name=~regex, name!~regex (repeat; all must match)',
      '  --duration D    how long from now, e.g. 30m, 2h, 1d (required; at most 7d)',
      '  --comment TEXT  why (required)',
      '  --author NAME   who (default: $USER)',
    ].join('\n'),
  },
  async ({ flags, values, out, exec, confirm }) => {
    // Preflight: everything checked before anything changes.
    const env = loadEnvironment(flags.env);
    const rawMatchers = (values.matcher as string[] | undefined) ?? [];
    if (rawMatchers.length === 0) throw new UsageError('no --matcher given', 'e.g. --matcher alertname=ApiDown');
    const matchers = rawMatchers.map(parseMatcher);
    if (!matchers.some((m) => m.isEqual && !(m.isRegex && /^(\.\*|\.\+)$/.test(m.value)))) {
      throw new UsageError('the matchers would silence everything', 'add an equality matcher such as alertname=…');
    }
    const comment = ((values.comment as string | undefined) ?? '').trim();
    if (!comment) throw new UsageError('no --comment given', 'say why, e.g. --comment "planned PostgreSQL upgrade"');
    if (!values.duration) throw new UsageError('no --duration given', 'e.g. --duration 2h');
    const seconds = parseDuration(values.duration as string, '--duration');
    if (seconds > 7 * 86_400)
      throw new UsageError('--duration is over 7d', 'silence for at most a week; fix the alert instead');
    const author = ((values.author as string | undefined) ?? process.env.USER ?? os.userInfo().username).trim();
    if (!author) throw new UsageError('no --author given', 'pass --author NAME');
    const am = new AlertmanagerClient(monitoringUrl(env, 'alertmanager'));
    const alerts = await am.alerts();

    // Plan.
    const startsAt = new Date();
    const endsAt = new Date(startsAt.getTime() + seconds * 1000);
    const silence = {
      matchers,
      startsAt: startsAt.toISOString(),
      endsAt: endsAt.toISOString(),
      createdBy: author,
      comment,
    };
    const muted = alerts.filter((a) => matchers.every((m) => matches(m, a.labels)));
    out.heading(`Silence in ${env.name} (${am.baseUrl}) until ${silence.endsAt}`);
    out.table([
      { field: 'matchers', value: rawMatchers.join(' ') },
      { field: 'author', value: author },
      { field: 'comment', value: comment },
      { field: 'mutes now', value: muted.map((a) => a.labels.alertname).join(', ') || '(no current alert)' },
    ]);
    if (env.production) await confirm(`silence these alerts in ${env.name}?`);

    // Act and verify.
    const id = await exec.change(`create the silence in ${am.baseUrl}`, () => am.createSilence(silence));
    if (id === undefined) {
      if (flags.json) out.data({ dryRun: true, silence, mutes: muted.map((a) => a.labels) });
      return;
    }
    const created = (await am.silences()).find((s) => s.id === id);
    if (created?.status.state !== 'active') {
      throw new UserError(`silence ${id} was created but is ${created?.status.state ?? 'not listed'}`, {
        hint: `check it in Alertmanager (amtool silence query --alertmanager.url=${am.baseUrl})`,
      });
    }
    if (flags.json) out.data({ id, silence, mutes: muted.map((a) => a.labels) });
    else out.ok(`silence ${id} active until ${silence.endsAt} (expire it early: amtool silence expire ${id})`);
  },
);
