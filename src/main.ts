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
  let app;
  try {
    app = await startApp(config, log);
  } catch (error) {
    log.fatal({ err: error }, 'start failed');
    writeSync(2, `airavata-metascheduler: start failed: ${(error as Error).message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string): void => {
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
}

void main();
