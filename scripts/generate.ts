// make generate: rewrite every committed derived file from its source (scripts/lib/generated/).
// `--check` writes nothing and exits 1 naming each file that differs — what CI runs.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { generators } from './lib/generated/index.js';
import { UserError } from './lib/errors.js';
import { runScript } from './lib/main.js';
import { fromRoot } from './lib/paths.js';

function current(file: string): string | undefined {
  try {
    return readFileSync(fromRoot(file), 'utf8');
  } catch {
    return undefined;
  }
}

await runScript(
  {
    summary: 'Regenerate the committed files derived from other sources (rules, chart copies, tfvars).',
    usage: 'make generate [ARGS=--check]',
    options: { check: { type: 'boolean' } },
    optionsHelp: '      --check      write nothing; exit 1 when a committed file differs from its source',
  },
  async ({ values, flags, out, exec }) => {
    const rows: { generator: string; file: string; state: string }[] = [];
    for (const g of generators) {
      for (const f of await g.render()) {
        const before = current(f.path);
        const state = before === undefined ? 'missing' : before === f.content ? 'up to date' : 'differs';
        rows.push({ generator: g.name, file: f.path, state });
        if (state !== 'up to date' && !values.check) {
          await exec.change(`write ${f.path} (from ${g.source})`, () => {
            mkdirSync(path.dirname(fromRoot(f.path)), { recursive: true });
            writeFileSync(fromRoot(f.path), f.content);
          });
        }
      }
    }
    if (flags.json) out.data(rows);
    else if (rows.length) out.table(rows);
    const stale = rows.filter((r) => r.state !== 'up to date');
    if (values.check && stale.length) {
      throw new UserError(
        `${stale.length} generated file(s) differ from their source: ${stale.map((r) => r.file).join(', ')}`,
        { hint: 'run `make generate` and commit the result' },
      );
    }
    if (!flags.json)
      out.ok(values.check ? 'every generated file is up to date' : `${rows.length} generated file(s) checked`);
  },
);
