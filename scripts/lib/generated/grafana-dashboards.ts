// grafana/dashboards/<uid>.json from scripts/lib/monitoring/dashboards.ts.
import { DASHBOARDS, dashboardPath, renderDashboard } from '../monitoring/dashboards.js';
import { formatLikeRepo, type Generator } from './common.js';

export const grafanaDashboardsGenerator: Generator = {
  name: 'grafana-dashboards',
  source: 'scripts/lib/monitoring/dashboards.ts',
  // Formatted as the repository's Prettier config would, so `make lint` and the generator agree.
  async render() {
    return Promise.all(
      DASHBOARDS.map(async (d) => ({
        path: dashboardPath(d.uid),
        content: await formatLikeRepo(dashboardPath(d.uid), JSON.stringify(renderDashboard(d), null, 2)),
      })),
    );
  },
};
