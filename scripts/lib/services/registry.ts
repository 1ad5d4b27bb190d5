// Service kinds the runner knows. A new service is one file in this folder and one line here.
import { postgresService } from './postgres.js';
import { redisService } from './redis.js';
import type { ServiceSpec } from './types.js';

const SPECS: Record<string, ServiceSpec> = {
  postgres: postgresService,
  redis: redisService,
};

export function serviceKinds(): string[] {
  return Object.keys(SPECS);
}

export function serviceSpec(kind: string): ServiceSpec {
  const spec = SPECS[kind];
  if (!spec)
    throw new Error(
      `unknown service kind '${kind}' (known: ${serviceKinds().join(', ')}); add it to scripts/lib/services/registry.ts`,
    );
  return spec;
}

export function registerService(spec: ServiceSpec): void {
  SPECS[spec.kind] = spec;
}
