// terraform/env/<env>.tfvars and <env>.s3.tfbackend for every environment with a cloudflare block,
// from environments/<env>.yaml and the Nginx config rendered for it (scripts/lib/infra/vars.ts).
import {
  allTfVars,
  backendConfigPath,
  committedEnvironment,
  renderBackendConfig,
  renderTfvars,
  tfvarsPath,
} from '../infra/vars.js';
import type { GeneratedFile, Generator } from './common.js';

export const terraformTfvars: Generator = {
  name: 'terraform-tfvars',
  source: 'environments/*.yaml cloudflare + nginx/ rate limits',
  render(): Promise<GeneratedFile[]> {
    const files: GeneratedFile[] = [];
    for (const [env, vars] of allTfVars()) {
      files.push({ path: tfvarsPath(env), content: renderTfvars(vars) });
      const stateBucket = committedEnvironment(env).cloudflare!.stateBucket;
      files.push({ path: backendConfigPath(env), content: renderBackendConfig(env, stateBucket) });
    }
    return Promise.resolve(files);
  },
};
