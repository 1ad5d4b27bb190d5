// make logs's options -> LogQuery -> LogQL: every option and every combination of them gives a query
// Loki's grammar (@grafana/lezer-logql) accepts; bad options are one-line usage errors.
import { expect } from 'chai';
import { UsageError } from '../../scripts/lib/errors.js';
import { buildLogQuery, checkLogQL, matchesQuery, toLogQL, type RawLogOptions } from '../../scripts/lib/logs/query.js';
import { runEntryScript } from '../support/run-script.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');

const OPTIONS: Partial<Record<keyof RawLogOptions, string>> = {
  service: 'api,nginx',
  level: 'warn',
  logType: 'access',
  grep: 'say "hi" `now` \\ here',
  requestId: 'req-1:a.b',
  route: '/v2/channels/:slug',
  status: '5xx',
  slowerThan: '1.5s',
};

describe('logs: the LogQL builder', function () {
  it('accepts every combination of the options and each result parses with the LogQL grammar', function () {
    const keys = Object.keys(OPTIONS) as (keyof RawLogOptions)[];
    const seen = new Set<string>();
    for (let mask = 0; mask < 1 << keys.length; mask++) {
      const raw: RawLogOptions = {};
      keys.forEach((k, i) => {
        if (mask & (1 << i)) (raw as Record<string, string>)[k] = OPTIONS[k]!;
      });
      const logql = toLogQL(buildLogQuery('prod', raw, NOW)); // checkLogQL runs inside
      seen.add(logql);
    }
    expect(seen.size).to.equal(1 << keys.length);
  });

  it('puts the low-cardinality labels in the selector and the schema fields behind | json', function () {
    const q = buildLogQuery('staging', { ...OPTIONS, status: '429' } as RawLogOptions, NOW);
    expect(toLogQL(q)).to.equal(
      '{env="staging", service=~"api|nginx", log_type="access", level=~"warn|error"} |= "req-1:a.b" ' +
        '|= "say \\"hi\\" `now` \\\\ here" | json | request_id="req-1:a.b" ' +
        '| (route="/v2/channels/:slug" or path="/v2/channels/:slug") | status >= 429 and status <= 429 | duration_ms > 1500',
    );
    expect(toLogQL(buildLogQuery('dev', {}, NOW))).to.equal('{env="dev", service=~".+"}');
  });

  it('the grammar check rejects what Loki would reject', function () {
    expect(() => checkLogQL('{env="prod" | json')).to.throw(/rejected by the grammar/);
    expect(() => checkLogQL('{env="prod"} | status >= ')).to.throw(/rejected by the grammar/);
  });

  it('reads windows: SINCE, FROM/TO (ISO or a duration ago), ranges of status', function () {
    expect(buildLogQuery('dev', { since: '15m' }, NOW)).to.include({ from: NOW - 900_000, to: NOW });
    expect(buildLogQuery('dev', { from: '2h', to: '1h30m' }, NOW)).to.include({
      from: NOW - 7_200_000,
      to: NOW - 5_400_000,
    });
    expect(buildLogQuery('dev', { from: '2026-11-29T10:00:00Z' }, NOW).from).to.equal(
      Date.parse('2026-11-29T10:00:00Z'),
    );
    expect(buildLogQuery('dev', { status: '500-504' }, NOW).status).to.deep.equal({ min: 500, max: 504 });
  });

  for (const [name, raw, message] of [
    ['an unknown level', { level: 'loud' }, /unknown level 'loud'/],
    ['an unparsable duration', { since: '15 minutes' }, /SINCE=15 minutes is not a duration/],
    ['a zero duration', { slowerThan: '0ms' }, /SLOWER_THAN=0ms is not a duration/],
    ['FROM after TO', { from: '2026-11-29T11:00:00Z', to: '2026-11-29T10:00:00Z' }, /FROM .* is not before TO/],
    ['SINCE with FROM', { since: '1h', from: '2h' }, /SINCE= and FROM=\/TO= both given/],
    ['a bad status', { status: '6xx' }, /STATUS=6xx is not an HTTP status/],
    ['a bad time', { from: 'yesterday' }, /FROM=yesterday is not a time/],
    ['a bad output', { output: 'yaml' }, /unknown output 'yaml'/],
    ['a bad request id', { requestId: 'a b' }, /REQUEST_ID=a b is not a request id/],
    ['a bad limit', { limit: '0' }, /LIMIT=0 must be a whole number/],
  ] as [string, RawLogOptions, RegExp][]) {
    it(`refuses ${name} with a usage error`, function () {
      expect(() => buildLogQuery('dev', raw, NOW))
        .to.throw(UsageError)
        .with.property('message')
        .that.matches(message)
        .and.does.not.include('\n');
    });
  }

  it('the local filter means what the LogQL means', function () {
    const q = buildLogQuery('dev', { service: 'api', level: 'warn', status: '5xx', slowerThan: '100ms' }, NOW);
    const line = (f: Record<string, unknown>) => ({
      service: 'api-1',
      time: NOW - 1000,
      line: JSON.stringify(f),
      fields: f,
    });
    expect(matchesQuery(q, line({ level: 'error', status: 503, duration_ms: 120 }))).to.equal(true);
    expect(matchesQuery(q, line({ level: 'info', status: 503, duration_ms: 120 }))).to.equal(false);
    expect(matchesQuery(q, line({ level: 'error', status: 503, duration_ms: 80 }))).to.equal(false);
    expect(matchesQuery(q, line({ level: 'error', status: 404, duration_ms: 120 }))).to.equal(false);
    expect(
      matchesQuery(q, { ...line({ level: 'error', status: 503, duration_ms: 120 }), service: 'nginx:access' }),
    ).to.equal(false);
    expect(
      matchesQuery(q, { ...line({ level: 'error', status: 503, duration_ms: 120 }), time: NOW - 7_200_000 }),
    ).to.equal(false);
  });

  it('make logs prints one error line and exits 2 on a bad option, before any query', async function () {
    const r = await runEntryScript('scripts/logs.ts', ['--env=prod'], {
      env: { LEVEL: 'loud', PROD_LOKI_URL: 'http://127.0.0.1:9' },
    });
    expect(r.code).to.equal(2);
    expect(r.stderr.split('\n')[0]).to.equal("error: unknown level 'loud'");
    expect(r.stdout).to.equal('');
  });
});
