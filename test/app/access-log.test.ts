// The cheap per-request observability of the cached read fast path (issue 15): the hand-built
// access line must stay byte for byte what the winston pipeline writes (keys, order, redaction),
// the cached timestamp must stay Date's, the batched stdout must keep the lines' order, and
// increments deferred to scrape time must all be seen by a scrape.
import { expect } from 'chai';
import fc from 'fast-check';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import {
  accessLineConstants,
  BatchedStdout,
  createLogger,
  isoTimestamp,
  logAccess,
} from '../../app/src/logging/logger.js';
import { AppMetrics } from '../../app/src/metrics/metrics.js';

const TIMESTAMP = /"timestamp":"[^"]*"/;

/** A logger on a stream, and the lines written to it so far. */
function capture(level = 'info') {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return { logger: createLogger(level, stream), lines: () => text.split('\n').filter(Boolean) };
}

// Client-supplied text with what needs escaping or redacting: quotes, backslashes, control and
// non-ASCII characters, bearer tokens, JWT-looking strings, URL passwords.
const clientText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...'a"\\\n\t\u0001é€😀/:@?=.'.split('')), maxLength: 30 }),
  fc.constantFrom('Bearer abc.def-ghi', 'curl/8 bearer XYZ', 'eyJhbGciOi.eyJzdWIi.sig', 'https://u:p%40ss@host/x'),
);

describe('app: access log line and the fast path counters', function () {
  it('writes the access line exactly as the winston pipeline does (property)', function () {
    fc.assert(
      fc.property(
        fc.record(
          {
            request_id: clientText,
            method: fc.constantFrom('GET', 'PATCH', 'HEAD'),
            route: fc.constantFrom('/v2/channels', '/v2/channels/:slug', 'unmatched'),
            path: clientText,
            status: fc.constantFrom(200, 304, 404, 503),
            duration_ms: fc.integer({ min: 0, max: 10_000_000 }).map((n) => n / 1000),
            client_ip: fc.constantFrom('127.0.0.1', '::1', '2001:db8::7'),
            user_agent: clientText,
          },
          { requiredKeys: ['request_id', 'method', 'route', 'path', 'status', 'duration_ms'] },
        ),
        fc.constantFrom('info', 'warn', 'error'),
        (fields, level) => {
          const { logger, lines } = capture();
          logger.log(level, 'request', { log_type: 'access', ...fields });
          logAccess(logger, level, fields);
          // The fast path passes the parts it made once for its URL.
          logAccess(logger, level, fields, accessLineConstants(fields.method, fields.route, fields.path));
          const [viaWinston, viaLogAccess, withConstants] = lines();
          expect(viaLogAccess.replace(TIMESTAMP, '')).to.equal(viaWinston.replace(TIMESTAMP, ''));
          expect(withConstants.replace(TIMESTAMP, '')).to.equal(viaWinston.replace(TIMESTAMP, ''));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('drops the line below the logger level', function () {
    const { logger, lines } = capture('warn');
    logAccess(logger, 'info', { request_id: 'r', method: 'GET', route: '/', path: '/', status: 200, duration_ms: 1 });
    logAccess(logger, 'error', { request_id: 'r', method: 'GET', route: '/', path: '/', status: 500, duration_ms: 1 });
    expect(lines().map((l) => (JSON.parse(l) as { level: string }).level)).to.deep.equal(['error']);
  });

  it('formats timestamps as Date#toISOString does, in any order of calls (property)', function () {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4_102_444_800_000 }), { minLength: 1, maxLength: 20 }),
        (times) => {
          for (const t of times) expect(isoTimestamp(t)).to.equal(new Date(t).toISOString());
        },
      ),
    );
    for (const t of [1_796_000_000_000, 1_796_000_000_009, 1_796_000_000_099, 1_796_000_000_999, 1_796_000_001_000]) {
      expect(isoTimestamp(t)).to.equal(new Date(t).toISOString());
    }
  });

  it('keeps the order of access lines and other log lines through the batched stdout', function () {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mytv-log-'));
    const file = path.join(dir, 'out.log');
    const fd = openSync(file, 'w');
    try {
      const stream = new BatchedStdout(fd);
      const logger = createLogger('info', stream);
      for (let i = 0; i < 5; i++) {
        logger.info('event', { log_type: 'app', i });
        logAccess(logger, 'info', {
          request_id: `r${i}`,
          method: 'GET',
          route: '/',
          path: '/é',
          status: 200,
          duration_ms: i,
        });
      }
      stream.flush();
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      const parsed = lines.map((l) => JSON.parse(l) as { msg: string; i?: number; request_id?: string; path?: string });
      expect(parsed.map((l) => l.i ?? l.request_id)).to.deep.equal([0, 'r0', 1, 'r1', 2, 'r2', 3, 'r3', 4, 'r4']);
      expect(parsed[1].path, 'UTF-8 written whole').to.equal('/é');
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows every deferred increment at each scrape, once, next to ordinary ones', async function () {
    const metrics = new AppMetrics({ version: 't', commit: 't' });
    const hit = metrics.deferredIncrement(metrics.cacheHits, { cache: 'channels', layer: 'local' });
    const scraped = async () => {
      const text = await metrics.registry.getSingleMetricAsString('app_cache_hits_total');
      const line = text.split('\n').find((l) => l.includes('cache="channels"') && l.includes('layer="local"'));
      return Number(line?.split(' ').pop() ?? 0);
    };
    hit();
    hit();
    hit();
    expect(await scraped()).to.equal(3);
    expect(await scraped(), 'not counted twice').to.equal(3);
    hit();
    metrics.cacheHits.inc({ cache: 'channels', layer: 'local' });
    expect(await scraped()).to.equal(5);
    expect((await metrics.cacheHits.get()).values.find((v) => v.labels.cache === 'channels')?.value).to.equal(5);
  });
});
