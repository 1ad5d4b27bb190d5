// make secrets-check ENV=…: (1) every secret the inventory requires for ENV is present (names and
// where each was found, never a value); (2) no secret in the working tree nor in any commit of the
// git history (secretlint + recommended preset, placeholders allowed by .secretlintrc.json).
import { UsageError, UserError } from './lib/errors.js';
import { listEnvironments } from './lib/environments.js';
import { runScript } from './lib/main.js';
import { loadInventory, secretPresence } from './lib/secret-inventory.js';
import { scanHistory, scanWorkingTree, type SecretFinding } from './lib/secret-scan.js';

await runScript(
  {
    summary:
      'Check that ENV has its required secrets (names only) and that no secret is in the tree or the git history.',
    usage: 'make secrets-check ENV=staging [ARGS="--scan-only | --presence-only | --no-history"] [JSON=1]',
    options: {
      'scan-only': { type: 'boolean' },
      'presence-only': { type: 'boolean' },
      'no-history': { type: 'boolean' },
    },
    optionsHelp:
      '      --scan-only      only the secret scan (CI: no environment secrets there)\n' +
      '      --presence-only  only the presence check (deploy jobs)\n' +
      '      --no-history     scan the working tree, not every commit',
  },
  async ({ flags, values, out, exec }) => {
    if (values['scan-only'] && values['presence-only']) {
      throw new UsageError(
        '--scan-only and --presence-only exclude each other',
        'pass one of them, or neither for both checks',
      );
    }
    const inventory = loadInventory();
    const report: {
      presence?: ReturnType<typeof secretPresence>;
      findings?: SecretFinding[];
      scanned?: Record<string, number>;
    } = {};
    const failures: string[] = [];

    if (!values['scan-only']) {
      if (!listEnvironments().includes(flags.env)) {
        throw new UsageError(`unknown environment '${flags.env}'`, `pass ENV=${listEnvironments().join('|')}`);
      }
      const rows = secretPresence(flags.env, inventory);
      report.presence = rows;
      if (!flags.json) {
        out.heading(`Secrets of ${flags.env} (names only)`);
        out.table(
          rows.map((r) => ({
            secret: r.name,
            required: r.required ? 'yes' : 'no',
            present: r.present ? 'yes' : 'no',
            from: r.source,
          })),
        );
      }
      const missing = rows.filter((r) => r.required && !r.present).map((r) => r.name);
      if (missing.length)
        failures.push(`${flags.env} is missing required secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
    }

    if (!values['presence-only']) {
      const tree = await out.task('secret scan of the working tree', async () => scanWorkingTree(exec));
      const findings = [...tree.findings];
      report.scanned = { files: tree.files };
      if (!values['no-history']) {
        const history = await out.task('secret scan of the git history (every blob of every ref)', async () =>
          scanHistory(exec),
        );
        report.scanned.historyBlobs = history.blobs;
        findings.push(...history.findings);
      }
      report.findings = findings;
      if (!flags.json && findings.length) {
        out.table(
          findings.map((f) => ({
            where: `${f.file}:${f.line}`,
            commit: f.commit ?? '(working tree)',
            rule: f.rule,
            finding: f.message,
          })),
        );
      }
      if (findings.length)
        failures.push(`${findings.length} secret${findings.length > 1 ? 's' : ''} found in the repository`);
      else if (!flags.json)
        out.ok(
          `no secret in ${tree.files} files${report.scanned.historyBlobs !== undefined ? ` nor in ${report.scanned.historyBlobs} historical blobs` : ''}`,
        );
    }

    if (flags.json) out.data(report);
    if (failures.length) {
      throw new UserError(failures.join('; '), {
        hint: report.findings?.length
          ? 'remove the value, rotate it (make rotate-secret NAME=… ENV=…) and, if it was committed, rewrite history; placeholders belong in .secretlintrc.json allows'
          : `set the missing names in .env.${flags.env} or the environment (see secrets/inventory.yaml)`,
      });
    }
  },
);
