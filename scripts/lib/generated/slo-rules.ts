// prometheus/rules/slo/<env>.yml from each environment's `slo` block (scripts/lib/monitoring/slo.ts).
import { listEnvironments, loadEnvironment } from '../environments.js';
import { renderSloRules, sloRulesPath } from '../monitoring/slo.js';
import { COMMITTED, type Generator } from './index.js';

export const sloRulesGenerator: Generator = {
  name: 'slo-rules',
  source: 'environments/*.yaml slo',
  render() {
    return Promise.resolve(
      listEnvironments().map((name) => ({
        path: sloRulesPath(name),
        content: renderSloRules(loadEnvironment(name, COMMITTED)),
      })),
    );
  },
};
