// HTTP clients for an environment's Prometheus (query API v1) and Alertmanager (API v2), used by
// make slo-report, make alerts and make silence. Where they are: environments/<env>.yaml
// monitoring.prometheusUrl / alertmanagerUrl, or the local stack's ports (local.ports).
import type { Environment } from '../environments.js';
import { UsageError, UserError } from '../errors.js';

/** Base URL of an environment's Prometheus or Alertmanager. @throws UserError when it has none. */
export function monitoringUrl(env: Environment, what: 'prometheus' | 'alertmanager'): string {
  const configured = what === 'prometheus' ? env.monitoring?.prometheusUrl : env.monitoring?.alertmanagerUrl;
  if (configured) return configured.replace(/\/$/, '');
  if (env.local) return `http://127.0.0.1:${env.local.ports[what]}`;
  throw new UserError(`environment ${env.name} has no ${what} URL`, {
    hint: `set monitoring.${what}Url in environments/${env.name}.yaml`,
  });
}

async function request(url: string, what: string, init?: RequestInit): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new UserError(`cannot reach ${what} at ${new URL(url).origin} (${cause})`, {
      hint: `is it running? locally: make up / make status; a cluster: kubectl port-forward (see environments/<env>.yaml monitoring)`,
    });
  }
  const text = await res.text();
  if (!res.ok) {
    throw new UserError(`${what} answered ${res.status} to ${new URL(url).pathname}: ${text.trim().slice(0, 300)}`, {
      hint: 'check the query or the request (run with --verbose)',
    });
  }
  return text ? (JSON.parse(text) as unknown) : undefined;
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export class PrometheusClient {
  constructor(readonly baseUrl: string) {}

  /** Instant query (GET /api/v1/query); vector and scalar results as samples. */
  async query(expr: string, time?: Date): Promise<Sample[]> {
    const u = new URL('/api/v1/query', this.baseUrl);
    u.searchParams.set('query', expr);
    if (time) u.searchParams.set('time', String(time.getTime() / 1000));
    const body = (await request(u.toString(), 'Prometheus')) as {
      data: { resultType: string; result: unknown };
    };
    if (body.data.resultType === 'scalar') {
      const [, v] = body.data.result as [number, string];
      return [{ labels: {}, value: Number(v) }];
    }
    return (body.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      labels: r.metric,
      value: Number(r.value[1]),
    }));
  }

  /** First sample's value, or undefined when the query returns nothing (or NaN). */
  async value(expr: string): Promise<number | undefined> {
    const [first] = await this.query(expr);
    return first && !Number.isNaN(first.value) ? first.value : undefined;
  }
}

export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
  receivers: { name: string }[];
  status: { state: 'active' | 'suppressed' | 'unprocessed'; silencedBy: string[]; inhibitedBy: string[] };
}

export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

export interface SilenceRequest {
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

export class AlertmanagerClient {
  constructor(readonly baseUrl: string) {}

  /** GET /api/v2/alerts: active, silenced and inhibited alerts with their state. */
  async alerts(): Promise<AmAlert[]> {
    return (await request(new URL('/api/v2/alerts', this.baseUrl).toString(), 'Alertmanager')) as AmAlert[];
  }

  /** POST /api/v2/silences; returns the new silence's id. */
  async createSilence(s: SilenceRequest): Promise<string> {
    const body = (await request(new URL('/api/v2/silences', this.baseUrl).toString(), 'Alertmanager', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(s),
    })) as { silenceID: string };
    return body.silenceID;
  }

  async silences(): Promise<
    { id: string; status: { state: string }; matchers: Matcher[]; createdBy: string; comment: string; endsAt: string }[]
  > {
    return (await request(new URL('/api/v2/silences', this.baseUrl).toString(), 'Alertmanager')) as never;
  }
}

/**
 * Alertmanager matcher syntax `name=value`, `name!=value`, `name=~regex`, `name!~regex`
 * (as amtool and the v2 API's matcher fields). @throws UsageError naming the bad matcher.
 */
export function parseMatcher(raw: string): Matcher {
  const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$/.exec(raw);
  if (!m || m[3] === '') {
    throw new UsageError(
      `'${raw}' is not a matcher`,
      'write name=value, name!=value, name=~regex or name!~regex (e.g. --matcher alertname=ApiDown)',
    );
  }
  const op = m[2];
  if (op.includes('~')) {
    try {
      new RegExp(`^(?:${m[3]})$`);
    } catch {
      throw new UsageError(`the regex in '${raw}' does not compile`, 'fix the regular expression');
    }
  }
  return { name: m[1], value: m[3], isRegex: op.includes('~'), isEqual: !op.startsWith('!') };
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Prometheus-style duration ("90m", "1h30m", "2d") in seconds. @throws UsageError when malformed. */
export function parseDuration(raw: string, name = 'duration'): number {
  const text = raw.trim();
  if (!/^(\d+[smhdw])+$/.test(text)) {
    throw new UserError(`${name} '${raw}' is not a duration`, {
      hint: `write e.g. 30m, 2h, 1h30m, 7d (units s m h d w)`,
    });
  }
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhdw])/g)) total += Number(n) * UNIT_SECONDS[unit];
  if (total === 0) throw new UsageError(`${name} '${raw}' is zero`, 'give a positive duration');
  return total;
}
