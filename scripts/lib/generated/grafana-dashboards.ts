// grafana/dashboards/<uid>.json from scripts/lib/monitoring/dashboards.ts.
import { DASHBOARDS, dashboardPath, renderDashboard } from '../monitoring/dashboards.js';
import type { Generator } from './index.js';

export const grafanaDashboardsGenerator: Generator = {
  name: 'grafana-dashboards',
  source: 'scripts/lib/monitoring/dashboards.ts',
  render() {
    return Promise.resolve(
      DASHBOARDS.map((d) => ({
        path: dashboardPath(d.uid),
        content: JSON.stringify(renderDashboard(d), null, 2) + '\n',
      })),
    );
  },
};
