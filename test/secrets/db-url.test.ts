// The credentials inside a DATABASE_URL, read with pg-connection-string (what pg uses) and rebuilt
// with the URL standard's setters: what pg reads back is exactly the new user/password, nothing else moves.
import { expect } from 'chai';
import { parse } from 'pg-connection-string';
import { databaseUrlCredentials, withDatabaseCredentials } from '../../scripts/lib/db-url.js';

describe('DATABASE_URL credentials (rotate-secret on Kubernetes)', () => {
  const url = 'postgres://mytv_app_a:t-old%40pw@db.internal:5433/mytv?sslmode=disable&application_name=api';

  it('reads the role and the percent-decoded password', () => {
    expect(databaseUrlCredentials(url)).to.deep.equal({ user: 'mytv_app_a', password: 't-old@pw' });
  });

  it('rebuilds with another role and a password full of URL delimiters; host, port, database and query kept', () => {
    const password = 't-n@w:/?#[]%&=+ \'"pw';
    const next = withDatabaseCredentials(url, { user: 'mytv_app_b', password });
    const p = parse(next);
    expect([p.user, p.password, p.host, p.port, p.database]).to.deep.equal([
      'mytv_app_b',
      password,
      'db.internal',
      '5433',
      'mytv',
    ]);
    expect(next.endsWith('?sslmode=disable&application_name=api')).to.equal(true);
    expect(withDatabaseCredentials(url, { password: 't-only' })).to.equal(
      'postgres://mytv_app_a:t-only@db.internal:5433/mytv?sslmode=disable&application_name=api',
    );
  });

  it('refuses a URL without credentials or without a host to carry them, naming the problem only', () => {
    expect(() => databaseUrlCredentials('postgres://db.internal/mytv')).to.throw(/names no user or no password/);
    expect(() => withDatabaseCredentials('postgres:///mytv?host=/run/postgresql', { password: 't-x' })).to.throw(
      /no host part/,
    );
    expect(() => databaseUrlCredentials('mysql://u:t-secret@h/db')).to.throw(/must start with postgres/);
  });
});
