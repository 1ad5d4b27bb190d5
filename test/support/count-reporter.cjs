// mocha's spec output, then one line per failed test ("FAILED: <full title> — <first line of the
// error>") and the plain line the CI harness reads: "N passed, N failed". .ci/run repeats the
// FAILED lines next to its own last line, so a truncated CI log still names what failed.
'use strict';
const { reporters, Runner } = require('mocha');

class CountReporter extends reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const failed = [];
    runner.on(Runner.constants.EVENT_TEST_FAIL, (test, err) => {
      const first = String((err && err.message) || err || '')
        .split('\n')
        .find((l) => l.trim() !== '');
      failed.push(`FAILED: ${test.fullTitle()} — ${(first || '').trim().slice(0, 300)}`);
    });
    runner.once(Runner.constants.EVENT_RUN_END, () => {
      const s = runner.stats || { passes: 0, failures: 0, pending: 0 };
      const skipped = s.pending ? `, ${s.pending} skipped` : '';
      const list = failed.length ? `\n${failed.join('\n')}` : '';
      process.stdout.write(`${list}\n${s.passes} passed, ${s.failures} failed${skipped}\n`);
    });
  }
}

module.exports = CountReporter;
