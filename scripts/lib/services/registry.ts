// Service kinds the runner knows. A new service is one file in this folder and one line here.
import { alertmanagerService } from './alertmanager.js';
import { apiService } from './api.js';
import { blackboxExporterService } from './blackbox.js';
import { nginxExporterService, postgresExporterService, redisExporterService } from './exporters.js';
import { nginxService } from './nginx.js';
import { postgresService } from './postgres.js';
import { prometheusService } from './prometheus.js';
import { pushgatewayService } from './pushgateway.js';
import { redisService } from './redis.js';
import { s3Service } from './s3.js';
import { sshdService } from './sshd.js';
import type { ServiceSpec } from './types.js';

const SPECS: Record<string, ServiceSpec> = {
  postgres: postgresService,
  redis: redisService,
  s3: s3Service,
  api: apiService,
  prometheus: prometheusService,
  alertmanager: alertmanagerService,
  'postgres-exporter': postgresExporterService,
  'redis-exporter': redisExporterService,
  'nginx-exporter': nginxExporterService,
  nginx: nginxService,
  sshd: sshdService,
  'blackbox-exporter': blackboxExporterService,
  pushgateway: pushgatewayService,
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
