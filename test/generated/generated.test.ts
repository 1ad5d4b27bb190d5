import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { generators } from '../../scripts/lib/generated/index.js';
import { fromRoot } from '../../scripts/lib/paths.js';
import { runEntryScript } from '../support/run-script.js';

describe('generated files stay equal to their sources (make generate)', () => {
  it('every registered generator renders deterministically and its committed files match', async () => {
    expect(generators, 'no generator registered').to.not.be.empty;
    for (const g of generators) {
      const first = await g.render();
      const second = await g.render();
      expect(second, `${g.name} renders differently twice`).to.deep.equal(first);
      expect(first, `${g.name} renders no file`).to.not.be.empty;
      for (const f of first) {
        expect(readFileSync(fromRoot(f.path), 'utf8'), `${f.path} is stale: run make generate`).to.equal(f.content);
      }
    }
  });

  it('make generate --check exits 0 when everything is up to date', async () => {
    const r = await runEntryScript('scripts/generate.ts', ['--check']);
    expect(r.code, r.stderr).to.equal(0);
  });
});
