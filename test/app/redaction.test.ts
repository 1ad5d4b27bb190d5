// Log redaction (issue 16 item 3), as properties over generated data so the whole kind stays fixed:
// a value under a secret-named key at any depth, and a URL password with any characters, never
// reach the app's log line or the scripts' output in clear.
import { expect } from 'chai';
import fc from 'fast-check';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../app/src/logging/logger.js';
import { maskSecrets } from '../../scripts/lib/secrets.js';

/** Logs `meta` through the app's real logger and returns the JSON line written. */
function logged(meta: Record<string, unknown>): string {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const logger = createLogger('info', stream);
  logger.info('event', meta);
  return Buffer.concat(chunks).toString('utf8');
}

// The secret is recognisable so that "not in the output" means something.
const secretValue = fc
  .string({ minLength: 6, maxLength: 20, unit: fc.constantFrom(...'abcdefXYZ0123456789') })
  .map((s) => `S3CR3T${s}`);
const secretKeyName = fc
  .tuple(
    fc.constantFrom(
      'password',
      'passwd',
      'pwd',
      'credentials',
      'private_key',
      'privateKey',
      'secret',
      'token',
      'api_key',
      'authorization',
      'cookie',
      'passphrase',
    ),
    fc.constantFrom('', 'db_', 'X-', 'smtp.'),
    fc.boolean(),
  )
  .map(([name, prefix, upper]) => (upper ? (prefix + name).toUpperCase() : prefix + name));
const plainKey = fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom(...'lmnoquvwyz_') });
const filler = fc.dictionary(plainKey, fc.oneof(fc.integer(), fc.boolean(), fc.constant('ok')), { maxKeys: 3 });

/** An object with `secret` under `key`, nested `depth` levels through objects and arrays. */
function nest(
  key: string,
  secret: string,
  path: { key: string; inArray: boolean; extra: Record<string, unknown> }[],
): Record<string, unknown> {
  let node: Record<string, unknown> = { [key]: secret };
  for (const step of path) {
    const child = step.inArray ? [node] : node;
    node = { ...step.extra, [step.key]: child };
  }
  return node;
}

describe('app: log redaction', function () {
  it('redacts a secret-named key at any depth (property)', function () {
    fc.assert(
      fc.property(
        secretKeyName,
        secretValue,
        fc.array(fc.record({ key: plainKey, inArray: fc.boolean(), extra: filler }), { minLength: 0, maxLength: 20 }),
        (key, secret, path) => {
          const line = logged({ context: nest(key, secret, path) });
          return !line.includes(secret) && line.includes('[REDACTED]');
        },
      ),
      { numRuns: 300 },
    );
  });

  const passwordChar = fc.constantFrom(...'abcXYZ019@:!$&*+,;=%~-._'.split(''));
  const urlParts = fc.record({
    scheme: fc.constantFrom('postgres', 'postgresql', 'redis', 'rediss', 'https', 'amqp'),
    user: fc.string({ minLength: 0, maxLength: 8, unit: fc.constantFrom(...'abcdef_0123'.split('')) }),
    password: fc.string({ minLength: 4, maxLength: 24, unit: passwordChar }).map((p) => `Pw@${p}Zq`), // "Zq" appears nowhere else
    host: fc.constantFrom('db.internal', '10.0.0.5', '[::1]', 'cache.example.com'),
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    rest: fc.constantFrom('', '/mytv', '/0', '/mytv?sslmode=require', '#x'),
    before: fc.constantFrom('', 'connect to ', 'url='),
    after: fc.constantFrom('', ' failed', ' (retrying)'),
  });
  const render = (u: typeof urlParts extends fc.Arbitrary<infer T> ? T : never) =>
    `${u.before}${u.scheme}://${u.user}:${u.password}@${u.host}${u.port ? `:${u.port}` : ''}${u.rest}${u.after}`;

  it('masks a URL password whole, whatever it contains, in app logs and script output (property)', function () {
    fc.assert(
      fc.property(urlParts, (u) => {
        const text = render(u);
        const line = logged({ detail: text });
        const masked = maskSecrets(text);
        for (const out of [line, masked]) {
          // not the password, nor its tail after the first `@` (a partial mask leaves that)
          if (out.includes(u.password) || out.includes(u.password.slice(3))) return false;
          if (!out.includes(u.host)) return false;
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it('keeps ordinary data and survives cycles', function () {
    const cyclic: Record<string, unknown> = { name: 'ch-1', count: 3 };
    cyclic.self = cyclic;
    const line = JSON.parse(logged({ data: cyclic, url: 'https://example.com/x?y=1' })) as Record<string, unknown>;
    expect(line.data).to.deep.include({ name: 'ch-1', count: 3 });
    expect(line.url).to.equal('https://example.com/x?y=1');
  });
});
