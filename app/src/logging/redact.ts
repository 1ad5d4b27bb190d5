/**
 * Redaction of secrets before anything is written to a log or a terminal: one copy for the app's
 * logger and the scripts' output (scripts/lib/secrets.ts imports it).
 */

/**
 * Keys whose value is a secret, wherever they appear (any depth, any case, any prefix such as
 * `db_password` or `x-api-key`).
 */
export const SECRET_KEY =
  /pass(word|wd|phrase)|pwd|secret|token|credential|private[_-]?key|authorization|cookie|jwt|api[_-]?key|signature/i;

/**
 * `scheme://user:password@host`: the password is everything between the first `:` after the
 * user and the LAST `@` of the authority (WHATWG URL: the authority ends at `/`, `?`, `#`), so a
 * password containing `@` or `:` is masked whole.
 */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[^/?#\s]*@/gi;
const BEARER = /\b(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
const JWT_LIKE = /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

export const REDACTED = '[REDACTED]';
/** Deeper than this, a value is replaced (never written in clear); also stops runaway nesting. */
const MAX_DEPTH = 64;

/** Masks URL passwords, bearer tokens and JWT-looking strings inside free text. */
export function redactText(text: string, mask = REDACTED): string {
  if (!text.includes('://') && !/bearer|eyJ/i.test(text)) return text;
  return text.replace(URL_CREDENTIALS, `$1${mask}@`).replace(BEARER, `$1${mask}`).replace(JWT_LIKE, mask);
}

/**
 * A copy of `value` fit for a log: values under SECRET_KEY keys replaced at any depth, strings
 * passed through redactText, Errors reduced to name + message, cycles and nesting deeper than
 * MAX_DEPTH replaced. Never throws on plain data.
 */
export function redact(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return REDACTED;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
    if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) ? REDACTED : redact(v, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value); // the same object twice (not a cycle) is redacted twice
  }
}
