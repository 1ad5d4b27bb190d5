// prometheus/rules/slo/<env>.yml from each environment's `slo` block (scripts/lib/monitoring/slo.ts).
import { listEnvironments, loadEnvironment } from '../environments.js';
import { renderSloRules, sloRulesPath } from '../monitoring/slo.js';
import { COMMITTED, formatLikeRepo, type Generator } from './common.js';

export const sloRulesGenerator: Generator = {
  name: 'slo-rules',
  source: 'environments/*.yaml slo',
  render() {
    return Promise.all(
      listEnvironments().map(async (name) => ({
        path: sloRulesPath(name),
        content: await formatLikeRepo(sloRulesPath(name), renderSloRules(loadEnvironment(name, COMMITTED))),
      })),
    );
  },
};
