// Entry point of `npm start`: read the configuration, start the service, stop cleanly on SIGTERM.
import { writeSync } from 'node:fs';
import { startApp } from './app';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './log';
import { MissingProgramsError, requireRuntimePrograms } from './startup/runtimePrograms';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    // An API-only replica runs no playbook and no job, so it needs none of their programs.
    if (config.backgroundWorkers) requireRuntimePrograms();
  } catch (error) {
    if (error instanceof ConfigError || error instanceof MissingProgramsError) {
      // Synchronous: process.exit would drop an asynchronous write to a pipe.
      writeSync(2, `airavata-metascheduler: refusing to start: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  // The handlers go in before the start: a SIGTERM that arrives as soon as "listening" is out (a
  // supervisor, a test) must stop the service cleanly, not kill it mid-way.
  let app: Awaited<ReturnType<typeof startApp>> | undefined;
  let requested: string | undefined;
  let stopping = false;
  const stop = (signal: string): void => {
    if (!app) {
      // Acted on once the start has finished; a second signal quits at once (a start that hangs).
      if (requested) process.exit(1);
      requested = signal;
      log.info({ signal }, 'stopping once the start has finished (send it again to quit now)');
      return;
    }
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: draining calls in flight');
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    app = await startApp(config, log);
  } catch (error) {
    log.fatal({ err: error }, 'start failed');
    writeSync(2, `airavata-metascheduler: start failed: ${(error as Error).message}\n`);
    process.exit(1);
  }
  if (requested) stop(requested);
}

void main();
