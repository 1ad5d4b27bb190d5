import { redactText } from '../../app/src/logging/redact.js';
// Values that must never be printed. Anything that reads a secret registers it here; output and
// exec mask every registered value before text reaches a terminal or a log file.

const secretValues = new Set<string>();
const MASK = '***';

export function registerSecret(value: string | undefined | null): void {
  // Very short values would mask ordinary words; such a secret is too weak to be real anyway.
  if (value && value.length >= 4) secretValues.add(value);
}

export function maskSecrets(text: string): string {
  let out = text;
  for (const value of secretValues) {
    if (out.includes(value)) out = out.split(value).join(MASK);
  }
  // Credentials embedded in URLs (postgres://user:pass@host) are masked even when not registered;
  // bearer tokens and JWTs too (the app's redaction rules, one copy).
  return redactText(out, MASK);
}

export function clearSecretsForTests(): void {
  secretValues.clear();
}
