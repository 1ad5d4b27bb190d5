// A stand-in for the terraform CLI, following its documented contract closely enough for the
// orchestration in scripts/lib/infra/terraform-cli.ts to run every path:
//   terraform version -json            → {"terraform_version": …}
//   terraform -chdir=DIR init … -backend-config=FILE   (FILE relative to DIR must exist)
//   terraform -chdir=DIR plan -detailed-exitcode -var-file=FILE -out=PLAN
//                                      → exit 0 no changes, 2 changes (PLAN written), 1 error
//   terraform -chdir=DIR show -json PLAN → the plan's JSON representation
//   terraform -chdir=DIR apply PLAN    → applies exactly that saved plan
// Driven by the JSON scenario file in FAKE_TERRAFORM_SCENARIO:
//   { version, plans: [{ exit, plan? , stderr? }…] (one per plan call, last one repeats),
//     apply: { exit, stderr? }, init: { exit } }
// Every call is appended to <scenario dir>/calls.jsonl: argv and the NAMES of the credential
// variables it saw (never their values).
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const scenarioFile = process.env.FAKE_TERRAFORM_SCENARIO;
if (!scenarioFile) {
  process.stderr.write('fake terraform: FAKE_TERRAFORM_SCENARIO is not set\n');
  process.exit(1);
}
const scenario = JSON.parse(readFileSync(scenarioFile, 'utf8'));
const dir = path.dirname(scenarioFile);
let argv = process.argv.slice(2);
const CREDENTIALS = [
  'CLOUDFLARE_API_TOKEN',
  'TF_VAR_account_id',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_ENDPOINT_URL_S3',
  'TF_DATA_DIR',
];
appendFileSync(
  path.join(dir, 'calls.jsonl'),
  JSON.stringify({ argv, env: CREDENTIALS.filter((n) => process.env[n]) }) + '\n',
);

const fail = (message, code = 1) => {
  process.stderr.write(`\nError: ${message}\n\n`);
  process.exit(code);
};
let chdir = process.cwd();
if (argv[0]?.startsWith('-chdir=')) {
  chdir = argv[0].slice('-chdir='.length);
  argv = argv.slice(1);
}
const [command, ...rest] = argv;
const option = (name) => rest.find((a) => a.startsWith(`-${name}=`))?.slice(name.length + 2);
const positional = rest.filter((a) => !a.startsWith('-'));

switch (command) {
  case 'version':
    if (rest.includes('-json'))
      process.stdout.write(
        JSON.stringify({ terraform_version: scenario.version, platform: 'linux_amd64', provider_selections: {} }) +
          '\n',
      );
    else process.stdout.write(`Terraform v${scenario.version}\non linux_amd64\n`);
    break;
  case 'init': {
    if (!existsSync(path.join(chdir, 'versions.tf'))) fail(`no configuration in ${chdir}`);
    const backend = option('backend-config');
    if (!backend || !existsSync(path.join(chdir, backend))) fail(`backend config file ${backend} not found`);
    if (!process.env.AWS_ACCESS_KEY_ID || !process.env.AWS_SECRET_ACCESS_KEY) fail('No valid credential sources found');
    if (scenario.init?.exit) fail(scenario.init.stderr ?? 'init failed', scenario.init.exit);
    process.stdout.write('Terraform has been successfully initialized!\n');
    break;
  }
  case 'plan': {
    if (!rest.includes('-detailed-exitcode')) fail('fake terraform: the orchestration must use -detailed-exitcode');
    const varFile = option('var-file');
    if (!varFile || !existsSync(path.join(chdir, varFile))) fail(`Given variables file ${varFile} does not exist.`);
    if (!process.env.CLOUDFLARE_API_TOKEN) fail('Missing X-Auth-Key, X-Auth-Email or Authorization headers');
    const counterFile = path.join(dir, 'plan-count');
    const n = existsSync(counterFile) ? Number(readFileSync(counterFile, 'utf8')) : 0;
    writeFileSync(counterFile, String(n + 1));
    const step = scenario.plans[Math.min(n, scenario.plans.length - 1)];
    if (step.exit !== 0 && step.exit !== 2) fail(step.stderr ?? 'plan failed', step.exit);
    const out = option('out');
    if (out)
      writeFileSync(
        out,
        JSON.stringify({ fakePlan: n + 1, plan: step.plan ?? { format_version: '1.2', resource_changes: [] } }),
      );
    process.stdout.write(
      step.exit === 2 ? 'Plan: changes.\n' : 'No changes. Your infrastructure matches the configuration.\n',
    );
    process.exit(step.exit);
    break;
  }
  case 'show': {
    if (!rest.includes('-json')) fail('fake terraform: only show -json is supported');
    const file = positional[0];
    if (!file || !existsSync(file)) fail(`Failed to read the given file as a state or plan file: ${file}`);
    process.stdout.write(JSON.stringify(JSON.parse(readFileSync(file, 'utf8')).plan) + '\n');
    break;
  }
  case 'apply': {
    const file = positional[0];
    if (!file || !existsSync(file)) fail('apply without a saved plan file is not what the orchestration may do');
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    appendFileSync(path.join(dir, 'applied.jsonl'), JSON.stringify({ file, fakePlan: saved.fakePlan }) + '\n');
    if (scenario.apply?.exit) fail(scenario.apply.stderr ?? 'apply failed', scenario.apply.exit);
    process.stdout.write('Apply complete!\n');
    break;
  }
  default:
    fail(`fake terraform: unsupported command ${command}`);
}
