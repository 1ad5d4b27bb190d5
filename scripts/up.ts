// make up: the whole stack locally — Docker compose (compose/compose.yaml, one profile) when a
// Docker engine answers, else native processes from the Debian packages on loopback (the same
// configs, only ports and paths substituted), tracked in the run directory (.run/). The two modes
// are scripts/lib/local-stack/compose-mode.ts and native-mode.ts; this file is the runbook.
//   preflight: profile, mode, environment, tools, ports, built app
//   plan:      printed; --dry-run stops here
//   act:       start in dependency order with progress; migrate and seed the database
//   verify:    every health check; a table of URLs
//   roll back: a failed health check is reported (native: with the service's last log lines),
//              and what this run started is stopped again; data is kept
import { engineStatus, type EngineStatus } from './lib/docker.js';
import { loadEnvironment } from './lib/environments.js';
import { UserError } from './lib/errors.js';
import { ComposeMode } from './lib/local-stack/compose-mode.js';
import type { LocalStackMode } from './lib/local-stack/mode.js';
import { NativeMode } from './lib/local-stack/native-mode.js';
import { localPorts, parseMode, parseProfile, type Mode } from './lib/local-stack/plan.js';
import { runDirFrom } from './lib/local-stack/state.js';
import { runScript } from './lib/main.js';

await runScript(
  {
    summary: 'Start the whole stack locally: Docker compose, or native processes where no Docker engine answers.',
    usage: 'make up [PROFILE=dev|staging|prod] [MODE=docker|native] [DRY_RUN=1]',
    options: {
      profile: { type: 'string' },
      mode: { type: 'string' },
      'run-dir': { type: 'string' },
    },
    optionsHelp: [
      '      --profile P    dev (default), staging or prod (PROFILE=…)',
      '      --mode M       docker or native; default: docker when an engine answers, else native (MODE=…)',
      '      --run-dir DIR  state and logs of the native stack (default .run/, or MYTV_RUN_DIR)',
    ].join('\n'),
  },
  async (ctx) => {
    const { values, flags, out } = ctx;
    // --- preflight: everything that can be checked before a change
    const profile = parseProfile(values.profile as string | undefined);
    const wanted = parseMode(values.mode as string | undefined);
    const env = loadEnvironment(flags.env);
    localPorts(env);
    const runDir = runDirFrom(values);
    const engine: EngineStatus =
      wanted === 'native' ? { available: false, detail: 'MODE=native' } : await engineStatus();
    if (wanted === 'docker' && !engine.available) {
      throw new UserError(`MODE=docker, but no Docker engine answers (${engine.detail})`, {
        hint: 'start the Docker engine, or run the stack as native processes: make up MODE=native',
      });
    }
    const mode: Mode = wanted ?? (engine.available ? 'docker' : 'native');
    out.step(
      `local stack: profile ${profile}, ${mode} mode` +
        (mode === 'native' && !wanted ? ` (no Docker engine answers: ${engine.detail})` : '') +
        `, environment ${env.name}`,
    );
    const stack: LocalStackMode =
      mode === 'docker' ? new ComposeMode(ctx, env, profile, runDir) : new NativeMode(ctx, env, profile, runDir);
    const alreadyUp = await stack.preflight();
    if (alreadyUp) {
      out.ok(alreadyUp);
      stack.report();
      return;
    }

    // --- plan
    stack.printPlan();
    if (flags.dryRun) {
      out.line(await stack.dryRun());
      return;
    }

    // --- act, verify; roll back on failure
    try {
      await stack.act();
      await stack.verify();
    } catch (err) {
      await stack.rollBack();
      throw err;
    }
    out.ok(`the local stack is up (${stack.summary()})`);
    stack.report();
  },
);
