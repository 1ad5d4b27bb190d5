// prometheus/prometheus.yml (the local stack) and prometheus/prometheus-<env>.yml (clusters).
import { listEnvironments, loadEnvironment } from '../environments.js';
import { UserError } from '../errors.js';
import { prometheusConfigPath, renderPrometheusConfig } from '../monitoring/prometheus-config.js';
import { COMMITTED, formatLikeRepo, type Generator } from './common.js';

export const prometheusConfigGenerator: Generator = {
  name: 'prometheus-config',
  source: 'environments/*.yaml + scripts/lib/monitoring/prometheus-config.ts',
  render() {
    // Committed files use the environment files' own defaults, not this machine's variables.
    const envs = listEnvironments().map((n) => loadEnvironment(n, COMMITTED));
    const local = envs.filter((e) => e.deploy.kind === 'local');
    if (local.length > 1) {
      throw new UserError(
        `${local.map((e) => e.name).join(', ')} are all local environments; the local stack has one prometheus.yml`,
        { hint: 'keep one environment with deploy.kind local' },
      );
    }
    return Promise.all(
      envs.map(async (e) => ({
        path: prometheusConfigPath(e),
        content: await formatLikeRepo(prometheusConfigPath(e), renderPrometheusConfig(e)),
      })),
    );
  },
};
