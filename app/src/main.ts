import { createApp } from './bootstrap.js';
import { formatConfigProblems, validateConfig } from './config/config.js';

/** Entry point: `node dist/main.js`. Exit codes: 0 clean shutdown, 1 crash, 78 bad configuration. */
async function main(): Promise<void> {
  const result = validateConfig(process.env);
  if (!result.ok) {
    process.stderr.write(formatConfigProblems(result.problems));
    process.exitCode = 78; // EX_CONFIG
    return;
  }
  const running = await createApp(result.config);
  running.logger.info('listening', {
    log_type: 'app',
    port: running.port,
    metrics_port: running.metricsPort,
    version: result.config.app.version,
    commit: result.config.app.commit,
  });

  const onSignal = (signal: NodeJS.Signals) => {
    running
      .shutdown(signal)
      .then(() => {
        // Let stdout drain before exiting.
        process.stdout.write('', () => process.exit(0));
      })
      .catch((err: unknown) => {
        running.logger.error('shutdown failed', { log_type: 'app', error: (err as Error).message });
        process.exit(1);
      });
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', message: 'startup failed', error: String((err as Error)?.message ?? err), timestamp: new Date().toISOString() })}\n`,
  );
  process.exit(1);
});
